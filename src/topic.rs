//! `weir topic create|list|describe|delete|alter`: topics through the admin client.

use anyhow::Context as _;
use clap::{Args, Subcommand};
use weir_client::{ConfigChange, ConfigSource, NewTopic, TopicError};

use crate::cluster_args::ClusterArgs;
use crate::table::Table;

/// `weir topic`.
#[derive(Args)]
pub(crate) struct TopicArgs {
    #[command(subcommand)]
    action: TopicAction,
    #[command(flatten)]
    cluster: ClusterArgs,
}

#[derive(Subcommand)]
enum TopicAction {
    /// Creates a topic.
    Create {
        /// The topic.
        name: String,
        /// The partition count (the broker's num.partitions when not given).
        #[arg(long, short)]
        partitions: Option<i32>,
        /// Replicas per partition (the broker's default when not given).
        #[arg(long, short)]
        replication_factor: Option<i16>,
        /// A topic config, KEY=VALUE in Kafka's spelling (retention.ms=3600000); repeatable.
        #[arg(long = "config", short, value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
        /// Succeed when the topic already exists.
        #[arg(long)]
        if_not_exists: bool,
    },
    /// Lists topic names, one a line.
    List,
    /// Shows partitions (leader, replicas, in-sync replicas) and configs of topics.
    Describe {
        /// The topics.
        #[arg(required = true)]
        names: Vec<String>,
        /// Show every config, not only the topic's own overrides.
        #[arg(long)]
        all_configs: bool,
    },
    /// Deletes topics.
    Delete {
        /// The topics.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Sets or removes a topic's configs and grows its partition count.
    Alter {
        /// The topic.
        name: String,
        /// Sets a config, KEY=VALUE; repeatable.
        #[arg(long = "set", value_parser = parse_key_value)]
        set: Vec<(String, String)>,
        /// Removes the topic's override of a config; repeatable.
        #[arg(long = "delete")]
        delete: Vec<String>,
        /// Grows the topic to this many partitions.
        #[arg(long, short)]
        partitions: Option<i32>,
    },
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

pub(crate) async fn run(args: TopicArgs) -> anyhow::Result<()> {
    let admin = args.cluster.admin()?;
    match args.action {
        TopicAction::Create {
            name,
            partitions,
            replication_factor,
            configs,
            if_not_exists,
        } => {
            let mut topic = NewTopic::new(
                name.clone(),
                partitions.unwrap_or(-1),
                replication_factor.unwrap_or(-1),
            );
            topic.configs = configs;
            for (topic, outcome) in admin.create_topics(vec![topic]).await? {
                match outcome {
                    Ok(()) => println!("created {topic}"),
                    Err(TopicError::AlreadyExists { .. }) if if_not_exists => {
                        println!("{topic} exists")
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        TopicAction::List => {
            for topic in admin.list_topics().await? {
                println!("{topic}");
            }
        }
        TopicAction::Describe { names, all_configs } => {
            let described = admin.describe_topics(&names).await?;
            for (i, topic) in described.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                println!("{}  partitions: {}", topic.name, topic.partitions.len());
                let mut table = Table::new(vec!["PARTITION", "LEADER", "REPLICAS", "ISR"]);
                for p in &topic.partitions {
                    table.row(vec![
                        p.partition.to_string(),
                        p.leader.map_or("none".to_string(), |l| l.to_string()),
                        join(&p.replicas),
                        join(&p.isr),
                    ]);
                }
                table.print()?;
                let mut configs = Table::new(vec!["CONFIG", "VALUE", "SOURCE"]);
                for c in &topic.configs {
                    if !all_configs && c.source != ConfigSource::Topic {
                        continue;
                    }
                    configs.row(vec![
                        c.name.clone(),
                        c.value.clone().unwrap_or_else(|| "(hidden)".to_string()),
                        source_name(c.source).to_string(),
                    ]);
                }
                println!();
                configs.print()?;
            }
        }
        TopicAction::Delete { names } => {
            let mut failed = None;
            for (topic, outcome) in admin.delete_topics(&names).await? {
                match outcome {
                    Ok(()) => println!("deleted {topic}"),
                    Err(e) => failed = failed.or(Some(e)),
                }
            }
            if let Some(e) = failed {
                return Err(e.into());
            }
        }
        TopicAction::Alter {
            name,
            set,
            delete,
            partitions,
        } => {
            if set.is_empty() && delete.is_empty() && partitions.is_none() {
                anyhow::bail!("topic alter needs --set, --delete or --partitions");
            }
            let changes: Vec<ConfigChange> = set
                .into_iter()
                .map(|(k, v)| ConfigChange::set(k, v))
                .chain(delete.into_iter().map(ConfigChange::delete))
                .collect();
            if !changes.is_empty() {
                admin
                    .alter_topic_configs(&name, changes)
                    .await
                    .context("changing configs")?;
            }
            if let Some(total) = partitions {
                admin
                    .create_partitions(&name, total)
                    .await
                    .context("growing partitions")?;
            }
            println!("altered {name}");
        }
    }
    Ok(())
}

fn join(nodes: &[i32]) -> String {
    nodes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn source_name(source: ConfigSource) -> &'static str {
    match source {
        ConfigSource::Topic => "topic",
        ConfigSource::Broker => "broker",
        ConfigSource::Default => "default",
        ConfigSource::Unknown(_) => "unknown",
    }
}
