//! What can stop a database source, each naming the cause in the user's terms (the table,
//! the column, the query, the URL without its password).

/// A database source could not go on.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The database could not be reached or refused the connection at start.
    #[error("cannot connect to {url}: {error}")]
    Connect {
        /// The URL, password hidden.
        url: String,
        /// What sqlx said.
        error: sqlx::Error,
    },
    /// The configured table does not exist.
    #[error("table {table} does not exist")]
    MissingTable {
        /// The table as configured.
        table: String,
    },
    /// A configured column is not in the table.
    #[error("table {table} has no column {column} (it has: {columns})")]
    MissingColumn {
        /// The table.
        table: String,
        /// The missing column.
        column: String,
        /// The columns it does have, comma-separated.
        columns: String,
    },
    /// A query failed for a reason other than a lost connection.
    #[error("query failed: {error}; the query was: {sql}")]
    Query {
        /// The SQL text.
        sql: String,
        /// What the database said.
        error: sqlx::Error,
    },
    /// A custom query's rows lack the cursor column.
    #[error("the query's rows have no column {column} to take the cursor from")]
    MissingCursorColumn {
        /// The configured cursor column.
        column: String,
    },
    /// `LISTEN` or the notify trigger could not be set up.
    #[error("setting up notifications on channel {channel}: {error}")]
    Notify {
        /// The channel.
        channel: String,
        /// What the database said.
        error: sqlx::Error,
    },
    /// Logical decoding is off on the server.
    #[error(
        "change data capture needs wal_level = logical, but the server has wal_level = {current}: \
         run ALTER SYSTEM SET wal_level = logical; as a superuser, then restart PostgreSQL \
         (for example pg_ctlcluster <version> main restart, or systemctl restart postgresql)"
    )]
    WalLevel {
        /// The server's setting.
        current: String,
    },
    /// The replication slot exists but cannot be this connector's.
    #[error("replication slot {slot} cannot be used by connector {connector}: {reason}")]
    SlotTaken {
        /// The slot.
        slot: String,
        /// This connector.
        connector: String,
        /// Why: another plugin or database, or the connector that owns it.
        reason: String,
    },
    /// The publication belongs to another connector.
    #[error(
        "publication {publication} belongs to connector {owner}, not {connector}; \
         set publication = \"…\" and slot = \"…\" to names of this connector's own"
    )]
    PublicationTaken {
        /// The publication.
        publication: String,
        /// The connector named in its comment.
        owner: String,
        /// This connector.
        connector: String,
    },
    /// The slot sent a message the decoder cannot read.
    #[error("decoding replication slot {slot}: {error}")]
    Decode {
        /// The slot.
        slot: String,
        /// What could not be decoded.
        error: super::cdc::DecodeError,
    },
    /// A change refers to a relation no Relation message described.
    #[error("replication slot {slot} sent a change for unknown relation {relation}")]
    UnknownRelation {
        /// The slot.
        slot: String,
        /// The relation id.
        relation: u32,
    },
}

/// Whether `error` means the connection went away (the server restarted, an administrator
/// killed the session), so reconnecting may help; anything else is a real failure.
pub(crate) fn is_connection_lost(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(database) => {
            let code = database.code().unwrap_or_default();
            // Postgres: class 08 (connection exception), 57P01..57P03 (admin shutdown,
            // crash shutdown, cannot connect now).
            if code.starts_with("08") || code.starts_with("57P") {
                return true;
            }
            // MySQL/MariaDB: 1927 connection killed, 1053 server shutdown, 2006/2013 gone.
            database
                .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                .is_some_and(|e| matches!(e.number(), 1927 | 1053 | 2006 | 2013))
        }
        _ => false,
    }
}

/// `url` with any password replaced by `***`, for messages and logs.
pub(crate) fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let Some(at) = rest.find('@') else {
        return url.to_owned();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end + 3],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_the_password() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
    }
}
