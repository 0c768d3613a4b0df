//! `weir consume TOPIC`: prints records as they arrive, from a group (`--group`) or directly
//! from every partition or one (`--partition`, from `--offset`); stops after
//! `--max-messages` or, with `--exit-when-idle-ms`, once nothing has arrived for that long.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use weir_client::{Consumer, ConsumerConfig, ConsumerRecord, OffsetReset, TopicPartition};

use crate::cluster_args::ClusterArgs;

/// `weir consume`.
#[derive(Args)]
pub(crate) struct ConsumeArgs {
    /// The topic.
    topic: String,
    /// Consume as a member of this group (committing offsets); otherwise read partitions
    /// directly.
    #[arg(long)]
    group: Option<String>,
    /// Start at the oldest record instead of only new ones.
    #[arg(long)]
    from_beginning: bool,
    /// Read only this partition (without a group).
    #[arg(long)]
    partition: Option<i32>,
    /// Where to start without a group: an offset, earliest or latest.
    #[arg(long, value_parser = parse_start)]
    offset: Option<Start>,
    /// Stop after this many records.
    #[arg(long)]
    max_messages: Option<u64>,
    /// Stop once nothing has arrived for this many milliseconds.
    #[arg(long = "exit-when-idle-ms", value_parser = parse_millis)]
    exit_when_idle: Option<Duration>,
    /// value, key=value or json (with topic, partition, offset and timestamp).
    #[arg(long, default_value = "value")]
    format: String,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// Where a consumer without a group starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Earliest,
    Latest,
    At(i64),
}

fn parse_start(text: &str) -> Result<Start, String> {
    match text {
        "earliest" | "beginning" => Ok(Start::Earliest),
        "latest" | "end" => Ok(Start::Latest),
        n => match n.parse::<i64>() {
            Ok(n) if n >= 0 => Ok(Start::At(n)),
            _ => Err(format!("{n:?} is not an offset, earliest or latest")),
        },
    }
}

fn parse_millis(text: &str) -> Result<Duration, String> {
    text.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| format!("{text:?} is not a number of milliseconds"))
}

pub(crate) async fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    if !matches!(args.format.as_str(), "value" | "key=value" | "json") {
        anyhow::bail!(
            "--format takes value, key=value or json, not {:?}",
            args.format
        );
    }
    if args.group.is_some() && (args.partition.is_some() || args.offset.is_some()) {
        anyhow::bail!("--partition and --offset read without a group: drop --group");
    }
    args.cluster.check_reachable().await?;
    let mut config = ConsumerConfig::new([args.cluster.bootstrap.clone()]);
    config.request_timeout = args.cluster.timeout;
    config.group_id = args.group.clone();
    config.auto_offset_reset = if args.from_beginning {
        OffsetReset::Earliest
    } else {
        OffsetReset::Latest
    };
    let mut consumer = Consumer::new(config).context("starting the consumer")?;
    if args.group.is_some() {
        consumer.subscribe([args.topic.clone()])?;
    } else {
        let mut partitions = consumer
            .partitions_for(&args.topic)
            .await
            .context("looking up the topic")?;
        if let Some(partition) = args.partition {
            let count = partitions.len();
            anyhow::ensure!(
                partition >= 0 && (partition as usize) < count,
                "topic {} has {count} partitions: there is no partition {partition}",
                args.topic
            );
            partitions = vec![TopicPartition::new(args.topic.clone(), partition)];
        }
        consumer.assign(partitions.clone());
        let start = args.offset.unwrap_or(if args.from_beginning {
            Start::Earliest
        } else {
            Start::Latest
        });
        match start {
            Start::Earliest => consumer.seek_to_beginning(&partitions)?,
            Start::Latest => consumer.seek_to_end(&partitions)?,
            Start::At(offset) => {
                for tp in &partitions {
                    consumer.seek(tp, offset)?;
                }
            }
        }
    }
    let stdout = std::io::stdout();
    let mut seen = 0u64;
    let mut last_record = Instant::now();
    let mut assigned = false;
    loop {
        let records = consumer
            .poll(Duration::from_millis(500))
            .await
            .context("polling")?;
        let mut out = stdout.lock();
        for record in &records {
            writeln!(out, "{}", render(record, &args.format)).context("writing standard output")?;
            seen += 1;
            if args.max_messages.is_some_and(|max| seen >= max) {
                out.flush()?;
                drop(out);
                return finish(consumer, args.group.is_some()).await;
            }
        }
        out.flush()?;
        // Idle time counts from the moment partitions are assigned: joining a group may take
        // a while (the coordinator's initial rebalance delay).
        let newly_assigned = !assigned && !consumer.assignment().is_empty();
        assigned = !consumer.assignment().is_empty();
        if !records.is_empty() || !assigned || newly_assigned {
            last_record = Instant::now();
        } else if args
            .exit_when_idle
            .is_some_and(|idle| last_record.elapsed() >= idle)
        {
            drop(out);
            return finish(consumer, args.group.is_some()).await;
        }
    }
}

async fn finish(mut consumer: Consumer, in_group: bool) -> anyhow::Result<()> {
    if in_group {
        consumer.commit_sync().await.context("committing offsets")?;
    }
    consumer.close().await.context("closing the consumer")?;
    Ok(())
}

fn render(record: &ConsumerRecord, format: &str) -> String {
    let text =
        |b: &Option<bytes::Bytes>| b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned());
    match format {
        "key=value" => format!(
            "{}={}",
            text(&record.key).unwrap_or_default(),
            text(&record.value).unwrap_or_default()
        ),
        "json" => format!(
            "{{\"topic\":{},\"partition\":{},\"offset\":{},\"timestamp\":{},\"key\":{},\"value\":{}}}",
            json_string(&record.topic),
            record.partition,
            record.offset,
            record.timestamp,
            text(&record.key).map_or("null".to_string(), |k| json_string(&k)),
            text(&record.value).map_or("null".to_string(), |v| json_string(&v)),
        ),
        _ => text(&record.value).unwrap_or_default(),
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
