//! Scratch databases for the tests: a schema in Postgres's `test` database, a database in
//! MariaDB, an SQLite file in a temporary directory; each with a name unique to the test
//! run, dropped when the test ends (even when it fails).
//!
//! The servers are expected on 127.0.0.1:5432 (trust auth, user `postgres`, database
//! `test`) and 127.0.0.1:3306 (root, no password). When one does not answer, a throwaway
//! instance is started from the installed server binaries in a temporary directory on a
//! free port; when the binaries are missing too, the test fails saying what to install.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sqlx::{Connection as _, Executor as _};

/// A database kind under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Postgres,
    Mariadb,
    Sqlite,
}

impl Kind {
    pub(crate) fn config_kind(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Mariadb => "mysql",
            Self::Sqlite => "sqlite",
        }
    }
}

/// One test's scratch space.
pub(crate) struct Scratch {
    pub(crate) kind: Kind,
    /// The schema (Postgres) or database (MariaDB) name; the SQLite file's stem.
    pub(crate) name: String,
    /// The URL the connector uses.
    pub(crate) url: String,
    /// The URL the test itself uses.
    admin_url: String,
    server_url: String,
    _dir: Option<tempfile::TempDir>,
}

fn unique_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("weir_t{}_{}_{n}", std::process::id(), nanos % 100_000)
}

