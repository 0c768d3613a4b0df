//! The machine's PostgreSQL (127.0.0.1:5432, trust auth, database `test`) through `psql`,
//! for process-level tests: statements, single values, and a scratch schema dropped (with
//! a CDC slot and publication of the same name) however the test ends.

use std::process::Command;

/// Runs SQL through `psql` on the machine's PostgreSQL (database `test`).
pub fn psql(sql: &str) {
    let output = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "test",
            "-v",
            "ON_ERROR_STOP=1",
            "-qc",
        ])
        .arg(sql)
        .output()
        .expect("psql is needed to write rows: install postgresql-client");
    assert!(
        output.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs a query through `psql` and returns its unaligned output.
pub fn psql_value(sql: &str) -> String {
    let output = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-Atc"])
        .arg(sql)
        .output()
        .expect("psql is needed: install postgresql-client");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Drops the scratch schema (and a CDC slot and publication of the same name) when the test
/// ends, passed or not.
pub struct Schema(pub String);

impl Drop for Schema {
    fn drop(&mut self) {
        for sql in [
            format!(
                "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
                 WHERE slot_name = '{}'",
                self.0
            ),
            format!("DROP PUBLICATION IF EXISTS {}", self.0),
            format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0),
        ] {
            let _ = Command::new("psql")
                .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-qc"])
                .arg(sql)
                .output();
        }
    }
}
