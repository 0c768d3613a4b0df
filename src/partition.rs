//! `weir partition reassign|reassignments`: move partitions to other brokers and watch the
//! moves in progress. A move names one partition on the command line, or many in a plan
//! file in the JSON format of Kafka's `kafka-reassign-partitions.sh`
//! (`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2,4]}]}`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde::Deserialize;
use weir_client::{Admin, Reassignment};

use crate::cluster_args::ClusterArgs;
use crate::table::Table;

/// `weir partition`.
#[derive(Args)]
pub(crate) struct PartitionArgs {
    #[command(subcommand)]
    action: PartitionAction,
    #[command(flatten)]
    cluster: ClusterArgs,
}

#[derive(Subcommand)]
enum PartitionAction {
    /// Moves a partition's replicas (the new ones catch up before the old ones leave).
    Reassign {
        /// The topic.
        #[arg(long, required_unless_present = "plan", conflicts_with = "plan")]
        topic: Option<String>,
        /// The partition.
        #[arg(long, required_unless_present = "plan", conflicts_with = "plan")]
        partition: Option<i32>,
        /// The target broker ids, comma separated; the first becomes the leader.
        #[arg(long, value_delimiter = ',', required_unless_present_any = ["plan", "cancel"])]
        replicas: Vec<i32>,
        /// Cancels the partition's move in progress instead.
        #[arg(long, conflicts_with_all = ["replicas", "plan"])]
        cancel: bool,
        /// A plan file in Kafka's reassignment JSON format.
        #[arg(long)]
        plan: Option<PathBuf>,
        /// Waits until the moves are done.
        #[arg(long)]
        wait: bool,
    },
    /// Lists the reassignments in progress.
    Reassignments,
}

/// Kafka's reassignment plan file.
#[derive(Deserialize)]
struct PlanFile {
    partitions: Vec<PlannedPartition>,
}

#[derive(Deserialize)]
struct PlannedPartition {
    topic: String,
    partition: i32,
    replicas: Vec<i32>,
}

pub(crate) async fn run(args: PartitionArgs) -> anyhow::Result<()> {
    let admin = args.cluster.admin()?;
    match args.action {
        PartitionAction::Reassign {
            topic,
            partition,
            replicas,
            cancel,
            plan,
            wait,
        } => {
            let moves = match (plan, topic, partition) {
                (Some(file), _, _) => read_plan(&file)?,
                (None, Some(topic), Some(partition)) if cancel => {
                    vec![Reassignment::cancel(topic, partition)]
                }
                (None, Some(topic), Some(partition)) => {
                    vec![Reassignment::to(topic, partition, replicas)]
                }
                _ => anyhow::bail!("partition reassign needs --topic and --partition, or --plan"),
            };
            submit(&admin, &moves).await?;
            if wait {
                wait_until_done(&admin, args.cluster.timeout.max(Duration::from_secs(300))).await?;
            }
            Ok(())
        }
        PartitionAction::Reassignments => {
            let ongoing = admin.list_partition_reassignments().await?;
            let mut table =
                Table::new(vec!["TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING"]);
            for r in &ongoing {
                table.row(vec![
                    r.topic.clone(),
                    r.partition.to_string(),
                    ids(&r.replicas),
                    ids(&r.adding),
                    ids(&r.removing),
                ]);
            }
            table.print()?;
            Ok(())
        }
    }
}

/// Reads a plan file; a partition listed twice is refused (which target would win?).
fn read_plan(file: &Path) -> anyhow::Result<Vec<Reassignment>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading the plan {}", file.display()))?;
    let plan: PlanFile = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a reassignment plan ({{\"version\":1,\"partitions\":[{{\"topic\":…,\"partition\":…,\"replicas\":[…]}}]}})",
            file.display()
        )
    })?;
    let mut moves: Vec<Reassignment> = Vec::with_capacity(plan.partitions.len());
    for p in plan.partitions {
        if moves
            .iter()
            .any(|m| m.topic == p.topic && m.partition == p.partition)
        {
            anyhow::bail!(
                "{}: {}-{} is listed twice",
                file.display(),
                p.topic,
                p.partition
            );
        }
        moves.push(Reassignment::to(p.topic, p.partition, p.replicas));
    }
    Ok(moves)
}

/// Sends the moves; prints each accepted one and fails naming every refused one.
pub(crate) async fn submit(admin: &Admin, moves: &[Reassignment]) -> anyhow::Result<()> {
    if moves.is_empty() {
        return Ok(());
    }
    let outcomes = admin.alter_partition_reassignments(moves).await?;
    let mut refused = Vec::new();
    for (m, outcome) in outcomes {
        match outcome {
            Ok(()) => match &m.replicas {
                Some(replicas) => {
                    println!("{}-{}: moving to {}", m.topic, m.partition, ids(replicas))
                }
                None => println!("{}-{}: move cancelled", m.topic, m.partition),
            },
            Err(e) => refused.push(e.to_string()),
        }
    }
    if !refused.is_empty() {
        anyhow::bail!("refused: {}", refused.join("; "));
    }
    Ok(())
}

/// Waits until no reassignment is in progress, up to `patience`.
pub(crate) async fn wait_until_done(admin: &Admin, patience: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let ongoing = admin.list_partition_reassignments().await?;
        if ongoing.is_empty() {
            println!("every move done in {:.1}s", start.elapsed().as_secs_f64());
            return Ok(());
        }
        if start.elapsed() > patience {
            anyhow::bail!(
                "{} moves still in progress after {patience:?}",
                ongoing.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Broker ids as `1,2,4`.
pub(crate) fn ids(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}