impl Scratch {
    pub(crate) async fn new(kind: Kind) -> Self {
        let name = unique_name();
        match kind {
            Kind::Postgres => {
                let server = postgres_server();
                let admin_url = format!("{server}/test");
                let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
                conn.execute(format!("CREATE SCHEMA {name}").as_str())
                    .await
                    .unwrap();
                Self {
                    kind,
                    url: format!("{admin_url}?application_name={name}"),
                    admin_url,
                    server_url: server.to_owned(),
                    name,
                    _dir: None,
                }
            }
            Kind::Mariadb => {
                let server = mariadb_server();
                let mut conn = sqlx::MySqlConnection::connect(&format!("{server}/test"))
                    .await
                    .unwrap();
                conn.execute(format!("CREATE DATABASE {name}").as_str())
                    .await
                    .unwrap();
                let url = format!("{server}/{name}");
                Self {
                    kind,
                    admin_url: url.clone(),
                    url,
                    server_url: server.to_owned(),
                    name,
                    _dir: None,
                }
            }
            Kind::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join(format!("{name}.db"));
                let url = format!("sqlite://{}", path.display());
                let options: sqlx::sqlite::SqliteConnectOptions =
                    url.parse::<sqlx::sqlite::SqliteConnectOptions>().unwrap();
                let mut conn = sqlx::SqliteConnection::connect_with(
                    &options
                        .create_if_missing(true)
                        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal),
                )
                .await
                .unwrap();
                conn.execute("SELECT 1").await.unwrap();
                Self {
                    kind,
                    admin_url: url.clone(),
                    url,
                    server_url: String::new(),
                    name,
                    _dir: Some(dir),
                }
            }
        }
    }

    /// `table` as the connector names it (schema-qualified on Postgres).
    pub(crate) fn table(&self, table: &str) -> String {
        match self.kind {
            Kind::Postgres => format!("{}.{table}", self.name),
            Kind::Mariadb | Kind::Sqlite => table.to_owned(),
        }
    }

    /// Runs `sql` (one or more statements) on a new connection.
    pub(crate) async fn exec(&self, sql: &str) {
        let result = match self.kind {
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
                let sql = format!("SET search_path TO {}; {sql}", self.name);
                sqlx::raw_sql(&sql).execute(&mut c).await.map(drop)
            }
            Kind::Mariadb => {
                let mut c = sqlx::MySqlConnection::connect(&self.admin_url)
                    .await
                    .unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.map(drop)
            }
            Kind::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.admin_url)
                    .await
                    .unwrap();
                sqlx::raw_sql(sql).execute(&mut c).await.map(drop)
            }
        };
        if let Err(error) = result {
            panic!("{sql}: {error}");
        }
    }

    /// A Postgres connection with this scratch schema on its search path.
    pub(crate) async fn pg(&self) -> sqlx::PgConnection {
        let mut c = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
        c.execute(format!("SET search_path TO {}", self.name).as_str())
            .await
            .unwrap();
        c
    }

    /// A MariaDB connection on this scratch database.
    pub(crate) async fn mysql(&self) -> sqlx::MySqlConnection {
        sqlx::MySqlConnection::connect(&self.admin_url)
            .await
            .unwrap()
    }

    /// SQL for an auto-incrementing integer primary key column named `id`.
    pub(crate) fn serial(&self) -> &'static str {
        match self.kind {
            Kind::Postgres => "id bigserial PRIMARY KEY",
            Kind::Mariadb => "id bigint AUTO_INCREMENT PRIMARY KEY",
            Kind::Sqlite => "id INTEGER PRIMARY KEY AUTOINCREMENT",
        }
    }

    /// Kills every connection the connector holds: `pg_terminate_backend` on its
    /// application name, `KILL` on MariaDB sessions using the scratch database.
    pub(crate) async fn kill_connector_sessions(&self) -> u64 {
        match self.kind {
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.admin_url).await.unwrap();
                let killed: Vec<(bool,)> = sqlx::query_as(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE application_name = $1 AND pid <> pg_backend_pid()",
                )
                .bind(&self.name)
                .fetch_all(&mut c)
                .await
                .unwrap();
                killed.len() as u64
            }
            Kind::Mariadb => {
                let mut c = sqlx::MySqlConnection::connect(&format!("{}/test", self.server_url))
                    .await
                    .unwrap();
                let ids: Vec<(u64,)> = sqlx::query_as(
                    "SELECT CAST(ID AS UNSIGNED) FROM information_schema.PROCESSLIST \
                     WHERE DB = ? AND ID <> CONNECTION_ID()",
                )
                .bind(&self.name)
                .fetch_all(&mut c)
                .await
                .unwrap();
                for (id,) in &ids {
                    let _ = c.execute(format!("KILL {id}").as_str()).await;
                }
                ids.len() as u64
            }
            Kind::Sqlite => 0,
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let (kind, name, server) = (self.kind, self.name.clone(), self.server_url.clone());
        if kind == Kind::Sqlite {
            return;
        }
        // Drop runs inside the test's runtime; the cleanup gets its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                match kind {
                    Kind::Postgres => {
                        if let Ok(mut c) =
                            sqlx::PgConnection::connect(&format!("{server}/test")).await
                        {
                            let _ = c
                                .execute(format!("DROP SCHEMA {name} CASCADE").as_str())
                                .await;
                        }
                    }
                    Kind::Mariadb => {
                        if let Ok(mut c) =
                            sqlx::MySqlConnection::connect(&format!("{server}/test")).await
                        {
                            let _ = c.execute(format!("DROP DATABASE {name}").as_str()).await;
                        }
                    }
                    Kind::Sqlite => {}
                }
            });
        });
        let _ = cleanup.join();
    }
}

