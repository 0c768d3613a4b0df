//! The end-to-end harness: runs `weir broker` as a real process on a free loopback port with
//! its own data directory, stops it gracefully (SIGTERM) or hard (SIGKILL), restarts it on the
//! same directory and port, and checks its log: a test fails if the broker logged an `ERROR`
//! or panicked, whatever the test itself asserted.
//!
//! Each test crate includes this with `mod support;` and uses what it needs.

#![allow(dead_code, unreachable_pub)]

pub mod cluster;
pub mod kafka;
pub mod postgres;
pub mod slow_disk;
pub mod unavailability;
pub mod wire;

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

/// How long a broker may take to start accepting connections, or to exit after SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(20);
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Lines of the broker's log that fail a test: logged errors, panics, and the Rust runtime's
/// own last words before an abort.
const BAD_LOG_MARKERS: &[&str] = &[
    " ERROR ",
    "panicked at",
    "memory allocation of",
    "fatal runtime error",
];

/// `ERROR` lines that are not failures: openraft reports every RPC to a controller that is
/// down (killed by the test, or stopping at its end) as an error.
const EXPECTED_ERRORS: &[(&str, &str)] = &[("openraft::", "Unreachable node")];

/// Also expected of a broker in its own network namespace, which the network-partition tests
/// cut off: an RPC whose packets vanish times out (after the Raft heartbeat) instead of being
/// refused.
const EXPECTED_WHEN_PARTITIONED: &[(&str, &str)] =
    &[("openraft::replication", "RPCError err=timeout after")];

/// A `weir broker` process and everything it owns: its port, config file, data directory and
/// log file. Dropping it kills the broker and checks its log.
pub struct Broker {
    child: Option<Child>,
    /// The address it listens on: loopback, or its own in a network namespace.
    host: String,
    /// What runs `weir` (empty: run it directly; `ip netns exec NS`: in a namespace).
    launcher: Vec<String>,
    port: u16,
    dir: tempfile::TempDir,
    config: PathBuf,
    log: PathBuf,
}

impl Broker {
    /// Starts a broker with Kafka's defaults.
    pub fn start() -> Self {
        Self::start_with("", "")
    }

    /// Starts a broker whose TOML has `broker_extra` appended to its `[broker]` table and
    /// `tables` (e.g. `[topics.NAME]` sections) after it.
    pub fn start_with(broker_extra: &str, tables: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("weir-itest-")
            .tempdir()
            .expect("creating a temporary directory");
        let config = dir.path().join("weir.toml");
        let log = dir.path().join("broker.log");
        let mut broker = Self {
            child: None,
            host: "127.0.0.1".to_owned(),
            launcher: Vec::new(),
            port: 0,
            dir,
            config,
            log,
        };
        // A port from the kernel can be taken by someone else before the broker binds it:
        // try a few.
        for _ in 0..5 {
            broker.port = free_port();
            let text = format!(
                "[broker]\nlisteners = [\"{}\"]\nlog_dirs = [\"{}\"]\n{broker_extra}\n{tables}\n",
                broker.addr(),
                broker.data_dir().display()
            );
            std::fs::write(&broker.config, text).expect("writing the broker config");
            match broker.spawn_and_wait() {
                Ok(()) => return broker,
                Err(why) if why.contains("Address already in use") => {
                    eprintln!("port {} taken, trying another", broker.port);
                }
                Err(why) => panic!("{why}"),
            }
        }
        panic!("no free port for the broker after 5 tries");
    }

    /// Starts a broker on `port` whose `[broker]` table gets `broker_extra` (a cluster node
    /// needs its ports known before it starts); an error if it does not come up.
    pub fn start_on(port: u16, broker_extra: &str) -> Result<Self, String> {
        Self::start_placed("127.0.0.1", &[], port, broker_extra)
    }

