//! `weir connect --config connectors.toml` runs the source connectors of a TOML file against
//! any Kafka-protocol cluster until SIGINT or SIGTERM; `weir connector list|status` shows
//! what the running `weir connect` wrote to its status file (`[connect] status_file`,
//! default `connect-status.json` beside the config): the status is that process's, read
//! from disk, and marked stale if the process is gone.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use weir_connectors::{ConnectConfig, ConnectorState, ConnectorStatus, StatusReport};

/// `weir connect`.
pub(crate) async fn run(config: PathBuf) -> anyhow::Result<()> {
    let config = load(&config)?;
    eprintln!(
        "weir connect: {} connector(s), status in {}",
        config.sources.len(),
        config.status_file.display()
    );
    let failed = weir_connectors::host::run(config, crate::shutdown_signal()).await?;
    if failed.is_empty() {
        return Ok(());
    }
    for (name, error) in &failed {
        eprintln!("weir: connector {name} failed: {error}");
    }
    anyhow::bail!("{} connector(s) failed", failed.len())
}

/// `weir connector list`: one line per connector.
pub(crate) fn list(config: PathBuf) -> anyhow::Result<()> {
    let (report, stale) = read_status(&config)?;
    println!(
        "{:<24} {:<8} {:<10} {:>12} {:>14} {:>12}",
        "NAME", "KIND", "STATE", "EVENTS", "BYTES", "LAG"
    );
    for connector in &report.connectors {
        println!(
            "{:<24} {:<8} {:<10} {:>12} {:>14} {:>12}",
            connector.name,
            connector.kind,
            state_word(connector, stale),
            connector.events,
            connector.bytes,
            connector
                .lag
                .map_or_else(|| "-".to_owned(), |lag| lag.to_string()),
        );
    }
    Ok(())
}

/// `weir connector status NAME`: everything known about one connector.
pub(crate) fn status(config: PathBuf, name: String) -> anyhow::Result<()> {
    let (report, stale) = read_status(&config)?;
    let Some(connector) = report.connectors.iter().find(|c| c.name == name) else {
        let names: Vec<&str> = report.connectors.iter().map(|c| c.name.as_str()).collect();
        anyhow::bail!(
            "no connector named {name:?} (there are: {})",
            names.join(", ")
        );
    };
    println!("name: {}", connector.name);
    println!("kind: {}", connector.kind);
    println!("topic: {}", connector.topic);
    println!("state: {}", state_word(connector, stale));
    if let ConnectorState::Failed(reason) = &connector.state {
        println!("reason: {reason}");
    }
    if stale {
        println!(
            "note: weir connect (pid {}) is not running; this is its last status",
            report.pid
        );
    }
    println!("events: {}", connector.events);
    println!("bytes: {}", connector.bytes);
    println!("dead_letters: {}", connector.dead_letters);
    println!("filtered: {}", connector.filtered);
    println!("deduplicated: {}", connector.deduplicated);
    println!("batches: {}", connector.batches);
    println!("checkpoints: {}", connector.checkpoints);
    println!(
        "lag: {}",
        connector
            .lag
            .map_or_else(|| "unknown".to_owned(), |lag| lag.to_string())
    );
    for warning in &connector.warnings {
        println!("warning: {warning}");
    }
    Ok(())
}

fn load(config: &Path) -> anyhow::Result<ConnectConfig> {
    ConnectConfig::load(config).map_err(|errors| anyhow::anyhow!("{errors}"))
}

fn read_status(config: &Path) -> anyhow::Result<(StatusReport, bool)> {
    let config = load(config)?;
    let report = StatusReport::read(&config.status_file).with_context(|| {
        format!(
            "reading {} (is `weir connect` running with this config?)",
            config.status_file.display()
        )
    })?;
    let stale = !Path::new(&format!("/proc/{}", report.pid)).exists();
    Ok((report, stale))
}

fn state_word(connector: &ConnectorStatus, stale: bool) -> String {
    let word = match connector.state {
        ConnectorState::Starting => "starting",
        ConnectorState::Running => "running",
        ConnectorState::Failed(_) => "failed",
        ConnectorState::Stopped => "stopped",
    };
    if stale
        && matches!(
            connector.state,
            ConnectorState::Running | ConnectorState::Starting
        )
    {
        "gone".to_owned()
    } else {
        word.to_owned()
    }
}
