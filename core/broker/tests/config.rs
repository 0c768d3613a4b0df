//! The broker's TOML config: Kafka's defaults, every unit form, Kafka's precedence between
//! `_ms`, `_minutes` and `_hours`, topic overrides, and errors naming file, line and key.

use std::path::PathBuf;
use std::time::Duration;

use weir_broker::config::Limit;
use weir_broker::{Acks, BrokerConfig, TopicOverrides};
use weir_config::{Position, Source};
use weir_log::{FlushMode, FlushPolicy, LogConfig};

const MINIMAL: &str = "[broker]\nlisteners = [\"127.0.0.1:9092\"]\nlog_dirs = [\"./weir-data\"]\n";

fn parse(text: &str) -> BrokerConfig {
    BrokerConfig::parse(&Source::new("/etc/weir/weir.toml", text))
        .unwrap_or_else(|errors| panic!("config should be valid:\n{errors}"))
}

/// The errors of an invalid config, one `file:line:column: key: message` string each.
fn errors(text: &str) -> Vec<String> {
    BrokerConfig::parse(&Source::new("weir.toml", text))
        .expect_err("config should be invalid")
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn hours(hours: u64) -> Duration {
    Duration::from_secs(hours * 3600)
}

#[test]
fn minimal_file_gives_kafka_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("weir.toml");
    std::fs::write(&path, MINIMAL).expect("write");
    let config = BrokerConfig::load(&path).expect("valid");

    assert_eq!(config.node_id(), 0);
    assert_eq!(config.listeners(), ["127.0.0.1:9092"]);
    assert_eq!(config.advertised_listeners(), ["127.0.0.1:9092"]);
    assert_eq!(config.log_dirs(), [dir.path().join("weir-data")]);
    assert_eq!(config.num_partitions(), 1);
    assert_eq!(config.default_replication_factor(), 1);
    assert!(config.auto_create_topics());
    assert_eq!(
        config.log_retention_check_interval(),
        Duration::from_secs(300)
    );
    assert_eq!(config.socket_request_max_bytes(), 100 * 1024 * 1024);
    assert_eq!(config.min_insync_replicas(), 1);
    assert!(config.topics().is_empty());

    let log = config.log_config();
    assert_eq!(log, LogConfig::default());
    assert_eq!(log.segment_bytes, 1 << 30);
    assert_eq!(log.segment_age, hours(168));
    assert_eq!(log.retention, Some(hours(168)));
    assert_eq!(log.retention_bytes, None);
    assert_eq!(log.index_interval_bytes, 4096);
    assert_eq!(log.max_batch_bytes, 1_048_588);
    assert_eq!(log.flush, FlushPolicy::default());
    assert_eq!(log.flush.mode, FlushMode::Fsync);
}

#[test]
fn an_empty_file_is_all_defaults() {
    let config = parse("");
    assert_eq!(config.log_dirs(), [PathBuf::from("/etc/weir/weir-data")]);
    assert_eq!(config.log_config(), LogConfig::default());
    let default = BrokerConfig::default();
    assert_eq!(default.log_dirs(), [PathBuf::from("weir-data")]);
    assert_eq!(default.log_config(), config.log_config());
}

