//! `weir cluster status`: the cluster at a glance — its brokers, the active controller, and
//! the partitions that are under-replicated (fewer in-sync replicas than replicas) or
//! offline (no leader), the ones an operator must look at after a broker failed.

use clap::{Args, Subcommand};
use weir_client::TopicDescription;

use crate::cluster_args::ClusterArgs;
use crate::table::Table;

/// `weir cluster`.
#[derive(Args)]
pub(crate) struct ClusterCommand {
    #[command(subcommand)]
    action: ClusterAction,
    #[command(flatten)]
    cluster: ClusterArgs,
}

#[derive(Subcommand)]
enum ClusterAction {
    /// Brokers, the controller, and every partition that is under-replicated or offline.
    Status,
}

pub(crate) async fn run(args: ClusterCommand) -> anyhow::Result<()> {
    match args.action {
        ClusterAction::Status => status(&args.cluster).await,
    }
}

async fn status(cluster: &ClusterArgs) -> anyhow::Result<()> {
    let admin = cluster.admin()?;
    let description = admin.describe_cluster().await?;
    let topics = admin.list_topics().await?;
    let topics = admin.describe_topics(&topics).await?;
    println!(
        "cluster {}  controller {}  brokers {}",
        description.cluster_id.as_deref().unwrap_or("-"),
        description
            .controller
            .map_or_else(|| "none".to_string(), |c| c.to_string()),
        description.brokers.len()
    );
    let mut brokers = Table::new(vec!["BROKER", "ADDRESS", "ROLE"]);
    for b in &description.brokers {
        let role = if Some(b.id) == description.controller {
            "controller"
        } else {
            "-"
        };
        brokers.row(vec![
            b.id.to_string(),
            format!("{}:{}", b.host, b.port),
            role.to_string(),
        ]);
    }
    brokers.print()?;
    let (total, troubled) = troubled_partitions(&topics);
    println!(
        "partitions {total}  under-replicated {}  offline {}",
        troubled
            .iter()
            .filter(|t| t.state == "under-replicated")
            .count(),
        troubled.iter().filter(|t| t.state == "offline").count(),
    );
    if !troubled.is_empty() {
        let mut table = Table::new(vec![
            "TOPIC",
            "PARTITION",
            "STATE",
            "LEADER",
            "REPLICAS",
            "ISR",
        ]);
        for t in troubled {
            table.row(vec![
                t.topic.to_string(),
                t.partition.to_string(),
                t.state.to_string(),
                t.leader
                    .map_or_else(|| "none".to_string(), |l| l.to_string()),
                ids(t.replicas),
                ids(t.isr),
            ]);
        }
        table.print()?;
    }
    Ok(())
}

/// A partition that needs attention.
struct Troubled<'a> {
    topic: &'a str,
    partition: i32,
    state: &'static str,
    leader: Option<i32>,
    replicas: &'a [i32],
    isr: &'a [i32],
}

/// How many partitions there are, and those without a leader or with a short ISR.
fn troubled_partitions(topics: &[TopicDescription]) -> (usize, Vec<Troubled<'_>>) {
    let mut total = 0;
    let mut out = Vec::new();
    for topic in topics {
        for p in &topic.partitions {
            total += 1;
            let state = if p.leader.is_none() {
                "offline"
            } else if p.isr.len() < p.replicas.len() {
                "under-replicated"
            } else {
                continue;
            };
            out.push(Troubled {
                topic: &topic.name,
                partition: p.partition,
                state,
                leader: p.leader,
                replicas: &p.replicas,
                isr: &p.isr,
            });
        }
    }
    (total, out)
}

fn ids(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}
