//! Benchmark workloads that `weir bench` runs and that the client bench compares against
//! librdkafka: a producer sending fixed-size records as fast as the broker takes them
//! (throughput and send-to-acknowledgement latency), and a consumer reading a backlog from
//! the log start (throughput). Sizes count record values only; MB is 10^6 bytes.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::error::Result;
use crate::{
    Consumer, ConsumerConfig, Producer, ProducerConfig, ProducerRecord, Topic, TopicPartition,
};

/// What the produce workload sends.
#[derive(Debug, Clone)]
pub struct ProduceWorkload {
    /// The topic (it must exist: create it with the partitions wanted).
    pub topic: String,
    /// How many records.
    pub records: u64,
    /// Each record's value size in bytes (unkeyed records).
    pub record_size: usize,
}

/// What the consume workload reads.
#[derive(Debug, Clone)]
pub struct ConsumeWorkload {
    /// The topic.
    pub topic: String,
    /// Its partition count.
    pub partitions: i32,
    /// How many records to read from the log start.
    pub records: u64,
}

/// Send-to-acknowledgement latencies.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latencies {
    /// The median.
    pub p50: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The 99.9th percentile.
    pub p999: Duration,
    /// The largest.
    pub max: Duration,
}

impl Latencies {
    /// Percentiles of `samples` (microseconds); sorts them.
    pub fn from_micros(samples: &mut [u32]) -> Self {
        samples.sort_unstable();
        let at = |q: f64| {
            let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len().max(1)) - 1;
            Duration::from_micros(samples.get(i).copied().unwrap_or(0).into())
        };
        Self {
            p50: at(0.50),
            p99: at(0.99),
            p999: at(0.999),
            max: at(1.0),
        }
    }
}

/// What a workload measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Throughput {
    /// Records moved.
    pub records: u64,
    /// Value bytes moved.
    pub bytes: u64,
    /// From the first send or poll to the last acknowledgement or record.
    pub elapsed: Duration,
    /// Send-to-acknowledgement latencies (producing only).
    pub latency: Option<Latencies>,
}

impl Throughput {
    /// Records per second.
    pub fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// MB (10^6 bytes) of values per second.
    pub fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for Throughput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} records in {:.2} s: {:.0} msg/s, {:.1} MB/s",
            self.records,
            self.elapsed.as_secs_f64(),
            self.records_per_sec(),
            self.mb_per_sec()
        )?;
        if let Some(l) = self.latency {
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            write!(
                f,
                ", latency p50 {:.1} ms p99 {:.1} ms p99.9 {:.1} ms max {:.1} ms",
                ms(l.p50),
                ms(l.p99),
                ms(l.p999),
                ms(l.max)
            )?;
        }
        Ok(())
    }
}

/// Sends `workload.records` records with a producer made from `config` (its buffer memory
/// bounds what is unacknowledged), and times each from `send_with` to its callback.
pub async fn produce(config: ProducerConfig, workload: &ProduceWorkload) -> Result<Throughput> {
    let producer = Producer::new(config)?;
    let value = Bytes::from(vec![b'x'; workload.record_size]);
    let topic = Topic::from(&workload.topic);
    // Connect and learn the topic before the clock starts.
    producer
        .send(ProducerRecord::new(topic.clone(), value.clone()))
        .await?;
    // Outcomes come back through callbacks, as librdkafka's delivery reports do: no
    // per-record future to keep. Buffer memory bounds what is outstanding.
    let outcomes = Arc::new(Mutex::new(Outcomes {
        micros: Vec::with_capacity(workload.records as usize),
        failure: None,
    }));
    let start = Instant::now();
    for _ in 0..workload.records {
        let sent = Instant::now();
        let outcomes = Arc::clone(&outcomes);
        producer
            .send_with(
                ProducerRecord::new(topic.clone(), value.clone()),
                move |outcome| {
                    let mut outcomes = outcomes.lock();
                    match outcome {
                        Ok(_) => outcomes.micros.push(micros(sent.elapsed())),
                        Err(e) => {
                            outcomes.failure.get_or_insert(e);
                        }
                    }
                },
            )
            .await?;
    }
    producer.flush().await?;
    let elapsed = start.elapsed();
    producer.close().await?;
    let mut outcomes = outcomes.lock();
    if let Some(e) = outcomes.failure.take() {
        return Err(e);
    }
    Ok(Throughput {
        records: workload.records,
        bytes: workload.records * workload.record_size as u64,
        elapsed,
        latency: Some(Latencies::from_micros(&mut outcomes.micros)),
    })
}

/// What the delivery callbacks of a produce run collected.
struct Outcomes {
    micros: Vec<u32>,
    failure: Option<crate::Error>,
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Reads `workload.records` records from the log start of every partition with a consumer
/// (no group) made from `config`.
pub async fn consume(config: ConsumerConfig, workload: &ConsumeWorkload) -> Result<Throughput> {
    let mut consumer = Consumer::new(config)?;
    let partitions: Vec<TopicPartition> = (0..workload.partitions)
        .map(|p| TopicPartition::new(workload.topic.clone(), p))
        .collect();
    consumer.assign(partitions.clone());
    consumer.seek_to_beginning(&partitions)?;
    let mut records = 0u64;
    let mut bytes = 0u64;
    let start = Instant::now();
    while records < workload.records {
        let polled = consumer.poll(Duration::from_millis(500)).await?;
        for record in &polled {
            records += 1;
            bytes += record.value.as_ref().map_or(0, |v| v.len() as u64);
        }
    }
    let elapsed = start.elapsed();
    consumer.close().await?;
    Ok(Throughput {
        records,
        bytes,
        elapsed,
        latency: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_right_samples() {
        let mut samples: Vec<u32> = (1..=1000).rev().collect();
        let l = Latencies::from_micros(&mut samples);
        assert_eq!(l.p50, Duration::from_micros(500));
        assert_eq!(l.p99, Duration::from_micros(990));
        assert_eq!(l.p999, Duration::from_micros(999));
        assert_eq!(l.max, Duration::from_micros(1000));
        assert_eq!(Latencies::from_micros(&mut []).max, Duration::ZERO);
    }
}
