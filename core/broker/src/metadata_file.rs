//! The broker's metadata file (`weir-metadata` in the first log directory): the cluster id
//! and every topic's id, partition count and config overrides, one line per fact, written
//! to a temporary name, synced and renamed.
//!
//! ```text
//! cluster <id>
//! topic <name> <uuid> <partitions>
//! config <topic> <kafka config name> <value>
//! ```

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use uuid::Uuid;
use weir_log::IoError;

/// What the file says about one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicRecord {
    pub(crate) name: String,
    pub(crate) id: Uuid,
    pub(crate) partitions: u32,
    pub(crate) configs: Vec<(String, String)>,
}

/// The file's contents.
#[derive(Debug, Default)]
pub(crate) struct Metadata {
    pub(crate) cluster_id: Option<String>,
    pub(crate) topics: Vec<TopicRecord>,
}

/// The metadata file at one path.
#[derive(Debug)]
pub(crate) struct MetadataFile {
    path: PathBuf,
}

/// A fresh cluster id: 22 URL-safe characters, like Kafka's.
pub(crate) fn new_cluster_id() -> String {
    let bytes = Uuid::new_v4().into_bytes();
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut value = u128::from_be_bytes(bytes);
    (0..22)
        .map(|_| {
            let c = alphabet[(value & 63) as usize] as char;
            value >>= 6;
            c
        })
        .collect()
}

impl MetadataFile {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// Reads the file; an absent file is an empty broker. Lines that do not parse are
    /// reported and skipped rather than losing the whole file.
    pub(crate) fn load(&self) -> Result<Metadata, IoError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Metadata::default()),
            Err(e) => return Err(IoError::new("reading", &self.path, e)),
        };
        let mut metadata = Metadata::default();
        for (number, line) in text.lines().enumerate() {
            let fields: Vec<&str> = line.split(' ').collect();
            match fields[..] {
                ["cluster", id] => metadata.cluster_id = Some(id.to_string()),
                ["topic", name, id, partitions] => {
                    match (Uuid::parse_str(id), partitions.parse()) {
                        (Ok(id), Ok(partitions)) => metadata.topics.push(TopicRecord {
                            name: name.to_string(),
                            id,
                            partitions,
                            configs: Vec::new(),
                        }),
                        _ => warn_line(&self.path, number, line),
                    }
                }
                ["config", topic, name, value] => {
                    match metadata.topics.iter_mut().find(|t| t.name == topic) {
                        Some(t) => t.configs.push((name.to_string(), value.to_string())),
                        None => warn_line(&self.path, number, line),
                    }
                }
                [""] => {}
                _ => warn_line(&self.path, number, line),
            }
        }
        Ok(metadata)
    }

    /// Replaces the file atomically.
    pub(crate) fn save(&self, cluster_id: &str, topics: &[TopicRecord]) -> Result<(), IoError> {
        let mut text = format!("cluster {cluster_id}\n");
        for topic in topics {
            text.push_str(&format!(
                "topic {} {} {}\n",
                topic.name, topic.id, topic.partitions
            ));
            for (name, value) in &topic.configs {
                text.push_str(&format!("config {} {name} {value}\n", topic.name));
            }
        }
        let tmp = self.path.with_extension("tmp");
        let mut file = fs::File::create(&tmp).map_err(|e| IoError::new("creating", &tmp, e))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|e| IoError::new("writing", &tmp, e))?;
        fs::rename(&tmp, &self.path).map_err(|e| IoError::new("renaming", &tmp, e))?;
        let dir = self.path.parent().unwrap_or(std::path::Path::new("."));
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| IoError::new("syncing directory", dir, e))
    }
}

fn warn_line(path: &std::path::Path, number: usize, line: &str) {
    tracing::warn!(file = %path.display(), line = number + 1, content = line, "ignoring a malformed metadata line");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let file = MetadataFile::new(dir.path().join("weir-metadata"));
        assert!(file.load().unwrap().topics.is_empty());
        let topics = vec![TopicRecord {
            name: "orders".into(),
            id: Uuid::new_v4(),
            partitions: 3,
            configs: vec![("retention.ms".into(), "1000".into())],
        }];
        file.save("abc", &topics).unwrap();
        let loaded = file.load().unwrap();
        assert_eq!(loaded.cluster_id.as_deref(), Some("abc"));
        assert_eq!(loaded.topics, topics);
        assert_eq!(new_cluster_id().len(), 22);
    }
}
