//! `weir produce TOPIC`: records from standard input or a file (`--file`), one per line or
//! per `--delimiter` byte, optionally `key<SEP>value`. The input is streamed: only the
//! records not yet acknowledged are held, bounded below the producer's buffer memory. A
//! progress bar shows on stderr when it is a terminal. Exits non-zero if any record was not
//! acknowledged, and within `--timeout` when no broker answers.

use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::PathBuf;
use std::pin::Pin;

use anyhow::Context as _;
use bytes::Bytes;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use weir_client::{Acks, Producer, ProducerConfig, ProducerRecord, RecordMetadata, Topic};

use crate::cluster_args::ClusterArgs;
use crate::partitioner::parse_partitioner;

/// `weir produce`.
#[derive(Args)]
pub(crate) struct ProduceArgs {
    /// The topic.
    topic: String,
    /// Read records from this file instead of standard input.
    #[arg(long)]
    file: Option<PathBuf>,
    /// The byte between records: one character, or \n, \t, \0 (default: newline).
    #[arg(long, default_value = "\\n")]
    delimiter: String,
    /// Split each record into key and value at the first occurrence of this.
    #[arg(long)]
    key_separator: Option<String>,
    /// 0, 1 or all.
    #[arg(long, default_value = "all")]
    acks: String,
    /// default, round_robin, overflow or overflow:N.
    #[arg(long, default_value = "default")]
    partitioner: String,
    /// none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none")]
    compression: String,
    #[command(flatten)]
    cluster: ClusterArgs,
}

type Delivery = Pin<Box<dyn Future<Output = weir_client::Result<RecordMetadata>> + Send>>;

/// `--delimiter` as one byte.
fn delimiter_byte(text: &str) -> anyhow::Result<u8> {
    match text {
        "\\n" => Ok(b'\n'),
        "\\t" => Ok(b'\t'),
        "\\0" => Ok(0),
        other if other.len() == 1 => Ok(other.as_bytes()[0]),
        other => anyhow::bail!("--delimiter takes one byte (or \\n, \\t, \\0), not {other:?}"),
    }
}

/// `--acks` as the producer's setting.
pub(crate) fn parse_acks(text: &str) -> anyhow::Result<Acks> {
    Ok(match text {
        "0" => Acks::None,
        "1" => Acks::Leader,
        "all" | "-1" => Acks::All,
        other => anyhow::bail!("--acks takes 0, 1 or all, not {other:?}"),
    })
}

pub(crate) async fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let delimiter = delimiter_byte(&args.delimiter)?;
    let partitioner = parse_partitioner(&args.partitioner)?;
    let mut config = ProducerConfig::new([args.cluster.bootstrap.clone()]);
    config.acks = parse_acks(&args.acks)?;
    config.compression = weir_client::Compression::parse(&args.compression).with_context(|| {
        format!(
            "--compression takes none, gzip, snappy, lz4 or zstd, not {:?}",
            args.compression
        )
    })?;
    if config.acks != Acks::All {
        config.enable_idempotence = false; // idempotence needs acks=all
    }
    config.request_timeout = args.cluster.timeout;
    // A cluster that goes away mid-stream fails the command in about two request timeouts,
    // not the Java default of two minutes.
    config.delivery_timeout = config.request_timeout * 2 + config.linger;
    let (input, length): (Box<dyn Read>, Option<u64>) = match &args.file {
        Some(path) => {
            let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let length = file.metadata().ok().map(|m| m.len());
            (Box::new(file), length)
        }
        None => (Box::new(std::io::stdin()), None),
    };
    args.cluster.check_reachable().await?;

    let progress = progress_bar(length);
    let budget = config.buffer_memory / 2;
    let producer =
        Producer::with_boxed_partitioner(config, partitioner).context("starting the producer")?;
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let mut pending: VecDeque<(Delivery, usize)> = VecDeque::new();
    let mut pending_bytes = 0usize;
    let mut outcome = Outcome::default();
    let mut buf = Vec::new();
    let topic = Topic::from(&args.topic);
    loop {
        buf.clear();
        let read = reader
            .read_until(delimiter, &mut buf)
            .context("reading the input")?;
        if read == 0 {
            break;
        }
        progress.inc(read as u64);
        if buf.last() == Some(&delimiter) {
            buf.pop();
        }
        let record = to_record(&topic, &buf, args.key_separator.as_deref());
        let size = record.estimated_size();
        // Hold at most half the producer's buffer in unacknowledged records: `send` then
        // never waits for memory, so records are accepted in input order.
        while pending_bytes + size > budget {
            let Some((delivery, bytes)) = pending.pop_front() else {
                break;
            };
            pending_bytes -= bytes;
            outcome.record(delivery.await);
        }
        pending.push_back((Box::pin(producer.send(record)), size));
        pending_bytes += size;
    }
    producer.flush().await.context("flushing")?;
    for (delivery, _) in pending {
        outcome.record(delivery.await);
    }
    progress.finish_and_clear();
    producer.close().await.context("closing the producer")?;
    outcome.into_result(&args.topic)
}

#[derive(Default)]
struct Outcome {
    delivered: u64,
    failed: u64,
    first_error: Option<weir_client::Error>,
}

impl Outcome {
    fn record(&mut self, result: weir_client::Result<RecordMetadata>) {
        match result {
            Ok(_) => self.delivered += 1,
            Err(e) => {
                self.failed += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }

    fn into_result(self, topic: &str) -> anyhow::Result<()> {
        match self.first_error {
            None => Ok(()),
            Some(e) => anyhow::bail!(
                "{} of {} records were not delivered to {topic}: {e}",
                self.failed,
                self.failed + self.delivered
            ),
        }
    }
}

fn to_record(topic: &Topic, line: &[u8], key_separator: Option<&str>) -> ProducerRecord {
    let split = key_separator.and_then(|sep| {
        let sep = sep.as_bytes();
        (!sep.is_empty())
            .then(|| line.windows(sep.len()).position(|w| w == sep))
            .flatten()
            .map(|at| (&line[..at], &line[at + sep.len()..]))
    });
    match split {
        Some((key, value)) => ProducerRecord::new(topic.clone(), Bytes::copy_from_slice(value))
            .with_key(Bytes::copy_from_slice(key)),
        None => ProducerRecord::new(topic.clone(), Bytes::copy_from_slice(line)),
    }
}

/// Bytes read against the input's length, drawn only when stderr is a terminal.
fn progress_bar(length: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match length {
        Some(length) => ProgressBar::new(length).with_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters_and_key_separators() {
        assert_eq!(delimiter_byte("\\n").ok(), Some(b'\n'));
        assert_eq!(delimiter_byte(",").ok(), Some(b','));
        assert!(delimiter_byte("ab").is_err());
        let r = to_record(&Topic::from("t"), b"k::v::w", Some("::"));
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.value.as_deref(), Some(&b"v::w"[..]));
        let r = to_record(&Topic::from("t"), b"no separator", Some("::"));
        assert!(r.key.is_none());
    }
}
