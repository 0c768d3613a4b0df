//! The `weir` command line: `weir run` runs a whole pipeline from one file (`run/`);
//! `weir broker` runs a Kafka-protocol broker; `weir produce`,
//! `weir consume`, `weir topic`, `weir group` and `weir bench` work any Kafka-protocol
//! cluster with `weir-client`, each in its own module; `weir config check` validates a
//! config file.

mod allocator;
mod bench;
mod cluster;
mod cluster_args;
mod connect;
mod consume;
mod group;
mod partition;
mod partitioner;
mod plugin;
mod produce;
mod rebalance_plan;
mod run;
mod table;
mod topic;
mod usage_error;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use weir_broker::{Broker, BrokerConfig};

#[derive(Parser)]
#[command(
    name = "weir",
    version,
    about = "weir: an event-streaming platform that speaks the Kafka protocol"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a whole pipeline from one TOML file: the embedded broker (or an existing
    /// cluster), topics, sources and consumer plugins, until SIGINT or SIGTERM.
    Run(run::RunArgs),
    /// Runs a single-node broker until SIGINT or SIGTERM, then closes every log cleanly.
    Broker {
        /// The broker's TOML file (`[broker]`, `[topics.NAME]`); Kafka's defaults without one.
        /// With `[[sources]]` or `[[consumers]]` the broker hosts them, as `weir run` does.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Sends records to a topic: standard input or a file, one per line or delimiter.
    Produce(produce::ProduceArgs),
    /// Prints a topic's records as they arrive.
    Consume(consume::ConsumeArgs),
    /// Creates, lists, describes, deletes and alters topics.
    Topic(topic::TopicArgs),
    /// Lists consumer groups and shows their members, offsets and lag.
    Group(group::GroupArgs),
    /// Shows the cluster (brokers, the controller, troubled partitions) and rebalances it.
    Cluster(cluster::ClusterCommand),
    /// Moves partitions' replicas between brokers and lists the moves in progress.
    Partition(partition::PartitionArgs),
    /// Measures producer or consumer throughput and latency against a cluster.
    Bench(bench::BenchArgs),
    /// Runs the source connectors of a TOML file until SIGINT or SIGTERM.
    Connect {
        /// The connectors' TOML file (`[cluster]`, `[topics.NAME]`, `[[sources]]`).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Shows the connectors a running `weir connect` reports.
    Connector {
        #[command(subcommand)]
        action: ConnectorAction,
    },
    /// WASM plugins: check one, or run a consumer plugin.
    Plugin {
        #[command(subcommand)]
        action: plugin::PluginAction,
    },
    /// Configuration files.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Subcommand)]
enum ConnectorAction {
    /// One line per connector: state, events, bytes, lag.
    List {
        /// The connectors' TOML file `weir connect` runs.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Everything known about one connector, with its recent warnings.
    Status {
        /// The connector's name.
        name: String,
        /// The connectors' TOML file `weir connect` runs.
        #[arg(long, short)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Validates a broker config file and prints the settings in force.
    Check {
        /// The TOML file (`[broker]` and `[topics.NAME]` tables).
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    allocator::keep_freed_memory();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error::report(e),
    };
    // The broker narrates at info; client commands keep stderr for problems.
    let default_level = match cli.command {
        Command::Broker { .. } | Command::Connect { .. } | Command::Plugin { .. } => "info",
        // On a terminal the live status lines say what the info logs would.
        Command::Run(_) if std::io::IsTerminal::is_terminal(&std::io::stderr()) => "warn",
        Command::Run(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_level.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Broker { config } => run_broker(config),
        Command::Produce(args) => in_runtime(produce::run(args)),
        Command::Consume(args) => in_runtime(consume::run(args)),
        Command::Topic(args) => in_runtime(topic::run(args)),
        Command::Group(args) => in_runtime(group::run(args)),
        Command::Cluster(args) => in_runtime(cluster::run(args)),
        Command::Partition(args) => in_runtime(partition::run(args)),
        Command::Bench(args) => in_runtime(bench::run(args)),
        Command::Connect { config } => in_runtime(connect::run(config)),
        Command::Connector {
            action: ConnectorAction::List { config },
        } => connect::list(config),
        Command::Connector {
            action: ConnectorAction::Status { name, config },
        } => connect::status(config, name),
        Command::Config {
            action: ConfigAction::Check { file },
        } => check_config(file),
        Command::Plugin { action } => plugin::run(action),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("weir: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn in_runtime(work: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    client_runtime()?.block_on(work)
}

fn load_config(file: Option<PathBuf>) -> anyhow::Result<BrokerConfig> {
    match file {
        Some(file) => BrokerConfig::load(&file).map_err(|errors| anyhow::anyhow!("{errors}")),
        None => Ok(BrokerConfig::default()),
    }
}

fn run_broker(config: Option<PathBuf>) -> anyhow::Result<()> {
    // A broker file with sources or consumers hosts them: it is a pipeline on this broker.
    if let Some(file) = &config {
        let source =
            weir_config::Source::load(file).map_err(|errors| anyhow::anyhow!("{errors}"))?;
        if ["sources", "consumers"]
            .iter()
            .any(|key| source.has_top_level_key(key))
        {
            return run::run(run::RunArgs::hosted_by_the_broker(file.clone()));
        }
    }
    let config = load_config(config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("weir-broker")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let broker = Broker::open(config)?;
        broker.serve(shutdown_signal()).await?;
        Ok(())
    })
}

pub(crate) async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            std::future::pending::<()>().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn check_config(file: PathBuf) -> anyhow::Result<()> {
    let config = load_config(Some(file))?;
    let log = config.log_config();
    let dirs: Vec<String> = config
        .log_dirs()
        .iter()
        .map(|d| d.display().to_string())
        .collect();
    println!("node_id = {}", config.node_id());
    println!("listeners = {:?}", config.listeners());
    println!("advertised_listeners = {:?}", config.advertised_listeners());
    println!("log_dirs = {dirs:?}");
    println!("num_partitions = {}", config.num_partitions());
    println!("log_segment_bytes = {}", log.segment_bytes);
    println!("log_roll_ms = {}", log.segment_age.as_millis());
    println!(
        "log_retention_ms = {}",
        log.retention.map_or(-1, |d| d.as_millis() as i64)
    );
    println!(
        "log_retention_bytes = {}",
        log.retention_bytes.map_or(-1, |b| b as i64)
    );
    println!(
        "log_retention_check_interval_ms = {}",
        config.log_retention_check_interval().as_millis()
    );
    println!("log_flush = {:?}", log.flush.mode);
    for (name, topic) in config.topics() {
        let entries: Vec<String> = topic
            .kafka_entries()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!("[topics.{name}] {}", entries.join(", "));
    }
    Ok(())
}
