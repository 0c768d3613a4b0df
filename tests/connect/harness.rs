//! `weir connect` as a real process beside a real broker: writes the connectors' TOML,
//! starts, SIGTERMs or SIGKILLs the process, reads its status through `weir connector`, and
//! reads topics back (with headers) through `weir-client`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use weir_client::{Consumer, ConsumerConfig, ConsumerRecord, OffsetReset};

/// How long a test waits for records to arrive.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// A `weir connect` process and its files.
pub(crate) struct Connect {
    child: Option<Child>,
    pub config: PathBuf,
    log: PathBuf,
    starts: u32,
    /// Whether file permissions bind the process even when the tests run as root.
    permissions_bind: bool,
}

impl Connect {
    /// Writes `toml` as the config in `dir` and starts `weir connect`.
    pub(crate) fn start(dir: &Path, toml: &str) -> Self {
        Self::start_as(dir, toml, false)
    }

    /// As [`Connect::start`], but file permissions apply to the process even when the tests
    /// run as root (as in CI): it runs without the capabilities that let root read any file
    /// (`setpriv` drops `CAP_DAC_OVERRIDE` and `CAP_DAC_READ_SEARCH`).
    pub(crate) fn start_where_permissions_bind(dir: &Path, toml: &str) -> Self {
        Self::start_as(dir, toml, true)
    }

    fn start_as(dir: &Path, toml: &str, permissions_bind: bool) -> Self {
        let config = dir.join("connectors.toml");
        std::fs::write(&config, toml).unwrap();
        let mut connect = Self {
            child: None,
            config,
            log: dir.join("connect-process.out"),
            starts: 0,
            permissions_bind,
        };
        connect.spawn();
        connect
    }

    /// Starts the process again on the same config.
    pub(crate) fn spawn(&mut self) {
        assert!(self.child.is_none(), "weir connect is already running");
        self.starts += 1;
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let weir = env!("CARGO_BIN_EXE_weir");
        let mut command = if self.permissions_bind && rustix::process::geteuid().is_root() {
            let mut setpriv = Command::new("setpriv");
            setpriv.args([
                "--inh-caps=-dac_override,-dac_read_search",
                "--bounding-set=-dac_override,-dac_read_search",
                "--",
                weir,
            ]);
            setpriv
        } else {
            Command::new(weir)
        };
        let child = command
            .args(["connect", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info,weir_client=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting weir connect (as root through setpriv, from util-linux)");
        self.child = Some(child);
    }

    /// SIGKILL: no chance to deliver or checkpoint anything pending.
    pub(crate) fn kill(&mut self) {
        let mut child = self.child.take().expect("not running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM, then waits for a clean exit.
    pub(crate) fn stop(&mut self) {
        let mut child = self.child.take().expect("not running");
        let pid = Pid::from_raw(child.id() as i32).unwrap();
        kill_process(pid, Signal::TERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "weir connect exited with {status}\n{}",
                    self.log_text()
                );
                return;
            }
            assert!(
                Instant::now() < deadline,
                "weir connect ignored SIGTERM\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| child.try_wait().unwrap().is_none())
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `weir connector ARGS --config CONFIG`.
    pub(crate) fn connector(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_weir"))
            .arg("connector")
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .output()
            .unwrap()
    }

    /// `weir connector status NAME` until `accept` likes its output.
    pub(crate) fn wait_for_status(&self, name: &str, accept: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let output = self.connector(&["status", name]);
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            if output.status.success() && accept(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "status of {name} never matched; last:\n{text}{}\n{}",
                String::from_utf8_lossy(&output.stderr),
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Connect {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- weir connect log ---\n{}", self.log_text());
        }
    }
}

/// The connectors' TOML for one file source.
pub(crate) fn file_source(
    bootstrap: &str,
    topic: &str,
    paths: &[&Path],
    extra: &str,
    emit: &str,
) -> String {
    let paths: Vec<String> = paths
        .iter()
        .map(|p| format!("{:?}", p.display().to_string()))
        .collect();
    format!(
        "[cluster]\nbootstrap = [\"{bootstrap}\"]\n\n[[sources]]\nname = \"src\"\nkind = \"file\"\n\
         topic = \"{topic}\"\npaths = [{}]\nwatch = \"poll\"\npoll_interval = \"50ms\"\n{extra}\n\
         [sources.emit]\n{emit}\n",
        paths.join(", ")
    )
}

/// A runtime for the async client.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Reads `topic` from the beginning until `count` records came (or `patience` passed), in
/// partition then offset order.
pub(crate) fn read_topic(
    bootstrap: &str,
    topic: &str,
    count: usize,
    patience: Duration,
) -> Vec<ConsumerRecord> {
    runtime().block_on(async {
        let mut config = ConsumerConfig::new([bootstrap.to_owned()]);
        config.auto_offset_reset = OffsetReset::Earliest;
        config.enable_auto_commit = false;
        config.max_poll_records = 10_000;
        // Reading must not create the topic before the connector does.
        config.allow_auto_create_topics = false;
        let mut consumer = Consumer::new(config).unwrap();
        let deadline = tokio::time::Instant::now() + patience;
        let partitions = loop {
            match consumer.partitions_for(topic).await {
                Ok(partitions) if !partitions.is_empty() => break partitions,
                _ if tokio::time::Instant::now() > deadline => return Vec::new(),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        };
        consumer.assign(partitions.clone());
        consumer.seek_to_beginning(&partitions).unwrap();
        let mut records = Vec::new();
        while records.len() < count && tokio::time::Instant::now() < deadline {
            let polled = consumer.poll(Duration::from_millis(200)).await.unwrap();
            records.extend(polled);
        }
        records.sort_by_key(|r| (r.partition, r.offset));
        records
    })
}

/// Reads exactly `count` records, failing with what came if fewer did.
pub(crate) fn expect_records(bootstrap: &str, topic: &str, count: usize) -> Vec<ConsumerRecord> {
    let records = read_topic(bootstrap, topic, count, PATIENCE);
    assert!(
        records.len() >= count,
        "only {} of {count} records arrived in {topic}: {:?}",
        records.len(),
        values(&records)
    );
    records
}

/// The values as strings.
pub(crate) fn values(records: &[ConsumerRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap_or_default()).into_owned())
        .collect()
}

/// A header's value as a string.
pub(crate) fn header(record: &ConsumerRecord, key: &str) -> Option<String> {
    record
        .headers
        .iter()
        .find(|h| h.key == key)
        .and_then(|h| h.value.as_ref())
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Appends `text` to the file at `path`.
pub(crate) fn append(path: &Path, text: &str) {
    use std::io::Write as _;
    let mut file = File::options()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// The record batches of partition 0 of `topic` on disk: (base offset, record count) each,
/// read from the broker's segment files (RecordBatch v2 headers).
pub(crate) fn batches_on_disk(data_dir: &Path, topic: &str) -> Vec<(i64, i32)> {
    let dir = data_dir.join(format!("{topic}-0"));
    let mut segments: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    segments.sort();
    let mut batches = Vec::new();
    for segment in segments {
        let bytes = std::fs::read(segment).unwrap();
        let mut at = 0;
        while at + 61 <= bytes.len() {
            let base = i64::from_be_bytes(bytes[at..at + 8].try_into().unwrap());
            let length = i32::from_be_bytes(bytes[at + 8..at + 12].try_into().unwrap());
            if length <= 0 {
                break;
            }
            let count = i32::from_be_bytes(bytes[at + 57..at + 61].try_into().unwrap());
            batches.push((base, count));
            at += 12 + length as usize;
        }
    }
    batches
}
