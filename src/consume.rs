//! `weir consume TOPIC`: prints records as they arrive, from a group (`--group`) or from every
//! partition directly; stops after `--max-messages` or, with `--exit-when-idle`, once nothing
//! has arrived for that long.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use weir_client::{Consumer, ConsumerConfig, ConsumerRecord, OffsetReset};

/// What `weir consume` was asked to do.
pub(crate) struct ConsumeArgs {
    pub(crate) bootstrap: String,
    pub(crate) topic: String,
    pub(crate) group: Option<String>,
    pub(crate) from_beginning: bool,
    pub(crate) max_messages: Option<u64>,
    pub(crate) exit_when_idle: Option<Duration>,
    pub(crate) format: String,
}

pub(crate) async fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    if !matches!(args.format.as_str(), "value" | "key=value" | "json") {
        anyhow::bail!(
            "--format takes value, key=value or json, not {:?}",
            args.format
        );
    }
    let mut config = ConsumerConfig::new([args.bootstrap.clone()]);
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
        let partitions = consumer
            .partitions_for(&args.topic)
            .await
            .context("looking up the topic")?;
        consumer.assign(partitions.clone());
        if args.from_beginning {
            consumer.seek_to_beginning(&partitions)?;
        } else {
            consumer.seek_to_end(&partitions)?;
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
