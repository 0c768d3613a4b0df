//! A `weir run` process on a pipeline file in its own directory: started with the
//! environment a test gives it, waited for until it says it is ready, stopped with SIGTERM
//! (it must exit cleanly) or SIGKILL; and the records of a topic read back in order.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::support::kafka::{Msg, consume_all, record_count};

/// How long `weir run` may take to say it is ready, or to stop after SIGTERM.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a test waits for records to arrive.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// A pipeline file and the `weir run` process running it.
pub(crate) struct Run {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) file: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
    log: PathBuf,
    /// The subcommand running the file: `weir run FILE`, or `weir broker --config FILE`.
    runs_as: &'static [&'static str],
}

impl Run {
    /// A pipeline in a fresh directory: `example` (a file of the repository, such as
    /// `examples/ecommerce/pipeline.toml`) copied there, so its relative paths (data,
    /// databases) land in the directory.
    pub(crate) fn from_example(example: &str, env: &[(&str, &str)]) -> Self {
        let text = std::fs::read_to_string(repo_root().join(example)).unwrap();
        Self::from_text(&text, env)
    }

    /// A pipeline in a fresh directory with `text` as its file.
    pub(crate) fn from_text(text: &str, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("weir-run-itest-")
            .tempdir()
            .unwrap();
        let file = dir.path().join("pipeline.toml");
        std::fs::write(&file, text).unwrap();
        Self {
            log: dir.path().join("weir-run.log"),
            dir,
            file,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            child: None,
            runs_as: &["run"],
        }
    }

    /// The same file run by `weir broker --config FILE` instead: a broker hosting the
    /// pipeline's sources and consumers.
    pub(crate) fn run_by_the_broker(mut self) -> Self {
        self.runs_as = &["broker", "--config"];
        self
    }

    /// `weir run --check FILE`.
    pub(crate) fn check(&self) -> Output {
        self.command()
            .arg("--check")
            .arg(&self.file)
            .output()
            .unwrap()
    }

    /// Starts `weir run FILE` and waits until it says it is ready.
    pub(crate) fn start(&mut self) {
        assert!(self.child.is_none(), "weir run is already running");
        let logged = self.log_text().len();
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = self
            .command()
            .arg(&self.file)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.log_text()[logged..].contains("weir run: ready") {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                panic!(
                    "weir run exited with {status} before it was ready\n{}",
                    self.log_text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "weir run never got ready\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts `weir run FILE` and waits for it to exit; its exit status and what it said.
    pub(crate) fn run_to_exit(&self) -> Output {
        let mut child = self
            .command()
            .arg(&self.file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + START_TIMEOUT;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("weir run did not exit");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }

    /// SIGKILL: no chance to deliver, checkpoint or commit anything pending.
    pub(crate) fn kill(&mut self) {
        let mut child = self.child.take().expect("weir run is not running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM, then waits for a clean exit.
    pub(crate) fn stop(&mut self) {
        let mut child = self.child.take().expect("weir run is not running");
        let pid = Pid::from_raw(child.id() as i32).unwrap();
        kill_process(pid, Signal::TERM).unwrap();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(
                    status.success(),
                    "weir run exited with {status}\n{}",
                    self.log_text()
                );
                break;
            }
            assert!(
                Instant::now() < deadline,
                "weir run ignored SIGTERM\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let log = self.log_text();
        assert!(log.contains("weir run: stopped"), "{log}");
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_weir"));
        command
            .args(self.runs_as)
            .current_dir(self.dir.path())
            .env("RUST_LOG", "info,weir_client=warn")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- weir run log ---\n{}", self.log_text());
        }
    }
}

/// The repository root.
pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Waits until `topic` holds at least `count` records; how many it holds then.
pub(crate) fn wait_for_records(addr: &str, topic: &str, count: usize) -> usize {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let held = record_count(addr, topic);
        if held >= count {
            return held;
        }
        assert!(
            Instant::now() < deadline,
            "{topic} holds {held} records, not {count}, after {PATIENCE:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every record of `topic` (waiting for `count`), by partition in offset order.
pub(crate) fn records(addr: &str, topic: &str, count: usize) -> BTreeMap<i32, Vec<Msg>> {
    consume_all(addr, topic, count)
}

/// The values of `records`, as text.
pub(crate) fn values(records: &[Msg]) -> Vec<String> {
    records
        .iter()
        .map(|m| String::from_utf8_lossy(&m.value).into_owned())
        .collect()
}

/// How many times each value occurs more than once.
pub(crate) fn duplicates(values: &[String]) -> usize {
    let mut seen = std::collections::BTreeSet::new();
    values.iter().filter(|v| !seen.insert(v.as_str())).count()
}

/// A path as a string for a TOML file.
pub(crate) fn toml_path(path: &Path) -> String {
    path.display().to_string()
}
