//! One config mistake of each kind, checked with `weir run --check`: each is reported with
//! the file, the line and column, and the key, and nothing starts.

use crate::harness::Run;
use crate::support::free_port;

/// `weir run --check` on `text`: it must fail; what it said.
fn check_fails(text: &str) -> String {
    let run = Run::from_text(text, &[]);
    let output = run.check();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "accepted:\n{text}\n{stderr}");
    stderr
}

/// Asserts `message` names `pipeline.toml:LINE:` and `key`.
fn assert_names(message: &str, line: usize, key: &str) {
    let place = format!("pipeline.toml:{line}:");
    assert!(message.contains(&place), "no {place} in: {message}");
    assert!(
        message.contains(&format!("{key}:")),
        "no key {key} in: {message}"
    );
}

const SOURCE: &str =
    "[[sources]]\nname = \"app\"\nkind = \"file\"\npaths = [\"*.log\"]\ntopic = \"t\"\n";

#[test]
fn toml_syntax() {
    let message = check_fails("[topics.t]\npartitions = = 3\n");
    assert!(message.contains("pipeline.toml:2:"), "{message}");
    assert!(message.contains("invalid TOML"), "{message}");
}

#[test]
fn unknown_key_with_a_hint() {
    let message = check_fails("[topics.t]\npartitons = 3\n");
    assert_names(&message, 2, "topics.t.partitons");
    assert!(message.contains("did you mean \"partitions\""), "{message}");
}

#[test]
fn wrong_type() {
    let message = check_fails("[topics.t]\npartitions = \"three\"\n");
    assert_names(&message, 2, "topics.t.partitions");
    assert!(message.contains("expected an integer"), "{message}");
}

#[test]
fn bad_duration() {
    let message = check_fails(&format!(
        "{SOURCE}[sources.emit]\nmax_delay = \"5 parsecs\"\n"
    ));
    assert_names(&message, 7, "sources[0].emit.max_delay");
    assert!(message.contains("duration"), "{message}");
}

#[test]
fn missing_plugin_file() {
    let message = check_fails(
        "[[consumers]]\nplugin = \"plugins/nope.wasm\"\ngroup = \"g\"\ntopics = [\"t\"]\n\
         dead_letter_topic = \"t.dl\"\n",
    );
    assert_names(&message, 2, "consumers[0].plugin");
    assert!(message.contains("nope.wasm"), "{message}");
}

#[test]
fn cel_error() {
    let message = check_fails(&format!(
        "{SOURCE}[sources.emit]\nwhen = \"event.line.contains(\"\n"
    ));
    assert_names(&message, 7, "sources[0].emit.when");
    assert!(message.contains("CEL"), "{message}");
}

#[test]
fn unreachable_database() {
    // A port nothing listens on: the connection is refused at once.
    let port = free_port();
    let message = check_fails(&format!(
        "[[sources]]\nname = \"orders\"\nkind = \"sql\"\n\
         url = \"postgres://weir@127.0.0.1:{port}/orders\"\nmode = \"incrementing\"\n\
         table = \"orders\"\ncolumn = \"id\"\ntopic = \"orders\"\n"
    ));
    assert_names(&message, 4, "sources[0].url");
    assert!(message.contains("source orders"), "{message}");
    assert!(message.contains("cannot be reached"), "{message}");
}

#[test]
fn every_mistake_is_reported_at_once_and_env_defaults_apply() {
    let message = check_fails(
        "[topics.t]\npartitons = 3\n[topics.u]\nretention_ms = \"forever\"\n\
         [cluster]\nbootstrap = [\"${WEIR_SURELY_UNSET_HOST}\"]\n",
    );
    assert_names(&message, 2, "topics.t.partitons");
    assert_names(&message, 4, "topics.u.retention_ms");
    assert!(
        message.contains("WEIR_SURELY_UNSET_HOST is not set"),
        "{message}"
    );

    let run = Run::from_text(
        "[cluster]\nbootstrap = [\"${WEIR_SURELY_UNSET_HOST:-127.0.0.1:9}\"]\n",
        &[],
    );
    let output = run.check();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("cluster: 127.0.0.1:9"), "{stdout}");
}
