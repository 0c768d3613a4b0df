//! `weir cluster status`: the cluster at a glance — its brokers, the active controller, and
//! the partitions that are under-replicated (fewer in-sync replicas than replicas) or
//! offline (no leader), the ones an operator must look at after a broker failed.
//! `weir cluster rebalance`: spreads replicas and leaders evenly over the live brokers (a
//! broker just added gets its share) with the fewest moves; prints the plan, then applies it.

use std::time::Duration;

use clap::{Args, Subcommand};
use weir_client::{Reassignment, TopicDescription};

use crate::cluster_args::ClusterArgs;
use crate::partition::{ids, submit, wait_until_done};
use crate::rebalance_plan::{self, Placement};
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
    /// Spreads replicas and leaders evenly over the live brokers with the fewest moves.
    Rebalance {
        /// Prints the plan without applying it.
        #[arg(long)]
        dry_run: bool,
        /// Waits until every move is done.
        #[arg(long)]
        wait: bool,
    },
}

pub(crate) async fn run(args: ClusterCommand) -> anyhow::Result<()> {
    match args.action {
        ClusterAction::Status => status(&args.cluster).await,
        ClusterAction::Rebalance { dry_run, wait } => rebalance(&args.cluster, dry_run, wait).await,
    }
}

async fn rebalance(cluster: &ClusterArgs, dry_run: bool, wait: bool) -> anyhow::Result<()> {
    let admin = cluster.admin()?;
    let brokers: Vec<i32> = admin.brokers().await?.iter().map(|b| b.id).collect();
    if !admin.list_partition_reassignments().await?.is_empty() {
        anyhow::bail!(
            "reassignments are in progress (weir partition reassignments); rebalance once they are done"
        );
    }
    let topics = admin.list_topics().await?;
    let topics = admin.describe_topics(&topics).await?;
    let placements: Vec<Placement> = topics
        .iter()
        .filter(|t| !t.internal)
        .flat_map(|t| {
            t.partitions.iter().map(|p| Placement {
                topic: t.name.clone(),
                partition: p.partition,
                replicas: p.replicas.clone(),
                leader: p.leader,
            })
        })
        .collect();
    let moves = rebalance_plan::plan(&placements, &brokers);
    println!(
        "brokers {}  partitions {}  moves {}",
        ids(&brokers),
        placements.len(),
        moves.len()
    );
    if moves.is_empty() {
        println!("already balanced");
        return Ok(());
    }
    let mut table = Table::new(vec!["TOPIC", "PARTITION", "REPLICAS", "TARGET", "LEADER"]);
    for m in &moves {
        table.row(vec![
            m.topic.clone(),
            m.partition.to_string(),
            ids(&m.from),
            ids(&m.to),
            format!(
                "{} -> {}",
                m.leader
                    .map_or_else(|| "none".to_string(), |l| l.to_string()),
                m.to.first()
                    .map_or_else(|| "none".to_string(), |l| l.to_string())
            ),
        ]);
    }
    table.print()?;
    if dry_run {
        return Ok(());
    }
    let reassignments: Vec<Reassignment> = moves
        .into_iter()
        .map(|m| Reassignment::to(m.topic, m.partition, m.to))
        .collect();
    submit(&admin, &reassignments).await?;
    if wait {
        wait_until_done(&admin, cluster.timeout.max(Duration::from_secs(300))).await?;
    }
    Ok(())
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
