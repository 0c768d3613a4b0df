//! `--partitioner`: the one place a partitioner's name on the command line becomes a
//! partitioner.

use weir_client::{DefaultPartitioner, OverflowPartitioner, Partitioner, RoundRobinPartitioner};

/// How many batches waiting or in flight make a partition full for `overflow` without a
/// number (the producer's default `max_in_flight_requests_per_connection`).
const OVERFLOW_BOUND: usize = 5;

/// `default`, `round_robin`, `overflow` or `overflow:N` (a partition is full at N batches
/// waiting or in flight).
pub(crate) fn parse_partitioner(value: &str) -> anyhow::Result<Box<dyn Partitioner>> {
    Ok(match value {
        "default" => Box::new(DefaultPartitioner::default()),
        "round_robin" | "round-robin" => Box::new(RoundRobinPartitioner::default()),
        "overflow" => Box::new(OverflowPartitioner::new(OVERFLOW_BOUND)),
        other => match other.strip_prefix("overflow:").map(str::parse::<usize>) {
            Some(Ok(bound)) if bound > 0 => Box::new(OverflowPartitioner::new(bound)),
            _ => anyhow::bail!(
                "--partitioner takes default, round_robin, overflow or overflow:N, not {other:?}"
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_unknown_ones_are_refused() {
        for ok in [
            "default",
            "round_robin",
            "round-robin",
            "overflow",
            "overflow:3",
        ] {
            assert!(parse_partitioner(ok).is_ok(), "{ok}");
        }
        for bad in ["", "murmur", "overflow:0", "overflow:x"] {
            let message = parse_partitioner(bad).err().map(|e| e.to_string());
            assert!(
                message.is_some_and(|m| m.contains("--partitioner takes")),
                "{bad}"
            );
        }
    }
}
