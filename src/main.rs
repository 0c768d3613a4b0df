//! The `weir` command line: `weir broker` runs a Kafka-protocol broker, `weir produce` and
//! `weir consume` move records through any Kafka-protocol cluster with `weir-client`, and
//! `weir config check` validates a config file. `topic`, `group`, `bench` and `weir run`
//! arrive with their issues.

mod consume;
mod plugin;
mod produce;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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
    /// Runs a single-node broker until SIGINT or SIGTERM, then closes every log cleanly.
    Broker {
        /// The broker's TOML file (`[broker]`, `[topics.NAME]`); Kafka's defaults without one.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Sends standard input to a topic, one record per line.
    Produce {
        /// The topic.
        topic: String,
        /// A broker to learn the cluster from.
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap: String,
        /// Split each line into key and value at the first occurrence of this.
        #[arg(long)]
        key_separator: Option<String>,
        /// 0, 1 or all.
        #[arg(long, default_value = "all")]
        acks: String,
    },
    /// Prints a topic's records as they arrive.
    Consume {
        /// The topic.
        topic: String,
        /// A broker to learn the cluster from.
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap: String,
        /// Consume as a member of this group (committing offsets); otherwise read every
        /// partition directly.
        #[arg(long)]
        group: Option<String>,
        /// Start at the oldest record instead of only new ones.
        #[arg(long)]
        from_beginning: bool,
        /// Stop after this many records.
        #[arg(long)]
        max_messages: Option<u64>,
        /// Stop once nothing has arrived for this many milliseconds.
        #[arg(long)]
        exit_when_idle_ms: Option<u64>,
        /// value, key=value or json (with topic, partition, offset and timestamp).
        #[arg(long, default_value = "value")]
        format: String,
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
enum ConfigAction {
    /// Validates a broker config file and prints the settings in force.
    Check {
        /// The TOML file (`[broker]` and `[topics.NAME]` tables).
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The broker narrates at info; client commands keep stderr for problems.
    let default_level = match cli.command {
        Command::Broker { .. } | Command::Plugin { .. } => "info",
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
        Command::Broker { config } => run_broker(config),
        Command::Produce {
            topic,
            bootstrap,
            key_separator,
            acks,
        } => client_runtime().and_then(|rt| {
            rt.block_on(produce::run(produce::ProduceArgs {
                bootstrap,
                topic,
                key_separator,
                acks,
            }))
        }),
        Command::Consume {
            topic,
            bootstrap,
            group,
            from_beginning,
            max_messages,
            exit_when_idle_ms,
            format,
        } => client_runtime().and_then(|rt| {
            rt.block_on(consume::run(consume::ConsumeArgs {
                bootstrap,
                topic,
                group,
                from_beginning,
                max_messages,
                exit_when_idle: exit_when_idle_ms.map(Duration::from_millis),
                format,
            }))
        }),
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

fn load_config(file: Option<PathBuf>) -> anyhow::Result<BrokerConfig> {
    match file {
        Some(file) => BrokerConfig::load(&file).map_err(|errors| anyhow::anyhow!("{errors}")),
        None => Ok(BrokerConfig::default()),
    }
}

fn run_broker(config: Option<PathBuf>) -> anyhow::Result<()> {
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

async fn shutdown_signal() {
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
