//! Reading tables through the public API, and the errors each kind of mistake produces: every
//! one names the file, line, column and key.

use std::path::PathBuf;
use std::time::Duration;

use weir_config::{ConfigError, ConfigErrors, Limit, Position, Source, TableReader};

/// Reads `text` as `weir.toml` with `read`, expecting it to fail; gives the errors in order.
fn errors(text: &str, read: impl FnOnce(&mut TableReader<'_>)) -> Vec<ConfigError> {
    Source::new("weir.toml", text)
        .read(read)
        .expect_err("the read should fail")
        .into_vec()
}

fn at(line: usize, column: usize) -> Option<Position> {
    Some(Position { line, column })
}

fn key(error: &ConfigError) -> Option<&str> {
    error.key.as_deref()
}

#[test]
fn reads_typed_values() {
    let text = r#"
name = "orders"
enabled = true
count = 12
offset = -3
hosts = ["a:1", "b:2"]
timeout = "1h30m"
poll_ms = 250
limit = "512KiB"
"#;
    let source = Source::new("weir.toml", text);
    let read = source.read(|root| {
        (
            root.string("name"),
            root.bool("enabled"),
            root.u64("count"),
            root.i64("offset"),
            root.strings("hosts"),
            root.duration("timeout"),
            root.duration("poll_ms"),
            root.size("limit"),
            root.string("absent"),
        )
    });
    let read = read.expect("valid");
    assert_eq!(read.0.as_deref(), Some("orders"));
    assert_eq!(read.1, Some(true));
    assert_eq!(read.2, Some(12));
    assert_eq!(read.3, Some(-3));
    assert_eq!(read.4, Some(vec!["a:1".to_owned(), "b:2".to_owned()]));
    assert_eq!(read.5, Some(Duration::from_secs(5400)));
    assert_eq!(read.6, Some(Duration::from_millis(250)));
    assert_eq!(read.7, Some(512 * 1024));
    assert_eq!(read.8, None);
}

#[test]
fn syntax_error_names_file_line_and_column() {
    let errors = errors("[broker]\nnode_id = = 1\n", |_| {});
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].position, at(2, 11));
    assert_eq!(key(&errors[0]), None);
    let shown = errors[0].to_string();
    assert!(
        shown.starts_with("weir.toml:2:11: invalid TOML: "),
        "{shown}"
    );
    assert!(!shown.contains('\n'), "{shown}");
}

#[test]
fn duplicate_key_is_a_syntax_error_at_the_key() {
    let errors = errors("a = 1\na = 2\n", |_| {});
    assert_eq!(errors[0].position.map(|p| p.line), Some(2), "{}", errors[0]);
}

#[test]
fn unknown_key_gets_the_nearest_valid_key_as_hint() {
    let text = "[broker]\nnode_id = 1\nlog_retention_hour = 5\n";
    let errors = errors(text, |root| {
        let mut broker = root.table("broker").expect("table");
        broker.u64("node_id");
        broker.duration("log_retention_hours");
        broker.duration("log_retention_ms");
    });
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].position, at(3, 1));
    assert_eq!(
        errors[0].to_string(),
        "weir.toml:3:1: broker.log_retention_hour: unknown key \
         (did you mean \"log_retention_hours\"?)"
    );
}

#[test]
fn unknown_key_far_from_any_valid_key_has_no_hint() {
    let errors = errors("colour = \"blue\"\n", |root| {
        root.string("name");
    });
    assert_eq!(errors[0].to_string(), "weir.toml:1:1: colour: unknown key");
}

#[test]
fn unknown_table_gets_a_hint() {
    let errors = errors("[brokers]\nnode_id = 1\n", |root| {
        root.table("broker");
    });
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].position, at(1, 2));
    assert_eq!(key(&errors[0]), Some("brokers"));
    assert_eq!(errors[0].hint.as_deref(), Some("did you mean \"broker\"?"));
}

#[test]
fn kafka_dotted_names_point_to_the_underscore_key() {
    let errors = errors("[broker]\nlog.retention.ms = 5\n", |root| {
        let mut broker = root.table("broker").expect("table");
        broker.duration("log_retention_ms");
    });
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].to_string(),
        "weir.toml:2:1: broker.log.retention.ms: unknown key \
         (did you mean \"log_retention_ms\"?)"
    );
}

#[test]
fn wrong_type_names_what_was_expected_and_found() {
    let text = "port = \"9092\"\nname = 5\nflag = \"yes\"\nhosts = [\"a\", 2]\n";
    let errors = errors(text, |root| {
        root.u64("port");
        root.string("name");
        root.bool("flag");
        root.strings("hosts");
    });
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "weir.toml:1:8: port: expected an integer, found \"9092\"",
            "weir.toml:2:8: name: expected a string, found 5",
            "weir.toml:3:8: flag: expected true or false, found \"yes\"",
            "weir.toml:4:15: hosts[1]: expected a string, found 2",
        ]
    );
}

