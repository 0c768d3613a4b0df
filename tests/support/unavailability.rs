//! Unavailability per failover as a producer sees it, from the acknowledgements of an
//! `acks=all` load: for each partition the failed broker led, the time from the failure to
//! the first acknowledgement of a record sent to that partition after it. A record sent
//! after the failure can only be acknowledged once a new leader took it and its ISR has it,
//! so this covers detection, election, the client finding the new leader and replication.
//! Metadata polling would stop at the election and add its own polling delay.

use std::time::{Duration, Instant};

/// When one acknowledged record was sent and when its acknowledgement was reported.
#[derive(Debug, Clone, Copy)]
pub struct TimedAck {
    pub partition: i32,
    pub sent: Instant,
    pub acked: Instant,
}

/// One failure: what it was, when, and the partitions whose leader it took away.
#[derive(Debug, Clone)]
pub struct Failover {
    pub label: String,
    pub at: Instant,
    pub partitions: Vec<i32>,
}

/// How long each of a failover's partitions went without acknowledging new records
/// (`None`: never again within the run), and the worst of them.
#[derive(Debug, Clone)]
pub struct Outage {
    pub per_partition: Vec<(i32, Option<Duration>)>,
}

impl Outage {
    /// The longest of the partitions' outages: what a producer writing to all of them saw.
    pub fn worst(&self) -> Option<Duration> {
        self.per_partition
            .iter()
            .map(|(_, d)| *d)
            .try_fold(Duration::ZERO, |worst, d| d.map(|d| worst.max(d)))
    }
}

/// The outage of each of `failover`'s partitions, from `acks`.
pub fn measure(failover: &Failover, acks: &[TimedAck]) -> Outage {
    let per_partition = failover
        .partitions
        .iter()
        .map(|&p| {
            let first = acks
                .iter()
                .filter(|a| a.partition == p && a.sent >= failover.at)
                .map(|a| a.acked)
                .min();
            (p, first.map(|t| t.duration_since(failover.at)))
        })
        .collect();
    Outage { per_partition }
}

/// Prints one line per failover and a summary (min, median, max, how many within
/// `target`); returns each failover's worst outage.
pub fn report(
    failovers: &[Failover],
    acks: &[TimedAck],
    target: Duration,
) -> Vec<Option<Duration>> {
    let mut worst = Vec::new();
    for failover in failovers {
        let outage = measure(failover, acks);
        let parts: Vec<String> = outage
            .per_partition
            .iter()
            .map(|(p, d)| format!("p{p} {}", shown(*d)))
            .collect();
        eprintln!(
            "{}: unavailable {} (first acks=all acknowledgement of a record sent after the kill: {})",
            failover.label,
            shown(outage.worst()),
            parts.join(", ")
        );
        worst.push(outage.worst());
    }
    let mut known: Vec<Duration> = worst
        .iter()
        .copied()
        .map(|d| d.unwrap_or(Duration::MAX))
        .collect();
    known.sort_unstable();
    if let (Some(min), Some(max)) = (known.first(), known.last()) {
        let median = known[known.len() / 2];
        let within = known.iter().filter(|d| **d < target).count();
        eprintln!(
            "unavailability per failover, seen by the acks=all producer: min {} median {} max {}; {within} of {} under {target:?}",
            shown(Some(*min).filter(|d| *d != Duration::MAX)),
            shown(Some(median).filter(|d| *d != Duration::MAX)),
            shown(Some(*max).filter(|d| *d != Duration::MAX)),
            known.len()
        );
    }
    worst
}

fn shown(d: Option<Duration>) -> String {
    d.map_or_else(
        || "never (no acknowledgement after it)".to_owned(),
        |d| format!("{:.2} s", d.as_secs_f64()),
    )
}
