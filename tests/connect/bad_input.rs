//! Bad input is reported and the connector keeps going for the other files: an unreadable
//! file, a path that disappears, a binary file with huge "lines"; and an invalid config is
//! refused with file, line and key.

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;
use std::time::Duration;

use crate::harness::{Connect, append, expect_records, file_source, header, values};
use crate::support::Broker;

#[test]
fn an_unreadable_file_a_vanished_path_and_a_binary_file_leave_the_others_running() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.log");
    let locked = dir.path().join("locked.log");
    let doomed = dir.path().join("doomed.log");
    let binary = dir.path().join("blob.log");
    let missing = dir.path().join("missing.log");
    append(&good, "good 1\n");
    append(&locked, "secret\n");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    append(&doomed, "doomed 1\n");
    // 3 MB of bytes without a newline, then one: a single huge "line".
    let blob: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8 | 0x80).collect();
    std::fs::write(&binary, [&blob[..], b"\nafter blob\n"].concat()).unwrap();
    let pattern = dir.path().join("*.log");
    // As root (CI), permissions bind only without root's capability to read any file.
    let mut connect = Connect::start_where_permissions_bind(
        dir.path(),
        &file_source(
            &broker.addr(),
            "mixed",
            &[&pattern, &missing],
            "max_line_bytes = \"64KiB\"\ndead_letter_topic = \"mixed-dlq\"",
            "max_delay = \"50ms\"",
        ),
    );
    expect_records(&broker.addr(), "mixed", 3);
    std::fs::remove_file(&doomed).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    append(&good, "good 2\n");
    let records = expect_records(&broker.addr(), "mixed", 4);
    let mut got = values(&records);
    got.sort();
    assert_eq!(got, ["after blob", "doomed 1", "good 1", "good 2"]);
    let dead = expect_records(&broker.addr(), "mixed-dlq", 1);
    assert_eq!(dead[0].value.as_ref().unwrap().len(), 64 * 1024);
    let reason = header(&dead[0], "weir.error").unwrap();
    assert!(
        reason.contains("3000000 bytes") && reason.contains("max_line_bytes"),
        "{reason}"
    );
    let status = connect.wait_for_status("src", |s| s.contains("missing.log"));
    assert!(status.contains("state: running"), "{status}");
    assert!(status.contains("locked.log: cannot open"), "{status}");
    assert!(connect.is_running());
    connect.stop();
}

#[test]
fn an_invalid_config_is_refused_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[cluster]\nbootstrap = [\"127.0.0.1:9\"]\n\n[[sources]]\nname = \"x\"\nkind = \"file\"\n\
         topic = \"t\"\npaths = [\"/tmp/*.log\"]\nstart_at = \"middle\"\nframng = \"lines\"\n\
         [sources.emit]\nwhen = \"event.line.contains(\"\nmax_delay = \"soon\"\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["connect", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let file = config.display().to_string();
    assert!(
        stderr.contains(&format!(
            "{file}:9:12: sources[0].start_at: expected \"beginning\" or \"end\""
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{file}:10:1: sources[0].framng: unknown key (did you mean \"framing\"?)"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{file}:12:8: sources[0].emit.when: CEL expression does not compile: at column"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("sources[0].emit.max_delay: expected a duration"),
        "{stderr}"
    );
}
