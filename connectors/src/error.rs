//! The ways a connector fails.

use std::path::PathBuf;

/// A source could not go on.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A file or directory could not be read where the source cannot go on without it.
    #[error("{path}: {error}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What the OS said.
        error: std::io::Error,
    },
    /// A glob in `paths` is not valid.
    #[error("bad glob {pattern:?}: {error}")]
    Glob {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        error: String,
    },
    /// A database source failed.
    #[error(transparent)]
    Sql(#[from] crate::sql::SqlError),
    /// The source's reader stopped (its thread ended).
    #[error("the source's reader stopped")]
    Stopped,
}

/// A connector stopped.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// Its source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A record could not be delivered, so the checkpoint cannot move past it.
    #[error("delivering to {topic}: {error}")]
    Delivery {
        /// The topic.
        topic: String,
        /// What the client said.
        error: weir_client::Error,
    },
    /// The checkpoint topic could not be read or written.
    #[error("checkpoint in {topic}: {error}")]
    Checkpoint {
        /// The checkpoint topic.
        topic: String,
        /// What the client said.
        error: weir_client::Error,
    },
    /// A topic could not be created.
    #[error("creating topic {topic}: {error}")]
    CreateTopic {
        /// The topic.
        topic: String,
        /// What the admin client or the broker said.
        error: String,
    },
    /// The client could not be set up.
    #[error("starting the client: {0}")]
    Client(weir_client::Error),
}
