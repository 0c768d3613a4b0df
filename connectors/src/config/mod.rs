//! The connectors' TOML: `[cluster]`, `[topics.NAME]` to create if missing, `[connect]` for
//! the host process, and one `[[sources]]` entry per connector with its `[sources.emit]`
//! policy. Read with `weir-config`, so every mistake is reported at once with file, line,
//! column and key; CEL expressions and cron schedules are compiled here, so one that does
//! not compile fails validation, not the running connector.
//!
//! ```toml
//! [cluster]
//! bootstrap = ["127.0.0.1:9092"]
//!
//! [topics.applog]          # created if missing
//! partitions = 1
//!
//! [[sources]]
//! name = "applog"
//! kind = "file"
//! paths = ["/var/log/app/*.log"]
//! topic = "applog"
//! start_at = "beginning"
//! framing = "lines"
//! [sources.emit]
//! max_records = 100
//! max_delay = "200ms"
//! when = "event.line.contains('ERROR')"
//! ```

mod emit;
mod file;
mod sql;

use std::collections::BTreeMap;
use std::path::PathBuf;

use weir_client::{Acks, PartitionerKind};
use weir_config::{ConfigErrors, Source as ConfigSource, TableReader};

pub use emit::EmitSettings;
pub use file::{FileSettings, Framing, StartAt, Watch};
pub use sql::{CdcSettings, Database, SqlMode, SqlSettings};

use crate::emit::Expression;

/// Everything a connectors file sets.
#[derive(Debug, Clone)]
pub struct ConnectConfig {
    /// `[cluster]`: where to produce.
    pub cluster: ClusterSettings,
    /// `[topics.NAME]`: topics created if missing, by name.
    pub topics: BTreeMap<String, TopicSpec>,
    /// `[connect] status_file`: where `weir connect` writes every connector's status for
    /// `weir connector list|status` (default `connect-status.json` beside the config file).
    pub status_file: PathBuf,
    /// `[[sources]]`, in file order.
    pub sources: Vec<SourceSettings>,
}

/// `[cluster]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSettings {
    /// `bootstrap`: `host:port` of brokers to learn the cluster from.
    pub bootstrap: Vec<String>,
}

/// `[topics.NAME]`: created with these settings if it does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicSpec {
    /// `partitions` (default 1).
    pub partitions: i32,
    /// `replication_factor` (default 1).
    pub replication_factor: i16,
}

/// One `[[sources]]` entry: a connector.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    /// `name`: unique; names the checkpoint and the status.
    pub name: String,
    /// `topic`: where events go.
    pub topic: String,
    /// `dead_letter_topic`: where events that cannot be produced go (default `NAME.dead-letter`).
    pub dead_letter_topic: String,
    /// `acks`: `"0"`, `"1"` or `"all"` (default all).
    pub acks: Acks,
    /// `partitioner`: `"default"` (murmur2 of the key, sticky without one) or `"round_robin"`.
    pub partitioner: PartitionerKind,
    /// `key`: a CEL expression giving each event's key; none by default.
    pub key: Option<Expression>,
    /// `[sources.emit]`.
    pub emit: EmitSettings,
    /// What kind of source, with its own settings.
    pub kind: SourceKind,
}

/// The kinds of source, each with its settings.
#[derive(Debug, Clone)]
pub enum SourceKind {
    /// `kind = "file"`.
    File(FileSettings),
    /// `kind = "postgres" | "mysql" | "sqlite"`.
    Sql(SqlSettings),
}

impl SourceKind {
    /// The `kind` as written.
    pub fn name(&self) -> &'static str {
        match self {
            Self::File(_) => "file",
            Self::Sql(sql) => sql.database.kind(),
        }
    }
}

const KINDS: [(&str, &str); 5] = [
    ("file", "file"),
    ("sql", "sql"),
    ("postgres", "postgres"),
    ("mysql", "mysql"),
    ("sqlite", "sqlite"),
];
const ACKS: [(&str, Acks); 4] = [
    ("0", Acks::None),
    ("1", Acks::Leader),
    ("all", Acks::All),
    ("-1", Acks::All),
];
const PARTITIONERS: [(&str, PartitionerKind); 2] = [
    ("default", PartitionerKind::Default),
    ("round_robin", PartitionerKind::RoundRobin),
];

impl ConnectConfig {
    /// Reads and checks the file at `path`.
    pub fn load(path: impl Into<PathBuf>) -> Result<Self, ConfigErrors> {
        Self::parse(&ConfigSource::load(path)?)
    }

    /// Reads and checks a file already in memory; relative paths are taken relative to the
    /// directory of `source.file`.
    pub fn parse(source: &ConfigSource) -> Result<Self, ConfigErrors> {
        source.read(|root| {
            let cluster = match root.table("cluster") {
                Some(mut table) => read_cluster(&mut table),
                None => {
                    root.reject_table("[cluster] with bootstrap = [\"host:port\"] is missing");
                    ClusterSettings {
                        bootstrap: Vec::new(),
                    }
                }
            };
            let mut status_file = source.directory().join("connect-status.json");
            if let Some(mut connect) = root.table("connect")
                && let Some(path) = connect.file_path("status_file")
            {
                status_file = path;
            }
            let mut topics = BTreeMap::new();
            for (name, mut table) in root.named_tables("topics") {
                topics.insert(name, read_topic(&mut table));
            }
            let mut sources: Vec<SourceSettings> = Vec::new();
            for mut table in root.array_of_tables("sources") {
                if let Some(settings) = SourceSettings::read(&mut table, &sources) {
                    sources.push(settings);
                }
            }
            Self {
                cluster,
                topics,
                status_file,
                sources,
            }
        })
    }
}

