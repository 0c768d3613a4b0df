//! `weir bench produce|consume`: the client's throughput (and, producing, its latency)
//! against a running cluster, printed as one line. The workloads live in
//! `weir_client::bench`, where the client bench (`benches/client.rs`) runs them back to
//! back with librdkafka on the same broker.

use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use weir_client::bench::{self, ConsumeWorkload, ProduceWorkload};
use weir_client::{Acks, ConsumerConfig, NewTopic, ProducerConfig, TopicError, TopicPartition};

use crate::cluster_args::ClusterArgs;
use crate::produce::parse_acks;

/// `weir bench`.
#[derive(Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    action: BenchAction,
    #[command(flatten)]
    cluster: ClusterArgs,
}

#[derive(Args, Clone)]
struct Workload {
    /// The topic (created with --partitions if it does not exist).
    #[arg(long, default_value = "weir-bench", global = true)]
    topic: String,
    /// How many records.
    #[arg(long, default_value_t = 1_000_000, global = true)]
    records: u64,
    /// Each record's value size in bytes.
    #[arg(long, default_value_t = 100, global = true)]
    record_size: usize,
    /// Partitions of the topic, when it is created.
    #[arg(long, default_value_t = 8, global = true)]
    partitions: i32,
}

#[derive(Subcommand)]
enum BenchAction {
    /// Sends records as fast as the cluster takes them: msg/s, MB/s and send-to-ack latency.
    Produce {
        #[command(flatten)]
        workload: Workload,
        /// 0, 1 or all.
        #[arg(long, default_value = "1")]
        acks: String,
        /// How long a batch waits for more records, in milliseconds.
        #[arg(long, default_value_t = 5)]
        linger_ms: u64,
        /// The largest batch per partition, in bytes.
        #[arg(long, default_value_t = 256 * 1024)]
        batch_size: usize,
        /// none, gzip, snappy, lz4 or zstd.
        #[arg(long, default_value = "none")]
        compression: String,
        /// Produce requests in flight per broker connection.
        #[arg(long, default_value_t = 5)]
        max_in_flight: usize,
    },
    /// Reads records from the start of the topic (producing them first if it has fewer):
    /// msg/s and MB/s.
    Consume {
        #[command(flatten)]
        workload: Workload,
    },
}

pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<()> {
    args.cluster.check_reachable().await?;
    match args.action {
        BenchAction::Produce {
            workload,
            acks,
            linger_ms,
            batch_size,
            compression,
            max_in_flight,
        } => {
            let mut config = ProducerConfig::new([args.cluster.bootstrap.clone()]);
            config.acks = parse_acks(&acks)?;
            config.enable_idempotence = config.acks == Acks::All;
            config.linger = Duration::from_millis(linger_ms);
            config.batch_size = batch_size;
            config.compression = weir_client::Compression::parse(&compression)
                .with_context(|| format!("--compression: unknown codec {compression:?}"))?;
            config.request_timeout = args.cluster.timeout;
            config.max_in_flight_requests_per_connection = max_in_flight;
            let partitions = ensure_topic(&args.cluster, &workload).await?;
            let result = bench::produce(config, &produce_workload(&workload)).await?;
            println!(
                "produce {} B x {} to {} ({partitions} partitions), acks={acks}, linger {linger_ms} ms, batch {batch_size} B, {max_in_flight} in flight: {result}",
                workload.record_size, workload.records, workload.topic
            );
        }
        BenchAction::Consume { workload } => {
            let partitions = ensure_topic(&args.cluster, &workload).await?;
            let backlog = backlog(&args.cluster, &workload.topic, partitions).await?;
            if backlog < workload.records {
                let mut config = ProducerConfig::new([args.cluster.bootstrap.clone()]);
                config.acks = Acks::Leader;
                config.enable_idempotence = false;
                config.batch_size = 256 * 1024;
                let fill = ProduceWorkload {
                    records: workload.records - backlog,
                    ..produce_workload(&workload)
                };
                bench::produce(config, &fill)
                    .await
                    .context("producing the backlog to read")?;
            }
            let mut config = ConsumerConfig::new([args.cluster.bootstrap.clone()]);
            config.request_timeout = args.cluster.timeout;
            let result = bench::consume(
                config,
                &ConsumeWorkload {
                    topic: workload.topic.clone(),
                    partitions,
                    records: workload.records,
                },
            )
            .await?;
            println!(
                "consume {} from {} ({partitions} partitions): {result}",
                workload.records, workload.topic
            );
        }
    }
    Ok(())
}

fn produce_workload(workload: &Workload) -> ProduceWorkload {
    ProduceWorkload {
        topic: workload.topic.clone(),
        records: workload.records,
        record_size: workload.record_size,
    }
}

/// Creates the topic if needed; its partition count.
async fn ensure_topic(cluster: &ClusterArgs, workload: &Workload) -> anyhow::Result<i32> {
    let admin = cluster.admin()?;
    let topic = NewTopic::new(workload.topic.clone(), workload.partitions, -1);
    for (_, outcome) in admin.create_topics(vec![topic]).await? {
        match outcome {
            Ok(()) | Err(TopicError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let described = admin
        .describe_topics(std::slice::from_ref(&workload.topic))
        .await?;
    Ok(described.first().map_or(0, |t| t.partitions.len() as i32))
}

/// How many records the topic holds (assuming its log starts at 0).
async fn backlog(cluster: &ClusterArgs, topic: &str, partitions: i32) -> anyhow::Result<u64> {
    let tps: Vec<TopicPartition> = (0..partitions)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    let ends = cluster.admin()?.end_offsets(&tps).await?;
    Ok(ends.values().map(|&e| e.max(0) as u64).sum())
}