#[test]
fn every_setting_is_read() {
    let config = parse(
        r#"
[broker]
node_id = 3
listeners = ["0.0.0.0:9092"]
advertised_listeners = ["broker3.example:9092"]
log_dirs = ["data/a", "/var/weir/b"]
num_partitions = 6
default_replication_factor = 3
auto_create_topics = false
log_retention_hours = 24
log_retention_bytes = "10GiB"
log_segment_bytes = "512MiB"
log_roll_hours = 1
log_retention_check_interval_ms = "30s"
log_index_interval_bytes = "8KiB"
message_max_bytes = "2MB"
log_flush = "os"
log_flush_interval_messages = 10000
log_flush_interval_ms = 1000
socket_request_max_bytes = "50MiB"
min_insync_replicas = 2
"#,
    );
    assert_eq!(config.node_id(), 3);
    assert_eq!(config.listeners(), ["0.0.0.0:9092"]);
    assert_eq!(config.advertised_listeners(), ["broker3.example:9092"]);
    assert_eq!(
        config.log_dirs(),
        [
            PathBuf::from("/etc/weir/data/a"),
            PathBuf::from("/var/weir/b")
        ]
    );
    assert_eq!(config.num_partitions(), 6);
    assert_eq!(config.default_replication_factor(), 3);
    assert!(!config.auto_create_topics());
    assert_eq!(
        config.log_retention_check_interval(),
        Duration::from_secs(30)
    );
    assert_eq!(config.socket_request_max_bytes(), 50 << 20);
    assert_eq!(config.min_insync_replicas(), 2);
    assert_eq!(
        config.log_config(),
        LogConfig {
            segment_bytes: 512 << 20,
            segment_age: hours(1),
            retention: Some(hours(24)),
            retention_bytes: Some(10 << 30),
            index_interval_bytes: 8192,
            max_batch_bytes: 2_000_000,
            flush: FlushPolicy {
                mode: FlushMode::Os,
                flush_messages: Some(10_000),
                flush_interval: Some(Duration::from_secs(1)),
            },
            ..LogConfig::default()
        }
    );
}

#[test]
fn durations_and_sizes_in_every_form() {
    let retention = |line: &str| parse(&format!("[broker]\n{line}\n")).log_config().retention;
    assert_eq!(retention("log_retention_hours = 2"), Some(hours(2)));
    assert_eq!(retention("log_retention_hours = \"2d\""), Some(hours(48)));
    assert_eq!(
        retention("log_retention_minutes = 90"),
        Some(hours(1) * 3 / 2)
    );
    assert_eq!(
        retention("log_retention_minutes = \"1h30m\""),
        Some(hours(1) * 3 / 2)
    );
    assert_eq!(
        retention("log_retention_ms = 500"),
        Some(Duration::from_millis(500))
    );
    assert_eq!(
        retention("log_retention_ms = \"500ms\""),
        Some(Duration::from_millis(500))
    );
    assert_eq!(
        retention("log_retention_ms = \"30s\""),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        retention("log_retention_ms = \"5m\""),
        Some(Duration::from_secs(300))
    );
    assert_eq!(retention("log_retention_ms = \"7d\""), Some(hours(168)));
    assert_eq!(retention("log_retention_ms = -1"), None);
    assert_eq!(retention("log_retention_hours = -1"), None);

    let segment = |value: &str| {
        parse(&format!("[broker]\nlog_segment_bytes = {value}\n"))
            .log_config()
            .segment_bytes
    };
    assert_eq!(segment("1048576"), 1 << 20);
    assert_eq!(segment("\"512KiB\""), 512 << 10);
    assert_eq!(segment("\"1GiB\""), 1 << 30);
    assert_eq!(segment("\"100MB\""), 100_000_000);
    assert_eq!(segment("\"64kb\""), 64_000);
    assert_eq!(segment("\"4096B\""), 4096);

    let retention_bytes = |value: &str| {
        parse(&format!("[broker]\nlog_retention_bytes = {value}\n"))
            .log_config()
            .retention_bytes
    };
    assert_eq!(retention_bytes("-1"), None);
    assert_eq!(retention_bytes("\"1TiB\""), Some(1 << 40));

    let roll = |line: &str| {
        parse(&format!("[broker]\n{line}\n"))
            .log_config()
            .segment_age
    };
    assert_eq!(roll("log_roll_hours = 12"), hours(12));
    assert_eq!(roll("log_roll_ms = 60000"), Duration::from_secs(60));
    assert_eq!(roll("log_roll_hours = 12\nlog_roll_ms = \"1h\""), hours(1));
}

