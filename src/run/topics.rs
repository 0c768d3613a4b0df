//! Bringing the pipeline's topics in line at start: a missing topic is created with its
//! partitions, replicas and configs; an existing one gets the partitions it lacks
//! (CreatePartitions) and the configs that differ (AlterConfigs). What cannot be applied
//! (fewer partitions, another replication factor) stops the pipeline with the topic named,
//! rather than running on a topic that is not what the file says.

use anyhow::Context as _;
use weir_client::{Admin, ConfigChange, NewTopic, TopicError};
use weir_connectors::OFFSETS_TOPIC;

use super::config::Pipeline;

/// Creates or updates every `[topics.NAME]` topic, and the connectors' checkpoint topic.
pub(crate) async fn bring_in_line(admin: &Admin, pipeline: &Pipeline) -> anyhow::Result<()> {
    let mut wanted: Vec<NewTopic> = pipeline
        .topics
        .iter()
        .map(|(name, topic)| {
            let overrides = &topic.overrides;
            let mut new = NewTopic::new(
                name.clone(),
                overrides.partitions.map_or(1, |n| n as i32),
                overrides.replication_factor.map_or(1, |n| n as i16),
            );
            for (key, value) in overrides.kafka_entries() {
                new = new.with_config(key, value);
            }
            new
        })
        .collect();
    if !pipeline.sources.is_empty() {
        // Only each connector's newest checkpoint matters: compacted, as `weir connect`
        // creates it.
        wanted.push(NewTopic::new(OFFSETS_TOPIC, 1, 1).with_config("cleanup.policy", "compact"));
    }
    let outcomes = admin
        .create_topics(wanted)
        .await
        .context("creating the pipeline's topics")?;
    for (name, outcome) in outcomes {
        match outcome {
            Ok(()) => tracing::info!(topic = name, "created topic"),
            Err(TopicError::AlreadyExists { .. }) => {
                if let Some(topic) = pipeline.topics.get(&name) {
                    update(admin, &name, topic).await?;
                }
            }
            Err(error) => return Err(error).with_context(|| format!("creating topic {name}")),
        }
    }
    Ok(())
}

/// Brings an existing topic's partitions and configs to what the file says.
async fn update(
    admin: &Admin,
    name: &str,
    topic: &super::config::TopicSettings,
) -> anyhow::Result<()> {
    let described = admin
        .describe_topics(&[name.to_owned()])
        .await
        .with_context(|| format!("describing topic {name}"))?;
    let Some(described) = described.into_iter().next() else {
        anyhow::bail!("topic {name} exists but could not be described");
    };
    let overrides = &topic.overrides;
    let existing = described.partitions.len() as u32;
    if let Some(wanted) = overrides.partitions {
        if wanted < existing {
            anyhow::bail!(
                "topic {name} has {existing} partitions and the pipeline asks for {wanted}: \
                 Kafka topics cannot lose partitions (raise `partitions` to {existing}, or \
                 delete the topic)"
            );
        }
        if wanted > existing {
            admin
                .create_partitions(name, wanted as i32)
                .await
                .with_context(|| format!("growing topic {name} to {wanted} partitions"))?;
            tracing::info!(
                topic = name,
                from = existing,
                to = wanted,
                "added partitions"
            );
        }
    }
    if let Some(wanted) = overrides.replication_factor {
        let replicas = described.partitions.first().map_or(0, |p| p.replicas.len());
        if replicas != usize::from(wanted) {
            anyhow::bail!(
                "topic {name} has {replicas} replicas per partition and the pipeline asks for \
                 {wanted}: `weir run` does not reassign replicas"
            );
        }
    }
    let changes: Vec<ConfigChange> = overrides
        .kafka_entries()
        .into_iter()
        .filter(|(key, value)| {
            !described
                .configs
                .iter()
                .any(|entry| entry.name == *key && entry.value.as_deref() == Some(value))
        })
        .map(|(key, value)| ConfigChange::set(key, value))
        .collect();
    if !changes.is_empty() {
        let keys: Vec<String> = changes
            .iter()
            .map(|change| match change {
                ConfigChange::Set { name, .. } | ConfigChange::Delete { name } => name.clone(),
            })
            .collect();
        admin
            .alter_topic_configs(name, changes)
            .await
            .with_context(|| format!("changing the configs of topic {name}"))?;
        tracing::info!(
            topic = name,
            configs = keys.join(","),
            "updated topic configs"
        );
    }
    Ok(())
}