#[test]
fn bad_duration_names_file_line_column_and_key() {
    let text = "[broker]\nnode_id = 1\n  log_retention_ms = \"7 days\"\n";
    let errors = errors(text, |root| {
        let mut broker = root.table("broker").expect("table");
        broker.u64("node_id");
        broker.duration_or_unlimited("log_retention_ms");
    });
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].position, at(3, 22));
    assert_eq!(key(&errors[0]), Some("broker.log_retention_ms"));
    assert_eq!(
        errors[0].to_string(),
        "weir.toml:3:22: broker.log_retention_ms: expected a duration such as \"7d\" or \
         \"500ms\", found \"7 days\""
    );
}

#[test]
fn durations_without_a_unit_negative_or_too_large_are_errors() {
    let text = "timeout = 30\npoll_ms = -5\nwait_hours = 9223372036854775807\nfor = true\n";
    let errors = errors(text, |root| {
        root.duration("timeout");
        root.duration("poll_ms");
        root.duration("wait_hours");
        root.duration("for");
    });
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "weir.toml:1:11: timeout: expected a duration with a unit, such as \"30s\" or \
             \"500ms\", found 30",
            "weir.toml:2:11: poll_ms: must not be negative, found -5",
            "weir.toml:3:14: wait_hours: the duration is too large, found 9223372036854775807",
            "weir.toml:4:7: for: expected a duration such as \"7d\" or \"500ms\", found true",
        ]
    );
}

#[test]
fn bad_size_names_file_line_column_and_key() {
    let text = "[topics.orders]\nsegment_bytes = \"1 GiB\"\nretention_bytes = -2\n";
    let errors = errors(text, |root| {
        for (_, mut topic) in root.named_tables("topics") {
            topic.size("segment_bytes");
            topic.size_or_unlimited("retention_bytes");
        }
    });
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "weir.toml:2:17: topics.orders.segment_bytes: expected a size such as \"512KiB\" \
             or \"1GiB\", found \"1 GiB\"",
            "weir.toml:3:19: topics.orders.retention_bytes: must not be negative \
             (-1 means unlimited), found -2",
        ]
    );
}

#[test]
fn minus_one_means_unlimited_where_allowed() {
    let source = Source::new(
        "weir.toml",
        "retention_ms = -1\nretention_bytes = -1\nkeep = \"2h\"",
    );
    let read = source.read(|root| {
        (
            root.duration_or_unlimited("retention_ms"),
            root.size_or_unlimited("retention_bytes"),
            root.duration_or_unlimited("keep"),
        )
    });
    assert_eq!(
        read.expect("valid"),
        (
            Some(Limit::Unlimited),
            Some(Limit::Unlimited),
            Some(Limit::Limited(Duration::from_secs(7200)))
        )
    );
}

#[test]
fn several_errors_are_reported_at_once_in_file_order() {
    let text = r#"[broker]
node_id = "one"
log_retention_ms = "7 days"
log_segment_bytes = "huge"
colour = "blue"

[topics.orders]
partitions = -1
retension_ms = 5
"#;
    let source = Source::new("weir.toml", text);
    let errors = source
        .read(|root| {
            let mut broker = root.table("broker").expect("table");
            broker.u64("node_id");
            broker.duration("log_retention_ms");
            broker.size("log_segment_bytes");
            for (_, mut topic) in root.named_tables("topics") {
                topic.integer("partitions", 1..=i32::MAX);
                topic.duration("retention_ms");
            }
        })
        .expect_err("five mistakes");
    let found: Vec<(Option<Position>, Option<&str>)> =
        errors.iter().map(|e| (e.position, key(e))).collect();
    assert_eq!(
        found,
        [
            (at(2, 11), Some("broker.node_id")),
            (at(3, 20), Some("broker.log_retention_ms")),
            (at(4, 21), Some("broker.log_segment_bytes")),
            (at(5, 1), Some("broker.colour")),
            (at(8, 14), Some("topics.orders.partitions")),
            (at(9, 1), Some("topics.orders.retension_ms")),
        ]
    );
    assert_eq!(
        errors.iter().last().and_then(|e| e.hint.as_deref()),
        Some("did you mean \"retention_ms\"?")
    );
    let shown = errors.to_string();
    assert_eq!(shown.lines().count(), 6, "{shown}");
    assert!(shown.lines().all(|line| line.starts_with("weir.toml:")));
}

#[test]
fn integer_ranges() {
    let errors = errors("a = 0\nb = 70000\nc = -1\n", |root| {
        root.integer("a", 1..=10i32);
        root.integer("b", 0..=u16::MAX);
        root.integer("c", 0..=u32::MAX);
    });
    let messages: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "must be at least 1, found 0",
            "must be at most 65535, found 70000",
            "must not be negative, found -1",
        ]
    );
}