#[test]
fn retention_ms_wins_over_minutes_over_hours() {
    let retention = |text: &str| parse(text).log_config().retention;
    let all_three = "[broker]\nlog_retention_hours = 1\nlog_retention_minutes = 2\n\
                     log_retention_ms = 3000\n";
    assert_eq!(retention(all_three), Some(Duration::from_secs(3)));
    let minutes_and_hours = "[broker]\nlog_retention_hours = 1\nlog_retention_minutes = 2\n";
    assert_eq!(retention(minutes_and_hours), Some(Duration::from_secs(120)));
    let ms_forever = "[broker]\nlog_retention_hours = 1\nlog_retention_ms = -1\n";
    assert_eq!(retention(ms_forever), None);
    let hours_forever_but_minutes =
        "[broker]\nlog_retention_hours = -1\nlog_retention_minutes = 5\n";
    assert_eq!(
        retention(hours_forever_but_minutes),
        Some(Duration::from_secs(300))
    );
}

#[test]
fn topic_overrides_merge_over_the_broker_settings() {
    let config = parse(
        r#"
[broker]
log_flush = "os"
log_flush_interval_messages = 1000
log_retention_hours = 24
default_replication_factor = 3

[topics.orders]
partitions = 12
replication_factor = 3
retention_ms = -1
retention_bytes = "1GiB"
segment_bytes = "16MiB"
segment_ms = "1h"
index_interval_bytes = 1024
max_message_bytes = "4MiB"
flush = "fsync"
flush_ms = 200
min_insync_replicas = 2
acks = "all"
cleanup_policy = "compact,delete"
delete_retention_ms = "1h"
unclean_leader_election = false

[topics."audit.log"]
acks = 1
retention_ms = "30d"
"#,
    );
    let base = config.log_config();
    let orders = config.topic("orders").expect("orders");
    assert_eq!(orders.partitions, Some(12));
    assert_eq!(orders.replication_factor, Some(3));
    assert_eq!(orders.min_insync_replicas, Some(2));
    assert_eq!(orders.acks, Some(Acks::All));
    assert_eq!(orders.unclean_leader_election, Some(false));
    assert_eq!(orders.retention, Some(Limit::Unlimited));
    assert_eq!(
        orders.apply(&base),
        LogConfig {
            segment_bytes: 16 << 20,
            segment_age: hours(1),
            retention: None,
            retention_bytes: Some(1 << 30),
            index_interval_bytes: 1024,
            max_batch_bytes: 4 << 20,
            flush: FlushPolicy {
                mode: FlushMode::Fsync,
                flush_messages: Some(1000),
                flush_interval: Some(Duration::from_millis(200)),
            },
            cleanup: weir_log::CleanupPolicy {
                delete: true,
                compact: true,
            },
            delete_retention: hours(1),
            ..LogConfig::default()
        }
    );
    assert_eq!(config.topic_log_config("orders"), orders.apply(&base));

    let audit = config.topic("audit.log").expect("audit.log");
    assert_eq!(audit.acks, Some(Acks::One));
    let audit_log = config.topic_log_config("audit.log");
    assert_eq!(audit_log.retention, Some(hours(30 * 24)));
    assert_eq!(audit_log.flush.mode, FlushMode::Os);
    assert_eq!(audit_log.segment_bytes, base.segment_bytes);

    assert_eq!(config.topic_log_config("unlisted"), base);
    assert_eq!(TopicOverrides::default().apply(&base), base);
}

#[test]
fn acks_floor_is_the_stronger_of_request_and_topic() {
    let acks = |values: &str| -> Vec<Option<Acks>> {
        let config = parse(&format!("[topics.t]\nacks = {values}\n"));
        vec![config.topic("t").expect("t").acks]
    };
    assert_eq!(acks("0"), [Some(Acks::Zero)]);
    assert_eq!(acks("\"0\""), [Some(Acks::Zero)]);
    assert_eq!(acks("-1"), [Some(Acks::All)]);
    assert_eq!(acks("\"1\""), [Some(Acks::One)]);
    assert_eq!(Acks::from_request(-1), Some(Acks::All));
    assert_eq!(Acks::from_request(2), None);
    assert_eq!(Acks::Zero.at_least(Acks::One), Acks::One);
    assert_eq!(Acks::All.at_least(Acks::One), Acks::All);
}

