//! What loading a plugin and calling it can fail with.

use std::path::PathBuf;

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The `.wasm` file could not be read.
    #[error("reading plugin {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The bytes are not a WebAssembly component wasmtime can compile.
    #[error("compiling plugin {name}: {reason}")]
    Compile {
        /// The plugin's name.
        name: String,
        /// What wasmtime reported.
        reason: String,
    },
    /// The component does not export the interface asked for, or imports something the
    /// host does not provide.
    #[error("plugin {name} is not a {kind} plugin: {reason}")]
    Interface {
        /// The plugin's name.
        name: String,
        /// `partitioner` or `consumer`.
        kind: &'static str,
        /// What wasmtime reported.
        reason: String,
    },
    /// Instantiating the plugin or its `init` trapped or ran out of time or memory.
    #[error("starting plugin {name}: {source}")]
    Start {
        /// The plugin's name.
        name: String,
        /// What went wrong.
        source: CallError,
    },
    /// The plugin's `init` refused its config.
    #[error("plugin {name} refused its config: {reason}")]
    Refused {
        /// The plugin's name.
        name: String,
        /// The plugin's reason.
        reason: String,
    },
    /// A granted directory could not be opened.
    #[error("granting directory {path} to plugin {name}: {reason}")]
    Grant {
        /// The plugin's name.
        name: String,
        /// The directory.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The plugin engine (compiler settings or cache directory) could not be set up.
    #[error("setting up the plugin engine: {0}")]
    Engine(String),
}

/// Why one call into a plugin failed. The instance is replaced after any of these but
/// [`CallError::Plugin`] and [`CallError::OutOfRange`]: a trapped instance is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The call ran past its deadline and was interrupted.
    #[error("ran past its deadline of {0:?} and was stopped")]
    Deadline(std::time::Duration),
    /// The plugin tried to grow its memory past the cap.
    #[error("hit its memory cap of {0} bytes")]
    MemoryCap(usize),
    /// The plugin trapped (a panic, an out-of-bounds access, …).
    #[error("trapped: {0}")]
    Trap(String),
    /// The plugin answered with an error of its own.
    #[error("failed: {0}")]
    Plugin(String),
    /// A partitioner answered a partition the topic does not have.
    #[error("answered partition {partition}, but the topic has {count}")]
    OutOfRange {
        /// The answer.
        partition: i32,
        /// The topic's partition count.
        count: i32,
    },
}

impl CallError {
    /// Whether the instance must be replaced before the next call.
    pub fn poisons_instance(&self) -> bool {
        matches!(self, Self::Deadline(_) | Self::MemoryCap(_) | Self::Trap(_))
    }
}
