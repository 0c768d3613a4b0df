//! `weir group list|describe`: consumer groups through the admin client; `describe` shows
//! each partition's owner, committed offset, log end and lag.

use clap::{Args, Subcommand};

use crate::cluster_args::ClusterArgs;
use crate::table::Table;

/// `weir group`.
#[derive(Args)]
pub(crate) struct GroupArgs {
    #[command(subcommand)]
    action: GroupAction,
    #[command(flatten)]
    cluster: ClusterArgs,
}

#[derive(Subcommand)]
enum GroupAction {
    /// Lists groups: id, state and protocol type.
    List,
    /// Shows a group's state and members, and per partition the committed offset, the log
    /// end and the lag.
    Describe {
        /// The group id.
        group: String,
    },
}

pub(crate) async fn run(args: GroupArgs) -> anyhow::Result<()> {
    let admin = args.cluster.admin()?;
    match args.action {
        GroupAction::List => {
            let mut table = Table::new(vec!["GROUP", "STATE", "TYPE"]);
            for g in admin.list_groups().await? {
                table.row(vec![g.group_id, g.state, g.protocol_type]);
            }
            table.print()?;
        }
        GroupAction::Describe { group } => {
            let description = admin
                .describe_groups(std::slice::from_ref(&group))
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| anyhow::anyhow!("the broker did not describe group {group:?}"))?;
            let lag = admin.group_lag(&group).await?;
            if description.state == "Dead" && lag.is_empty() {
                anyhow::bail!("group {group:?} does not exist");
            }
            println!(
                "group {}  state {}  protocol {}  members {}",
                description.group_id,
                description.state,
                if description.protocol.is_empty() {
                    "-"
                } else {
                    &description.protocol
                },
                description.members.len()
            );
            let member = |id: &Option<String>| {
                description
                    .members
                    .iter()
                    .find(|m| Some(&m.member_id) == id.as_ref())
            };
            let mut table = Table::new(vec![
                "TOPIC",
                "PARTITION",
                "COMMITTED",
                "LOG-END",
                "LAG",
                "CLIENT-ID",
                "HOST",
                "MEMBER",
            ]);
            let dash = || "-".to_string();
            for l in &lag {
                let owner = member(&l.member);
                table.row(vec![
                    l.partition.topic.clone(),
                    l.partition.partition.to_string(),
                    l.committed.map_or_else(dash, |c| c.to_string()),
                    l.log_end.to_string(),
                    l.lag.map_or_else(dash, |c| c.to_string()),
                    owner.map_or_else(dash, |m| m.client_id.clone()),
                    owner.map_or_else(dash, |m| m.client_host.clone()),
                    owner.map_or_else(dash, |m| m.member_id.clone()),
                ]);
            }
            table.print()?;
            let idle: Vec<_> = description
                .members
                .iter()
                .filter(|m| m.assignment.is_empty())
                .collect();
            if !idle.is_empty() {
                println!();
                let mut members = Table::new(vec!["MEMBER (no partitions)", "CLIENT-ID", "HOST"]);
                for m in idle {
                    members.row(vec![
                        m.member_id.clone(),
                        m.client_id.clone(),
                        m.client_host.clone(),
                    ]);
                }
                members.print()?;
            }
        }
    }
    Ok(())
}