#[test]
fn syntax_error_names_file_line_and_column() {
    assert_eq!(
        errors("[broker]\nnode_id = 1\nlisteners = [\"a:1\"\n"),
        ["weir.toml:4:1: invalid TOML: invalid array; expected `]`"]
    );
}

#[test]
fn unknown_keys_name_the_nearest_valid_key() {
    let text = "[broker]\nlog_retention_hour = 5\nlog.segment.bytes = 1024\n\
                [topics.orders]\nretention = 5\n[topic.payments]\n";
    assert_eq!(
        errors(text),
        [
            "weir.toml:2:1: broker.log_retention_hour: unknown key \
             (did you mean \"log_retention_hours\"?)",
            "weir.toml:3:1: broker.log.segment.bytes: unknown key \
             (did you mean \"log_segment_bytes\"?)",
            "weir.toml:5:1: topics.orders.retention: unknown key \
             (did you mean \"retention_ms\"?)",
            "weir.toml:6:2: topic: unknown key (did you mean \"topics\"?)",
        ]
    );
}

#[test]
fn wrong_types_name_what_was_expected() {
    let text = "[broker]\nnode_id = \"1\"\nlisteners = \"127.0.0.1:9092\"\n\
                auto_create_topics = \"yes\"\n";
    assert_eq!(
        errors(text),
        [
            "weir.toml:2:11: broker.node_id: expected an integer, found \"1\"",
            "weir.toml:3:13: broker.listeners: expected an array of strings, \
             found \"127.0.0.1:9092\"",
            "weir.toml:4:22: broker.auto_create_topics: expected true or false, found \"yes\"",
        ]
    );
}

#[test]
fn bad_durations_and_sizes_name_the_key() {
    let text = "[broker]\nnode_id = 1\n  log_retention_ms = \"7 days\"\n\
                log_segment_bytes = \"1 GB\"\nlog_roll_hours = 0\n\
                [topics.orders]\nsegment_ms = 1.5\nretention_bytes = -3\n";
    assert_eq!(
        errors(text),
        [
            "weir.toml:3:22: broker.log_retention_ms: expected a duration such as \"7d\" or \
             \"500ms\", found \"7 days\"",
            "weir.toml:4:21: broker.log_segment_bytes: expected a size such as \"512KiB\" or \
             \"1GiB\", found \"1 GB\"",
            "weir.toml:5:18: broker.log_roll_hours: must be at least 1ms, found 0",
            "weir.toml:7:14: topics.orders.segment_ms: expected a duration such as \"7d\" or \
             \"500ms\", found 1.5",
            "weir.toml:8:19: topics.orders.retention_bytes: must not be negative \
             (-1 means unlimited), found -3",
        ]
    );
}

#[test]
fn out_of_range_values_are_errors() {
    let text = "[broker]\nnum_partitions = 0\nlog_segment_bytes = 100\n\
                message_max_bytes = \"3GiB\"\ndefault_replication_factor = 40000\n\
                log_flush_interval_messages = 0\nlog_dirs = []\n";
    assert_eq!(
        errors(text),
        [
            "weir.toml:2:18: broker.num_partitions: must be at least 1, found 0",
            "weir.toml:3:21: broker.log_segment_bytes: must be between 1024 and 2147483647 \
             bytes, found 100",
            "weir.toml:4:21: broker.message_max_bytes: must be between 1 and 2147483647 \
             bytes, found \"3GiB\"",
            "weir.toml:5:30: broker.default_replication_factor: must be at most 32767, \
             found 40000",
            "weir.toml:6:31: broker.log_flush_interval_messages: must be at least 1, found 0",
            "weir.toml:7:12: broker.log_dirs: must name at least one directory",
        ]
    );
}

