//! `weir plugin`: checking a plugin (`check`: which interfaces it exports, its size, and
//! compiling it into the cache) and running a consumer plugin as group members
//! (`run-consumer`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use weir_plugins::{PluginEngine, RunnerConfig};

/// What `weir plugin` does.
#[derive(Subcommand)]
pub(crate) enum PluginAction {
    /// Loads a plugin, reports its interfaces and size, and compiles it into the cache.
    Check {
        /// The plugin's `.wasm` file.
        file: PathBuf,
    },
    /// Runs a consumer plugin until SIGINT or SIGTERM.
    RunConsumer {
        /// The runner's TOML file (plugin, group, topics, dead-letter topic, limits).
        #[arg(long, short)]
        config: PathBuf,
        /// Brokers to bootstrap from, overriding the file's `bootstrap-servers`.
        #[arg(long)]
        bootstrap: Option<String>,
    },
}

pub(crate) fn run(action: PluginAction) -> anyhow::Result<()> {
    match action {
        PluginAction::Check { file } => check(&file),
        PluginAction::RunConsumer { config, bootstrap } => run_consumer(&config, bootstrap),
    }
}

fn check(file: &Path) -> anyhow::Result<()> {
    let cache = PluginEngine::default_cache_dir();
    let engine = PluginEngine::new(cache.as_deref())?;
    let plugin = engine.compile_file(file)?;
    let (hits, _) = engine.cache_stats();
    println!("plugin: {}", plugin.name);
    println!("size: {} bytes", plugin.size);
    let exports = plugin.exports();
    let kinds: Vec<&str> = exports
        .iter()
        .filter_map(|e| {
            e.strip_prefix("weir:plugin/")
                .and_then(|rest| rest.split('@').next())
        })
        .collect();
    println!("exports: {}", exports.join(", "));
    println!("imports: {}", plugin.imports().join(", "));
    match cache {
        Some(dir) if hits > 0 => println!("cache: already compiled ({})", dir.display()),
        Some(dir) => println!("cache: compiled into {}", dir.display()),
        None => println!("cache: none (no cache directory)"),
    }
    if kinds.is_empty() {
        anyhow::bail!(
            "{} exports no weir plugin interface (weir:plugin/partitioner or weir:plugin/consumer)",
            file.display()
        );
    }
    println!("kind: {}", kinds.join(", "));
    Ok(())
}

fn run_consumer(config: &Path, bootstrap: Option<String>) -> anyhow::Result<()> {
    let mut config = RunnerConfig::load(config).map_err(|errors| anyhow::anyhow!("{errors}"))?;
    if let Some(bootstrap) = bootstrap {
        config.bootstrap_servers = bootstrap.split(',').map(str::to_string).collect();
    }
    if config.cache_dir.is_none() {
        config.cache_dir = PluginEngine::default_cache_dir();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("weir-plugin")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            crate::shutdown_signal().await;
            let _ = stop.send(true);
        });
        let stats = weir_plugins::runner::run(config, stopped).await?;
        tracing::info!(?stats, "consumer runner stopped");
        Ok(())
    })
}