fn answers(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).is_ok()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A directory that lives as long as the test process (the throwaway servers' data).
fn leaked_dir() -> PathBuf {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    std::mem::forget(dir);
    path
}

fn run(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The `wal_level` of the server on 5432, when `psql` can tell.
fn machine_wal_level() -> Option<String> {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-Atc",
        ])
        .arg("SHOW wal_level")
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `postgres://postgres@127.0.0.1:PORT` of a server with a `test` database.
pub(crate) fn postgres_server() -> &'static str {
    static SERVER: OnceLock<String> = OnceLock::new();
    SERVER.get_or_init(|| {
        // The machine's server, unless it lacks logical decoding (the CDC tests need
        // it): then a throwaway instance started with it, as when nothing answers.
        if answers(5432) && machine_wal_level().is_none_or(|level| level == "logical") {
            return "postgres://postgres@127.0.0.1:5432".to_owned();
        }
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| versions.flatten().map(|v| v.path().join("bin")).max())
            .filter(|bin| bin.join("initdb").exists())
            .unwrap_or_else(|| {
                panic!(
                    "PostgreSQL does not answer on 127.0.0.1:5432 and no server binaries are \
                     installed under /usr/lib/postgresql/*/bin to start one: install \
                     postgresql (apt-get install postgresql) or start it"
                )
            });
        let dir = leaked_dir();
        let port = free_port();
        // initdb refuses to run as root; the postgres system user then owns the instance.
        let as_postgres = |program: &Path| {
            let mut command = if rustix_is_root() {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(program);
                c
            } else {
                Command::new(program)
            };
            command.env("LC_ALL", "C");
            command
        };
        let data = dir.join("data");
        if rustix_is_root() {
            run(
                Command::new("chown").args(["-R", "postgres"]).arg(&dir),
                "chown of the throwaway PostgreSQL directory",
            );
        }
        run(
            as_postgres(&bin.join("initdb"))
                .args(["-A", "trust", "-U", "postgres", "-D"])
                .arg(&data),
            "initdb",
        );
        run(
            as_postgres(&bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(dir.join("log"))
                .arg("-o")
                .arg(format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1 -c wal_level=logical",
                    dir.display()
                ))
                .args(["-w", "start"]),
            "pg_ctl start",
        );
        run(
            as_postgres(&bin.join("createdb")).args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "test",
            ]),
            "createdb test",
        );
        format!("postgres://postgres@127.0.0.1:{port}")
    })
}

/// `mysql://root@127.0.0.1:PORT` of a server with a `test` database.
pub(crate) fn mariadb_server() -> &'static str {
    static SERVER: OnceLock<String> = OnceLock::new();
    SERVER.get_or_init(|| {
        if answers(3306) {
            return "mysql://root@127.0.0.1:3306".to_owned();
        }
        let found = |name: &str| {
            ["/usr/sbin", "/usr/bin", "/usr/local/bin"]
                .iter()
                .map(|d| Path::new(d).join(name))
                .find(|p| p.exists())
        };
        let (Some(install), Some(server)) = (found("mariadb-install-db"), found("mariadbd")) else {
            panic!(
                "MariaDB does not answer on 127.0.0.1:3306 and mariadb-install-db/mariadbd \
                 are not installed to start one: install mariadb-server or start it"
            );
        };
        let dir = leaked_dir();
        let port = free_port();
        let data = dir.join("data");
        run(
            Command::new(install)
                .arg("--no-defaults")
                .arg(format!("--datadir={}", data.display()))
                .args(["--user=root", "--auth-root-authentication-method=normal"]),
            "mariadb-install-db",
        );
        // Kept for the life of the test process; the server outlives it in its temp dir.
        static CHILD: OnceLock<std::sync::Mutex<std::process::Child>> = OnceLock::new();
        let child = Command::new(server)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.join("sock").display()))
            .arg(format!("--port={port}"))
            .args([
                "--bind-address=127.0.0.1",
                "--user=root",
                "--skip-grant-tables",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start mariadbd: {e}"));
        let _ = CHILD.set(std::sync::Mutex::new(child));
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !answers(port) {
            assert!(
                std::time::Instant::now() < deadline,
                "the throwaway mariadbd did not answer within 60 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let url = format!("mysql://root@127.0.0.1:{port}");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let create = url.clone();
        std::thread::spawn(move || {
            runtime.block_on(async {
                let mut c = sqlx::MySqlConnection::connect(&create).await.unwrap();
                c.execute("CREATE DATABASE IF NOT EXISTS test")
                    .await
                    .unwrap();
            })
        })
        .join()
        .unwrap();
        url
    })
}

fn rustix_is_root() -> bool {
    std::env::var("USER").is_ok_and(|u| u == "root")
        || Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}