#[test]
fn listeners_must_be_host_port_and_advertisable() {
    assert_eq!(
        errors("[broker]\nlisteners = [\"localhost\"]\n"),
        [
            "weir.toml:2:13: broker.listeners: \"localhost\" is not a host:port address such \
             as \"127.0.0.1:9092\""
        ]
    );
    assert_eq!(
        errors("[broker]\nlisteners = [\"0.0.0.0:9092\"]\n"),
        [
            "weir.toml:2:13: broker.listeners: 0.0.0.0:9092 cannot be advertised to clients; \
             set advertised_listeners to an address they can reach"
        ]
    );
}

#[test]
fn topic_names_and_values_are_checked() {
    let text = "[topics.\"bad name\"]\n[topics.\"a.b\"]\n[topics.a_b]\n\
                [topics.orders]\nflush = \"fsynk\"\nacks = 2\n\
                [topics.payments]\nmin_insync_replicas = 2\n";
    assert_eq!(
        errors(text),
        [
            "weir.toml:1:9: topics.\"bad name\": invalid topic name: only ASCII letters, \
             digits, '.', '_' and '-' are allowed",
            "weir.toml:3:9: topics.a_b: collides with topic \"a.b\": Kafka treats '.' and '_' \
             in topic names alike",
            "weir.toml:5:9: topics.orders.flush: expected \"fsync\" or \"os\", found \"fsynk\" \
             (did you mean \"fsync\"?)",
            "weir.toml:6:8: topics.orders.acks: expected \"0\", \"1\", \"all\" or \"-1\", \
             found 2",
            "weir.toml:8:23: topics.payments.min_insync_replicas: min_insync_replicas (2) is \
             more than the topic's 1 replicas, so no acks=all produce could succeed",
        ]
    );
}

#[test]
fn all_errors_are_reported_at_once() {
    let text = r#"[broker]
node_id = -1
log_retention_ms = "a week"
log_segment_bytes = "big"
log_flush = "disk"
colour = "blue"

[topics.orders]
partitions = "six"
retension_ms = 5
"#;
    let errors = BrokerConfig::parse(&Source::new("weir.toml", text)).expect_err("invalid");
    let places: Vec<(Option<Position>, Option<&str>)> = errors
        .iter()
        .map(|error| (error.position, error.key.as_deref()))
        .collect();
    let at = |line, column| Some(Position { line, column });
    assert_eq!(
        places,
        [
            (at(2, 11), Some("broker.node_id")),
            (at(3, 20), Some("broker.log_retention_ms")),
            (at(4, 21), Some("broker.log_segment_bytes")),
            (at(5, 13), Some("broker.log_flush")),
            (at(6, 1), Some("broker.colour")),
            (at(9, 14), Some("topics.orders.partitions")),
            (at(10, 1), Some("topics.orders.retension_ms")),
        ]
    );
    assert_eq!(errors.to_string().lines().count(), 7);
}

#[test]
fn a_missing_file_is_reported_with_its_path() {
    let errors = BrokerConfig::load("/nonexistent/weir.toml").expect_err("missing");
    assert!(
        errors
            .to_string()
            .starts_with("/nonexistent/weir.toml: cannot read the file:"),
        "{errors}"
    );
}

