//! `weir run pipeline.toml`: a whole pipeline from one file. The file is checked first
//! (every mistake at once; `--check` stops there), then the databases it names are reached
//! and the plugins it names loaded, so a wrong `url` or a broken `.wasm` is reported at its
//! key before anything starts. Components start in dependency order — the embedded broker
//! (unless `[cluster]` names an existing one), the topics, the consumers, the sources — and
//! stop in reverse on SIGINT or SIGTERM, each source checkpointed and each consumer
//! committed. A component that fails is started again by its supervisor; the pipeline
//! stops only when asked to, or when its embedded broker does.
//!
//! | module | owns |
//! |---|---|
//! | `config` | reading and checking the pipeline file |
//! | `preflight` | reaching databases and loading plugins before the start |
//! | `topics` | creating topics and bringing existing ones in line |
//! | `components` | starting and stopping sources and consumers |
//! | `supervisor` | restarting a failed component with backoff |
//! | `status` | the live status lines, or their plain-log form |

mod components;
mod config;
mod preflight;
mod status;
mod supervisor;
mod topics;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use weir_broker::{Broker, BrokerConfig};
use weir_client::{Admin, AdminConfig};
use weir_connectors::CheckpointStore;

use config::{Pipeline, Target};

/// `weir run`'s arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
    /// The pipeline's TOML file (`[broker]` or `[cluster]`, `[topics.NAME]`, `[[sources]]`,
    /// `[[consumers]]`).
    file: PathBuf,
    /// Check the file, reach its databases and load its plugins; start nothing.
    #[arg(long)]
    check: bool,
}

impl RunArgs {
    /// `weir broker --config FILE` for a file with sources or consumers: run it.
    pub(crate) fn hosted_by_the_broker(file: PathBuf) -> Self {
        Self { file, check: false }
    }
}

/// `weir run`.
pub(crate) fn run(args: RunArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let pipeline = Pipeline::load(&args.file).map_err(|errors| anyhow::anyhow!("{errors}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("weir-run")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        preflight::check(&pipeline)
            .await
            .map_err(|errors| anyhow::anyhow!("{errors}"))?;
        if args.check {
            print_summary(&pipeline);
            return Ok(());
        }
        run_pipeline(pipeline, started).await
    })
}

async fn run_pipeline(pipeline: Pipeline, started: Instant) -> anyhow::Result<()> {
    let (broker_stop, broker_stopped) = watch::channel(false);
    let mut broker = match &pipeline.target {
        Target::Embedded(config) => Some(start_broker(config, broker_stopped).await?),
        Target::External(_) => None,
    };
    let bootstrap = pipeline.target.bootstrap();
    let prepared = async {
        let admin = Admin::new(AdminConfig::new(bootstrap.iter().cloned()))
            .context("starting the admin client")?;
        topics::bring_in_line(&admin, &pipeline).await?;
        let store = CheckpointStore::new(&bootstrap).context("opening the checkpoint store")?;
        anyhow::Ok((admin, store))
    };
    let (admin, store) = match prepared.await {
        Ok(prepared) => prepared,
        Err(error) => {
            // The embedded broker still closes its logs cleanly.
            let _ = broker_stop.send(true);
            if let Some(task) = broker {
                let _ = task.await;
            }
            return Err(error);
        }
    };
    let consumers = components::start_consumers(&pipeline);
    let sources = components::start_sources(&pipeline, &store);
    eprintln!(
        "weir run: ready in {} ms: {} ({} topic(s), {} source(s), {} consumer(s))",
        started.elapsed().as_millis(),
        match &pipeline.target {
            Target::Embedded(_) => format!("embedded broker on {}", bootstrap.join(",")),
            Target::External(_) => format!("cluster {}", bootstrap.join(",")),
        },
        pipeline.topics.len(),
        pipeline.sources.len(),
        pipeline.consumers.len(),
    );
    let (_status_stop, status_stopped) = watch::channel(false);
    let shown: Vec<&components::Component> = consumers
        .components
        .iter()
        .chain(&sources.components)
        .collect();
    let broker_failed = {
        let status = status::show(shown, admin.clone(), status_stopped);
        let broker_ended = async {
            match broker.as_mut() {
                Some(task) => Some(task.await),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = crate::shutdown_signal() => None,
            () = status => None,
            ended = broker_ended => ended,
        }
    };
    if let Some(ended) = broker_failed {
        eprintln!("weir run: the embedded broker stopped; stopping the pipeline");
        sources.stop().await;
        consumers.stop().await;
        return match ended {
            Ok(Ok(())) => Err(anyhow::anyhow!("the embedded broker stopped")),
            Ok(Err(error)) => Err(error).context("the embedded broker failed"),
            Err(error) => Err(error).context("the embedded broker's task failed"),
        };
    }
    eprintln!("weir run: stopping: sources, then consumers, then the broker");
    sources.stop().await;
    consumers.stop().await;
    let _ = broker_stop.send(true);
    if let Some(task) = broker {
        task.await
            .context("the embedded broker's task failed")?
            .context("stopping the embedded broker")?;
    }
    eprintln!("weir run: stopped");
    Ok(())
}

/// Binds the embedded broker's listeners (so a port in use is reported now) and serves
/// until `stop` turns true.
async fn start_broker(
    config: &BrokerConfig,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<tokio::task::JoinHandle<Result<(), weir_broker::BrokerError>>> {
    let mut listeners = Vec::new();
    for address in config.listeners() {
        let listener = TcpListener::bind(address).await.with_context(|| {
            format!(
                "the embedded broker cannot listen on {address} (set [broker] listeners, or \
                 point [cluster] at the broker already there)"
            )
        })?;
        listeners.push(listener);
    }
    let broker: Arc<Broker> =
        Broker::open(config.clone()).context("opening the embedded broker")?;
    Ok(tokio::spawn(broker.serve_on(listeners, async move {
        let _ = stop.wait_for(|stop| *stop).await;
    })))
}

/// What `weir run --check` prints for a valid pipeline.
fn print_summary(pipeline: &Pipeline) {
    println!("{}: ok", pipeline.file.display());
    match &pipeline.target {
        Target::Embedded(broker) => {
            let dirs: Vec<String> = broker
                .log_dirs()
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            println!(
                "broker: embedded, listening on {}, data in {}",
                broker.listeners().join(","),
                dirs.join(",")
            );
        }
        Target::External(bootstrap) => println!("cluster: {}", bootstrap.join(",")),
    }
    for (name, topic) in &pipeline.topics {
        let partitioner = match &topic.partitioner {
            Some(config::PartitionerSpec::BuiltIn(name)) => format!(", partitioner {name}"),
            Some(config::PartitionerSpec::Plugin { path, .. }) => {
                format!(", partitioner {}", path.display())
            }
            None => String::new(),
        };
        println!(
            "topic {name}: {} partition(s){partitioner}",
            topic.overrides.partitions.unwrap_or(1)
        );
    }
    for source in &pipeline.sources {
        let settings = &source.settings;
        println!(
            "source {}: {} -> {}",
            settings.name,
            settings.kind.name(),
            settings.topic
        );
    }
    for consumer in &pipeline.consumers {
        let runner = &consumer.runner;
        println!(
            "consumer {}: {} <- {}",
            consumer.name,
            runner.plugin.display(),
            runner.topics.join(",")
        );
    }
}
