//! The `weir` command line. So far it checks broker configuration files; `weir broker`,
//! `weir topic`, `weir produce`, `weir consume` and `weir run` arrive with their issues.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use weir_broker::BrokerConfig;

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
    match cli.command {
        Command::Config {
            action: ConfigAction::Check { file },
        } => check_config(file),
    }
}

fn check_config(file: PathBuf) -> ExitCode {
    match BrokerConfig::load(&file) {
        Ok(config) => {
            print_config(&config);
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::FAILURE
        }
    }
}

fn print_config(config: &BrokerConfig) {
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
    for name in config.topics().keys() {
        let topic = config.topic_log_config(name);
        println!(
            "[topics.{name}] segment_bytes = {}, retention_ms = {}, flush = {:?}",
            topic.segment_bytes,
            topic.retention.map_or(-1, |d| d.as_millis() as i64),
            topic.flush.mode
        );
    }
}