fn read_cluster(table: &mut TableReader<'_>) -> ClusterSettings {
    let listed = table.strings("bootstrap");
    let bootstrap = table.ensure(
        "bootstrap",
        listed,
        "a non-empty list of \"host:port\"",
        |list: &Vec<String>| !list.is_empty() && list.iter().all(|a| a.contains(':')),
    );
    if !table.has("bootstrap") {
        table.reject_table("bootstrap = [\"host:port\", …] is required");
    }
    ClusterSettings {
        bootstrap: bootstrap.unwrap_or_default(),
    }
}

fn read_topic(table: &mut TableReader<'_>) -> TopicSpec {
    TopicSpec {
        partitions: table.integer("partitions", 1..=i32::MAX).unwrap_or(1),
        replication_factor: table
            .integer("replication_factor", 1..=i16::MAX)
            .unwrap_or(1),
    }
}

impl SourceSettings {
    /// Reads one `[[sources]]` entry (of a connectors file or a `weir run` pipeline);
    /// `earlier` are the entries before it, whose names it must not repeat.
    pub fn read(table: &mut TableReader<'_>, earlier: &[SourceSettings]) -> Option<Self> {
        let settings = read_source(table)?;
        if earlier.iter().any(|other| other.name == settings.name) {
            table.reject(
                "name",
                format!("another source is already named {:?}", settings.name),
            );
        }
        Some(settings)
    }
}

fn read_source(table: &mut TableReader<'_>) -> Option<SourceSettings> {
    let name = table.string("name");
    let name = table.ensure(
        "name",
        name,
        "a non-empty name of letters, digits, '.', '_' and '-'",
        |name: &String| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        },
    );
    let topic = table.string("topic");
    let topic = table.ensure("topic", topic, "a topic name", |t| !t.is_empty());
    let kind = table.one_of("kind", &KINDS);
    let dead_letter_topic = table.string("dead_letter_topic");
    let acks = table.one_of("acks", &ACKS).unwrap_or(Acks::All);
    let partitioner = table
        .one_of("partitioner", &PARTITIONERS)
        .unwrap_or_default();
    let database = match kind {
        Some("postgres") => Some(Database::Postgres),
        Some("mysql") => Some(Database::Mysql),
        Some("sqlite") => Some(Database::Sqlite),
        // The database named by the url's scheme, so switching databases is one line.
        Some("sql") => {
            let url = table.string("url");
            let database = url.as_deref().and_then(Database::of_url);
            if url.is_some() && database.is_none() {
                table.reject(
                    "url",
                    "with kind = \"sql\" the url must start with postgres://, mysql:// \
                     or sqlite:",
                );
            }
            database
        }
        _ => None,
    };
    // A database source names its key columns (`key = ["customer_id"]`), read with its
    // settings; the key expression is built from them.
    let key = match database {
        Some(_) => None,
        None => table
            .string("key")
            .and_then(|text| compile(table, "key", &text)),
    };
    let emit = match table.table("emit") {
        Some(mut emit) => EmitSettings::read(&mut emit),
        None => Some(EmitSettings::default()),
    };
    let (kind, key) = match (kind, database) {
        (_, Some(database)) => {
            let connector = name.clone().unwrap_or_default();
            let sql = SqlSettings::read(table, database, &connector)?;
            // A CDC source keys each change by its row image itself (`after`, or `before`
            // for a delete), by `key` or else the primary key.
            let key = if matches!(sql.mode, SqlMode::Cdc(_)) {
                None
            } else {
                key_expression(&sql.key_columns).and_then(|text| compile(table, "key", &text))
            };
            (SourceKind::Sql(sql), key)
        }
        (Some("file"), None) => (SourceKind::File(FileSettings::read(table)?), key),
        (Some(_), None) => return None,
        (None, None) => {
            if !table.has("kind") {
                table.reject_table(
                    "kind = \"file\", \"sql\", \"postgres\", \"mysql\" or \"sqlite\" is required",
                );
            }
            return None;
        }
    };
    for key in ["name", "topic"] {
        if !table.has(key) {
            table.reject_table(format!("{key} is required"));
        }
    }
    let (name, topic, emit) = (name?, topic?, emit?);
    Some(SourceSettings {
        dead_letter_topic: dead_letter_topic.unwrap_or_else(|| format!("{name}.dead-letter")),
        name,
        topic,
        acks,
        partitioner,
        key,
        emit,
        kind,
    })
}

/// The CEL expression giving a key from row columns: one column's value, or several joined
/// with `|`.
fn key_expression(columns: &[String]) -> Option<String> {
    match columns {
        [] => None,
        [column] => Some(format!("event.value[{}]", cel_string(column))),
        columns => Some(
            columns
                .iter()
                .map(|c| format!("string(event.value[{}])", cel_string(c)))
                .collect::<Vec<_>>()
                .join(" + '|' + "),
        ),
    }
}

fn cel_string(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Compiles the CEL expression at `key`, reporting a syntax error at that key.
pub(crate) fn compile(table: &mut TableReader<'_>, key: &str, text: &str) -> Option<Expression> {
    match Expression::compile(text) {
        Ok(expression) => Some(expression),
        Err(error) => {
            table.reject(key, format!("CEL expression does not compile: {error}"));
            None
        }
    }
}
