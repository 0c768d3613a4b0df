//! Bad input fails the one connector, with an error naming it and the cause, while the
//! others in the same process keep delivering.

use std::time::Duration;

use crate::broker::{Connect, TestBroker, ids};
use crate::databases::{Kind, Scratch};

fn sqlite_source(name: &str, url: &str, settings: &str) -> String {
    format!(
        "[[sources]]\nname = \"{name}\"\nkind = \"sqlite\"\nurl = \"{url}\"\ntopic = \"{name}\"\n\
         poll_interval = \"50ms\"\n{settings}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sources_fail_alone_with_their_cause() {
    let db = Scratch::new(Kind::Sqlite).await;
    db.exec("CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT)")
        .await;
    let pg = Scratch::new(Kind::Postgres).await;
    let broker = TestBroker::start().await;
    let missing_file = db.url.replace(".db", "-missing.db");
    let config = [
        sqlite_source("good", &db.url, "table = \"orders\"\ncolumn = \"id\""),
        sqlite_source("no_table", &db.url, "table = \"nope\"\ncolumn = \"id\""),
        sqlite_source("no_column", &db.url, "table = \"orders\"\ncolumn = \"nope\""),
        sqlite_source(
            "bad_query",
            &db.url,
            "mode = \"query\"\ncolumn = \"id\"\nquery = \"SELECT id FROM orders WHERE id > :cursor AND nonsense\"",
        ),
        sqlite_source("no_file", &missing_file, "table = \"orders\"\ncolumn = \"id\""),
        format!(
            "[[sources]]\nname = \"bad_url\"\nkind = \"postgres\"\nurl = \"{}\"\ntopic = \"bad_url\"\n\
             table = \"orders\"\ncolumn = \"id\"\n",
            pg.url.replace("/test?", "/weir_no_such_database?")
        ),
    ]
    .concat();
    let topics = [
        "good",
        "no_table",
        "no_column",
        "bad_query",
        "no_file",
        "bad_url",
    ];
    let connect = Connect::start(&broker, &topics, &config);
    for n in 1..=5 {
        db.exec(&format!("INSERT INTO orders (item) VALUES ('i{n}')"))
            .await;
    }
    let records = broker.records("good", 5, Duration::from_secs(20)).await;
    assert_eq!(ids(&records), vec![1, 2, 3, 4, 5]);
    // The status file says which connectors failed and why while the good one runs.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(connect.status("good").unwrap()["state"], "running");
    let reason = |name: &str| {
        let status = connect.status(name).unwrap();
        assert_eq!(status["state"], "failed", "{status}");
        status["reason"].as_str().unwrap().to_owned()
    };
    assert_eq!(reason("no_table"), "table nope does not exist");
    assert_eq!(
        reason("no_column"),
        "table orders has no column nope (it has: id, item)"
    );
    let bad_query = reason("bad_query");
    assert!(
        bad_query.starts_with("query failed: ") && bad_query.contains("nonsense"),
        "{bad_query}"
    );
    let no_file = reason("no_file");
    assert!(
        no_file.starts_with("cannot connect to sqlite://") && no_file.contains("-missing.db"),
        "{no_file}"
    );
    let bad_url = reason("bad_url");
    assert!(
        bad_url.starts_with("cannot connect to postgres://")
            && bad_url.contains("weir_no_such_database"),
        "{bad_url}"
    );
    let mut failed: Vec<String> = connect.stop().await.into_iter().map(|(n, _)| n).collect();
    failed.sort();
    assert_eq!(
        failed,
        ["bad_query", "bad_url", "no_column", "no_file", "no_table"]
    );
}

#[test]
fn config_errors_name_file_line_and_key() {
    let text = "[cluster]\nbootstrap = [\"127.0.0.1:9092\"]\n\
                [[sources]]\nname = \"a\"\nkind = \"postgres\"\ntopic = \"t\"\n\
                url = \"${WEIR_TEST_SURELY_UNSET}\"\nmode = \"timestamp\"\ntable = \"orders\"\n\
                column = \"id\"\n\
                [[sources]]\nname = \"b\"\nkind = \"sqlite\"\ntopic = \"t\"\nurl = \"sqlite://x\"\n\
                mode = \"notify\"\ntable = \"orders\"\ncolumn = \"id\"\n";
    let source = weir_config::Source::new("/etc/weir/connectors.toml", text);
    let errors = weir_connectors::ConnectConfig::parse(&source)
        .unwrap_err()
        .to_string();
    assert!(
        errors.contains("connectors.toml:7:7: sources[0].url: the environment variable WEIR_TEST_SURELY_UNSET is not set"),
        "{errors}"
    );
    assert!(
        errors.contains("timestamp_column = \"…\" is required"),
        "{errors}"
    );
    assert!(
        errors.contains("sources[1].mode: mode = \"notify\" needs kind = \"postgres\""),
        "{errors}"
    );
}

#[test]
fn keys_of_another_mode_are_errors_not_ignored() {
    let text = "[cluster]\nbootstrap = [\"127.0.0.1:9092\"]\n\
                [[sources]]\nname = \"a\"\nkind = \"postgres\"\ntopic = \"t\"\n\
                url = \"postgres://x\"\nmode = \"incrementing\"\ntable = \"orders\"\n\
                column = \"id\"\ntables = [\"orders\", \"lines\"]\n\
                [[sources]]\nname = \"b\"\nkind = \"postgres\"\ntopic = \"t\"\nurl = \"postgres://x\"\n\
                mode = \"cdc\"\ntable = \"orders\"\ncolumn = \"id\"\n";
    let source = weir_config::Source::new("/etc/weir/connectors.toml", text);
    let errors = weir_connectors::ConnectConfig::parse(&source)
        .unwrap_err()
        .to_string();
    assert!(
        errors.contains(
            "connectors.toml:11:10: sources[0].tables: only used in mode = \"cdc\", \
             not in mode = \"incrementing\""
        ),
        "{errors}"
    );
    assert!(
        errors.contains("connectors.toml:19:10: sources[1].column: only used in mode ="),
        "{errors}"
    );
    assert!(errors.contains("not in mode = \"cdc\""), "{errors}");
}