    /// Like [`Broker::start_on`], listening on `host` and started through `launcher` (such
    /// as `ip netns exec NS`, to run it in a network namespace).
    pub fn start_placed(
        host: &str,
        launcher: &[String],
        port: u16,
        broker_extra: &str,
    ) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("weir-itest-")
            .tempdir()
            .expect("creating a temporary directory");
        let config = dir.path().join("weir.toml");
        let log = dir.path().join("broker.log");
        let mut broker = Self {
            child: None,
            host: host.to_owned(),
            launcher: launcher.to_vec(),
            port,
            dir,
            config,
            log,
        };
        let text = format!(
            "[broker]\nlisteners = [\"{}\"]\nlog_dirs = [\"{}\"]\n{broker_extra}\n",
            broker.addr(),
            broker.data_dir().display()
        );
        std::fs::write(&broker.config, text).expect("writing the broker config");
        broker.spawn_and_wait()?;
        Ok(broker)
    }

    /// Whether the broker process is running (not killed or stopped).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// `HOST:PORT` (`127.0.0.1` unless placed elsewhere), for `bootstrap.servers` and raw
    /// sockets.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The broker's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The broker's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Stops the broker with SIGTERM and waits for it to exit; it must exit with success.
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("the broker is not running");
        signal(&child, Signal::TERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait().expect("waiting for the broker") {
                Some(status) => {
                    assert!(
                        status.success(),
                        "broker exited with {status} after SIGTERM\n{}",
                        self.log_tail()
                    );
                    return;
                }
                None if Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "broker did not exit within {STOP_TIMEOUT:?} of SIGTERM\n{}",
                        self.log_tail()
                    );
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }

    /// Kills the broker with SIGKILL: no clean shutdown, as after a crash.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("the broker is not running");
        child.kill().expect("sending SIGKILL to the broker");
        child.wait().expect("waiting for the killed broker");
    }

    /// Freezes the broker (SIGSTOP): its sockets stay open but it answers nothing, as a
    /// hung process would, until [`Broker::resume`].
    pub fn pause(&mut self) {
        signal(
            self.child.as_ref().expect("the broker is not running"),
            Signal::STOP,
        );
    }

    /// Lets a paused broker run again (SIGCONT).
    pub fn resume(&mut self) {
        signal(
            self.child.as_ref().expect("the broker is not running"),
            Signal::CONT,
        );
    }

    /// Starts the broker again on the same port, config and data directory.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart: the broker is still running");
        self.spawn_and_wait().unwrap_or_else(|why| panic!("{why}"));
    }

    /// Everything the broker wrote to stderr, over all its runs.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The lines of the log that fail a test (`ERROR`, panics).
    pub fn bad_log_lines(&self) -> Vec<String> {
        self.log_text()
            .lines()
            .filter(|line| BAD_LOG_MARKERS.iter().any(|m| line.contains(m)))
            .filter(|line| {
                let partitioned = if self.launcher.is_empty() {
                    &[][..]
                } else {
                    EXPECTED_WHEN_PARTITIONED
                };
                !EXPECTED_ERRORS
                    .iter()
                    .chain(partitioned)
                    .any(|(source, what)| line.contains(source) && line.contains(what))
            })
            .map(str::to_string)
            .collect()
    }

    /// Fails the test if the broker logged an error or panicked so far.
    pub fn assert_clean_log(&self) {
        let bad = self.bad_log_lines();
        assert!(
            bad.is_empty(),
            "the broker logged errors:\n{}\n--- full log: {}",
            bad.join("\n"),
            self.log.display()
        );
    }

    fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(40);
        format!(
            "--- broker log (last lines) ---\n{}",
            lines[from..].join("\n")
        )
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let logged = self.log_text().len();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("opening {}: {e}", self.log.display()))?;
        writeln!(
            &log,
            "=== weir-itest: starting broker on port {}",
            self.port
        )
        .map_err(|e| e.to_string())?;
        let weir = env!("CARGO_BIN_EXE_weir");
        let mut command = match self.launcher.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(weir);
                command
            }
            None => Command::new(weir),
        };
        let child = command
            .arg("broker")
            .arg("--config")
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().map_err(|e| e.to_string())?))
            .stderr(Stdio::from(log))
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", env!("CARGO_BIN_EXE_weir")))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            // Listening, by its own word (not someone else on a reused port), and connectable.
            let listening = self.log_text()[logged..].contains("listening");
            if listening
                && TcpStream::connect_timeout(
                    &self.addr().parse().expect("a socket address"),
                    Duration::from_millis(200),
                )
                .is_ok()
            {
                return Ok(());
            }
            let child = self.child.as_mut().expect("just spawned");
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                self.child = None;
                return Err(format!(
                    "broker exited with {status} before accepting connections\n{}",
                    self.log_tail()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "broker did not accept connections within {START_TIMEOUT:?}\n{}",
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
            // The test failed: show what the broker said, to explain it.
            eprintln!("{}", self.log_tail());
            let bad = self.bad_log_lines();
            if !bad.is_empty() {
                eprintln!("--- broker ERROR lines ---\n{}", bad.join("\n"));
            }
            // Keep the data directory and log for a look.
            let kept = self.dir.path().to_path_buf();
            std::mem::forget(std::mem::replace(
                &mut self.dir,
                tempfile::tempdir().expect("a temporary directory"),
            ));
            eprintln!("--- broker files kept in {}", kept.display());
        } else {
            // A graceful stop at the end of every test exercises shutdown too.
            if self.child.is_some() {
                self.stop();
            }
            self.assert_clean_log();
        }
    }
}

fn signal(child: &Child, signal: Signal) {
    let pid = Pid::from_raw(child.id() as i32).expect("a child's pid is positive");
    kill_process(pid, signal).expect("signalling the broker");
}

/// A loopback port nobody listened on a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("binding an ephemeral port")
        .port()
}

/// The path of `tool`, or a failure that says how to install it. Tests never skip.
pub fn require_tool(tool: &str, install: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!("`{tool}` is not installed and this test needs it: run `{install}`")
        })
}

/// A unique topic name for a test.
pub fn topic_name(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// The peak resident memory of a process in KiB (`VmHWM`), if it runs.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let mut text = String::new();
    File::open(format!("/proc/{pid}/status"))
        .ok()?
        .read_to_string(&mut text)
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Whether `path` exists (for checking clean-shutdown markers and such).
pub fn exists(path: &Path) -> bool {
    path.exists()
}