#[test]
fn group_coordinator_settings_are_read_and_checked() {
    let defaults = parse("");
    assert_eq!(defaults.group_min_session_timeout(), Duration::from_secs(6));
    assert_eq!(
        defaults.group_max_session_timeout(),
        Duration::from_secs(1800)
    );
    assert_eq!(
        defaults.group_initial_rebalance_delay(),
        Duration::from_secs(3)
    );
    let config = parse(
        "[broker]\ngroup_min_session_timeout_ms = 500\ngroup_max_session_timeout_ms = \"5m\"\n\
         group_initial_rebalance_delay_ms = 0\n",
    );
    assert_eq!(
        config.group_min_session_timeout(),
        Duration::from_millis(500)
    );
    assert_eq!(config.group_max_session_timeout(), Duration::from_secs(300));
    assert_eq!(config.group_initial_rebalance_delay(), Duration::ZERO);
    assert_eq!(
        errors(
            "[broker]\ngroup_min_session_timeout_ms = \"1h\"\ngroup_max_session_timeout_ms = \"1m\"\n"
        ),
        ["weir.toml:3:32: broker.group_max_session_timeout_ms: \
             group_min_session_timeout_ms must not exceed group_max_session_timeout_ms"]
    );
}

#[test]
fn cluster_settings_use_kafka_voter_syntax() {
    let config = parse(&format!(
        "{MINIMAL}node_id = 2\ncontroller_quorum_voters = \"1@127.0.0.1:9093,2@127.0.0.1:9094\"\n\
         broker_session_timeout_ms = \"3s\"\n"
    ));
    assert!(
        parse(MINIMAL).cluster().is_none(),
        "no voters: a single node"
    );
    let cluster = config.cluster().expect("a cluster");
    assert_eq!(cluster.voters().len(), 2);
    assert_eq!(cluster.controller_listener(), "127.0.0.1:9094");
    assert_eq!(cluster.session_timeout(), Duration::from_secs(3));
    assert_eq!(cluster.heartbeat_interval(), Duration::from_secs(2));
    assert_eq!(cluster.replica_lag_time_max(), Duration::from_secs(30));
    assert_eq!(
        cluster.leader_imbalance_check_interval(),
        Some(Duration::from_secs(300)),
        "Kafka's default: rebalance leaders every five minutes"
    );
    assert_eq!(cluster.leader_imbalance_percentage(), 10);
}

#[test]
fn leader_rebalance_settings() {
    let voters = "node_id = 1\ncontroller_quorum_voters = \"1@127.0.0.1:9093\"\n";
    let config = parse(&format!(
        "{MINIMAL}{voters}leader_imbalance_check_interval_seconds = \"30s\"\n\
         leader_imbalance_per_broker_percentage = 0\n"
    ));
    let cluster = config.cluster().expect("a cluster");
    assert_eq!(
        cluster.leader_imbalance_check_interval(),
        Some(Duration::from_secs(30))
    );
    assert_eq!(cluster.leader_imbalance_percentage(), 0);
    let off = parse(&format!(
        "{MINIMAL}{voters}auto_leader_rebalance_enable = false\n"
    ));
    assert_eq!(
        off.cluster().unwrap().leader_imbalance_check_interval(),
        None
    );
    assert_eq!(
        errors(&format!(
            "{MINIMAL}{voters}leader_imbalance_per_broker_percentage = 101\n"
        )),
        [
            "weir.toml:6:42: broker.leader_imbalance_per_broker_percentage: must be at most 100, found 101"
        ]
    );
}

#[test]
fn bad_cluster_settings_name_file_line_and_key() {
    assert_eq!(
        errors(&format!(
            "{MINIMAL}node_id = 1\ncontroller_quorum_voters = \"1@127.0.0.1:9093,2@nohost\"\n"
        )),
        [
            "weir.toml:5:28: broker.controller_quorum_voters: \"nohost\" in \"2@nohost\" is not host:port"
        ]
    );
    let not_a_voter = errors(&format!(
        "{MINIMAL}node_id = 7\ncontroller_quorum_voters = \"1@127.0.0.1:9093\"\n"
    ));
    assert_eq!(not_a_voter.len(), 1);
    assert!(
        not_a_voter[0].contains("node_id 7 is not a voter"),
        "{not_a_voter:?}"
    );
}