#[test]
fn one_of_matches_strings_and_integers_and_hints_the_nearest() {
    let choices = [("0", 0), ("1", 1), ("all", -1), ("-1", -1)];
    let source = Source::new("weir.toml", "a = \"all\"\nb = 1\nc = -1\n");
    let read = source.read(|root| {
        (
            root.one_of("a", &choices),
            root.one_of("b", &choices),
            root.one_of("c", &choices),
        )
    });
    assert_eq!(read.expect("valid"), (Some(-1), Some(1), Some(-1)));

    let errors = errors("flush = \"fsynk\"\n", |root| {
        root.one_of("flush", &[("fsync", true), ("os", false)]);
    });
    assert_eq!(
        errors[0].to_string(),
        "weir.toml:1:9: flush: expected \"fsync\" or \"os\", found \"fsynk\" \
         (did you mean \"fsync\"?)"
    );
}

#[test]
fn named_tables_and_arrays_of_tables_carry_their_key_paths() {
    let text = r#"
[topics.orders]
partitions = 3
[topics."my topic"]
partitions = "three"

[[sources]]
path = "a.csv"
[[sources]]
path = 5
"#;
    let errors = errors(text, |root| {
        let topics = root.named_tables("topics");
        let names: Vec<&str> = topics.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["orders", "my topic"]);
        for (_, mut topic) in topics {
            topic.u64("partitions");
        }
        for mut source in root.array_of_tables("sources") {
            source.string("path");
        }
    });
    let found: Vec<(Option<Position>, Option<&str>)> =
        errors.iter().map(|e| (e.position, key(e))).collect();
    assert_eq!(
        found,
        [
            (at(5, 14), Some("topics.\"my topic\".partitions")),
            (at(10, 8), Some("sources[1].path")),
        ]
    );
}

#[test]
fn inline_tables_read_like_tables() {
    let text = "topics = { orders = { partitions = 3 } }\nsources = [{ path = \"a\" }]\n";
    let source = Source::new("weir.toml", text);
    let read = source.read(|root| {
        let partitions: Vec<Option<u64>> = root
            .named_tables("topics")
            .into_iter()
            .map(|(_, mut topic)| topic.u64("partitions"))
            .collect();
        let paths: Vec<Option<String>> = root
            .array_of_tables("sources")
            .into_iter()
            .map(|mut source| source.string("path"))
            .collect();
        (partitions, paths)
    });
    assert_eq!(
        read.expect("valid"),
        (vec![Some(3)], vec![Some("a".to_owned())])
    );
}

#[test]
fn a_table_where_a_value_belongs_and_the_reverse() {
    let errors = errors("broker = 5\n[topics]\norders = 1\n", |root| {
        root.table("broker");
        root.named_tables("topics");
    });
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "weir.toml:1:10: broker: expected a table, found 5",
            "weir.toml:3:10: topics.orders: expected a table, found 1",
        ]
    );
}

#[test]
fn reject_and_ensure_point_at_the_value_and_reject_table_at_the_name() {
    let text = "[topics.\"bad name\"]\nsegment_bytes = 10\n";
    let errors = errors(text, |root| {
        for (_, mut topic) in root.named_tables("topics") {
            topic.reject_table("topic names may not contain spaces");
            let bytes = topic.size("segment_bytes");
            assert_eq!(
                topic.ensure("segment_bytes", bytes, "at least 1024", |b| *b >= 1024),
                None
            );
        }
    });
    let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "weir.toml:1:9: topics.\"bad name\": topic names may not contain spaces",
            "weir.toml:2:17: topics.\"bad name\".segment_bytes: must be at least 1024, found 10",
        ]
    );
}

#[test]
fn relative_paths_resolve_against_the_config_directory() {
    let source = Source::new(
        "/etc/weir/weir.toml",
        "dirs = [\"./data\", \"/var/weir\"]\nlog = \"logs/out\"",
    );
    let read = source.read(|root| (root.file_paths("dirs"), root.file_path("log")));
    assert_eq!(
        read.expect("valid"),
        (
            Some(vec![
                PathBuf::from("/etc/weir/data"),
                PathBuf::from("/var/weir")
            ]),
            Some(PathBuf::from("/etc/weir/logs/out"))
        )
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    let errors = errors("name = \"é\" ; x = 1\n", |_| {});
    assert_eq!(errors[0].position, at(1, 12));
}

#[test]
fn an_unreadable_file_is_one_error_without_position() {
    let errors: ConfigErrors = Source::load("/nonexistent/weir.toml").expect_err("missing file");
    let error = errors.iter().next().expect("one error");
    assert_eq!(error.position, None);
    assert!(
        error
            .to_string()
            .starts_with("/nonexistent/weir.toml: cannot read the file: "),
        "{error}"
    );
}
