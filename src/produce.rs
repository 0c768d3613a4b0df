//! `weir produce TOPIC`: one record per line of standard input, optionally `key<SEP>value`,
//! sent with the Rust client; exits non-zero if any record was not acknowledged.

use std::io::BufRead;

use anyhow::Context as _;
use weir_client::{Acks, Producer, ProducerConfig, ProducerRecord};

/// What `weir produce` was asked to do.
pub(crate) struct ProduceArgs {
    pub(crate) bootstrap: String,
    pub(crate) topic: String,
    pub(crate) key_separator: Option<String>,
    pub(crate) acks: String,
}

pub(crate) async fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let mut config = ProducerConfig::new([args.bootstrap.clone()]);
    config.acks = match args.acks.as_str() {
        "0" => Acks::None,
        "1" => Acks::Leader,
        "all" | "-1" => Acks::All,
        other => anyhow::bail!("--acks takes 0, 1 or all, not {other:?}"),
    };
    if config.acks != Acks::All {
        config.enable_idempotence = false; // idempotence needs acks=all
    }
    let producer = Producer::new(config).context("starting the producer")?;
    let mut pending = Vec::new();
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line.context("reading standard input")?;
        let record = match args
            .key_separator
            .as_deref()
            .and_then(|sep| line.split_once(sep))
        {
            Some((key, value)) => {
                ProducerRecord::new(args.topic.clone(), value.to_string()).with_key(key.to_string())
            }
            None => ProducerRecord::new(args.topic.clone(), line),
        };
        pending.push(producer.send(record));
    }
    producer.flush().await.context("flushing")?;
    let mut failed = 0;
    let total = pending.len();
    for delivery in pending {
        if let Err(e) = delivery.await {
            failed += 1;
            if failed == 1 {
                eprintln!("weir: a record was not delivered: {e}");
            }
        }
    }
    producer.close().await.context("closing the producer")?;
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {total} records were not delivered to {}",
            args.topic
        );
    }
    Ok(())
}
