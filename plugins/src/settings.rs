//! How one plugin instance runs: its deadline per call, its memory cap, what it may reach
//! outside its sandbox (nothing unless granted), and its own `[config]` values.

use std::path::PathBuf;
use std::time::Duration;

use weir_config::TableReader;

/// The settings of one plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSettings {
    /// The longest one call (a partition call, a batch) may run before it is interrupted.
    pub deadline: Duration,
    /// The most linear memory the plugin may grow to, in bytes.
    pub memory_limit: usize,
    /// What the plugin may reach outside its sandbox.
    pub grants: Grants,
    /// The plugin's `[config]` table, flattened to strings; given to its `init`.
    pub config: Vec<(String, String)>,
}

impl Default for PluginSettings {
    fn default() -> Self {
        Self {
            deadline: Duration::from_millis(100),
            memory_limit: 64 << 20,
            grants: Grants::default(),
            config: Vec::new(),
        }
    }
}

/// What a plugin may reach; all empty (nothing) by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Host directories opened read-only to the plugin, at the same path inside.
    pub read_dirs: Vec<PathBuf>,
    /// Environment variables passed through, by name.
    pub env: Vec<String>,
    /// Whether the plugin may open TCP/UDP sockets and resolve names.
    pub network: bool,
}

/// How a file spells keys of several words: the consumer runner's own file writes
/// `memory-limit`, a `weir run` pipeline (like the rest of weir's TOML) `memory_limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStyle {
    /// `dead-letter-topic`.
    Kebab,
    /// `dead_letter_topic`.
    Snake,
}

impl KeyStyle {
    /// `kebab` (a key written with dashes) in this style.
    pub fn key(self, kebab: &str) -> String {
        match self {
            Self::Kebab => kebab.to_owned(),
            Self::Snake => kebab.replace('-', "_"),
        }
    }
}

impl PluginSettings {
    /// Reads `deadline`, `memory-limit`, a `[grants]` table (`read-dirs`, `env`,
    /// `network`) and a free-form `[config]` table from `table`, with keys spelled in
    /// `style`; absent keys keep the defaults given.
    pub fn read(
        table: &mut TableReader<'_>,
        defaults: PluginSettings,
        style: KeyStyle,
    ) -> PluginSettings {
        let mut settings = defaults;
        let deadline = table.duration("deadline");
        if let Some(deadline) = table.ensure("deadline", deadline, "more than 0", |d| !d.is_zero())
        {
            settings.deadline = deadline;
        }
        let memory_limit = style.key("memory-limit");
        let limit = table.size(&memory_limit);
        if let Some(limit) = table.ensure(&memory_limit, limit, "at least 1MiB", |n| *n >= 1 << 20)
        {
            settings.memory_limit = usize::try_from(limit).unwrap_or(usize::MAX);
        }
        if let Some(mut grants) = table.table("grants") {
            if let Some(dirs) = grants.file_paths(&style.key("read-dirs")) {
                settings.grants.read_dirs = dirs;
            }
            if let Some(env) = grants.strings("env") {
                settings.grants.env = env;
            }
            if let Some(network) = grants.bool("network") {
                settings.grants.network = network;
            }
        }
        if let Some(config) = table.string_map("config") {
            settings.config = config;
        }
        settings
    }
}
