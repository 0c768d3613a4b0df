//! `--partitioner`: the one place a partitioner's name on the command line becomes a
//! partitioner — a built-in one, or a WASM plugin given by its `.wasm` path — and the
//! built-in names a `weir run` topic's `partitioner` may use.

use std::path::Path;

use anyhow::Context as _;
use weir_client::{DefaultPartitioner, OverflowPartitioner, Partitioner, RoundRobinPartitioner};
use weir_plugins::{PluginSettings, WasmPartitioner};

/// How many batches waiting or in flight make a partition full for `overflow` without a
/// number (the producer's default `max_in_flight_requests_per_connection`).
const OVERFLOW_BOUND: usize = 5;

/// `default`, `round_robin`, `overflow` or `overflow:N` (a partition is full at N batches
/// waiting or in flight), or the path of a partitioner plugin (`*.wasm`, default limits).
pub(crate) fn parse_partitioner(value: &str) -> anyhow::Result<Box<dyn Partitioner>> {
    if value.ends_with(".wasm") {
        let plugin = WasmPartitioner::load(Path::new(value), PluginSettings::default())
            .with_context(|| format!("loading the partitioner plugin {value}"))?;
        return Ok(Box::new(plugin));
    }
    built_in_partitioner(value).ok_or_else(|| {
        anyhow::anyhow!(
            "--partitioner takes default, round_robin, overflow, overflow:N or a .wasm plugin, not {value:?}"
        )
    })
}

/// A built-in partitioner by name (`default`, `round_robin`, `overflow`, `overflow:N`);
/// `None` for any other name. Also what a `weir run` topic's `partitioner` names.
pub(crate) fn built_in_partitioner(value: &str) -> Option<Box<dyn Partitioner>> {
    Some(match value {
        "default" => Box::new(DefaultPartitioner::default()),
        "round_robin" | "round-robin" => Box::new(RoundRobinPartitioner::default()),
        "overflow" => Box::new(OverflowPartitioner::new(OVERFLOW_BOUND)),
        other => match other.strip_prefix("overflow:").map(str::parse::<usize>) {
            Some(Ok(bound)) if bound > 0 => Box::new(OverflowPartitioner::new(bound)),
            _ => return None,
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
        let missing = parse_partitioner("/no/such/plugin.wasm")
            .err()
            .map(|e| format!("{e:#}"));
        assert!(
            missing.is_some_and(|m| m.contains("/no/such/plugin.wasm")),
            "a missing plugin is named"
        );
        for bad in ["", "murmur", "overflow:0", "overflow:x"] {
            let message = parse_partitioner(bad).err().map(|e| e.to_string());
            assert!(
                message.is_some_and(|m| m.contains("--partitioner takes")),
                "{bad}"
            );
        }
    }
}
