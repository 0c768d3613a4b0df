//! The admin client against the broker: topics created (with configs), listed, described,
//! altered, grown and deleted; groups listed and described with their members'
//! assignments; committed offsets and lag that falls to zero once the group catches up.

#![allow(clippy::unwrap_used)] // test code: a failure is a failed test

use std::time::Duration;

use weir_client::{
    Admin, AdminConfig, AdminError, ConfigChange, ConfigSource, Consumer, NewTopic, ProducerRecord,
    TopicError, TopicPartition,
};

use crate::harness::{TestBroker, consume};

fn admin(broker: &TestBroker) -> Admin {
    Admin::new(
        AdminConfig::new([broker.address.clone()]).with_request_timeout(Duration::from_secs(10)),
    )
    .unwrap()
}

fn config_value(
    description: &weir_client::TopicDescription,
    name: &str,
) -> Option<(String, ConfigSource)> {
    description
        .configs
        .iter()
        .find(|c| c.name == name)
        .map(|c| (c.value.clone().unwrap_or_default(), c.source))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_round_trip() {
    let broker = TestBroker::start(&[]).await;
    let admin = admin(&broker);

    let created = admin
        .create_topics(vec![
            NewTopic::new("admin-a", 3, 1).with_config("retention.ms", "3600000"),
            NewTopic::new("admin-b", 1, 1),
        ])
        .await
        .unwrap();
    assert_eq!(created.len(), 2);
    for (name, outcome) in &created {
        assert!(outcome.is_ok(), "{name}: {outcome:?}");
    }

    // Creating it again is a distinct, matchable outcome; a bad request is refused per topic.
    let again = admin
        .create_topics(vec![
            NewTopic::new("admin-a", 3, 1),
            NewTopic::new("admin-c", 0, 1),
        ])
        .await
        .unwrap();
    assert!(
        matches!(&again[0].1, Err(TopicError::AlreadyExists { topic }) if topic == "admin-a"),
        "{again:?}"
    );
    let refused = again[1].1.as_ref().unwrap_err();
    assert!(matches!(refused, TopicError::Refused { .. }), "{refused:?}");
    assert!(
        refused.to_string().contains("INVALID_PARTITIONS"),
        "{refused}"
    );
    let bad_config = admin
        .create_topics(vec![
            NewTopic::new("admin-d", 1, 1).with_config("retention.hours", "1"),
        ])
        .await
        .unwrap();
    assert!(bad_config[0].1.is_err(), "{bad_config:?}");

    let topics = admin.list_topics().await.unwrap();
    assert!(topics.contains(&"admin-a".to_string()), "{topics:?}");
    assert!(topics.contains(&"admin-b".to_string()), "{topics:?}");
    assert!(!topics.contains(&"admin-d".to_string()), "{topics:?}");

    let described = admin
        .describe_topics(&["admin-a".to_string()])
        .await
        .unwrap();
    let a = &described[0];
    assert_eq!(a.partitions.len(), 3);
    for (i, p) in a.partitions.iter().enumerate() {
        assert_eq!(p.partition, i as i32);
        let leader = p.leader.expect("a leader");
        assert_eq!(p.replicas, vec![leader]);
        assert_eq!(p.isr, vec![leader]);
    }
    assert_eq!(
        config_value(a, "retention.ms"),
        Some(("3600000".to_string(), ConfigSource::Topic))
    );

    admin
        .alter_topic_configs(
            "admin-a",
            vec![
                ConfigChange::delete("retention.ms"),
                ConfigChange::set("max.message.bytes", "65536"),
            ],
        )
        .await
        .unwrap();
    let a = admin
        .describe_topics(&["admin-a".to_string()])
        .await
        .unwrap()
        .remove(0);
    assert_ne!(
        config_value(&a, "retention.ms").unwrap().1,
        ConfigSource::Topic
    );
    assert_eq!(
        config_value(&a, "max.message.bytes"),
        Some(("65536".to_string(), ConfigSource::Topic))
    );
    let bad = admin
        .alter_topic_configs(
            "admin-a",
            vec![ConfigChange::set("max.message.bytes", "lots")],
        )
        .await
        .unwrap_err();
    assert!(matches!(bad, AdminError::Config { .. }), "{bad:?}");

    admin.create_partitions("admin-a", 5).await.unwrap();
    let a = admin
        .describe_topics(&["admin-a".to_string()])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(a.partitions.len(), 5);
    let shrink = admin.create_partitions("admin-a", 2).await.unwrap_err();
    assert!(
        shrink.to_string().contains("INVALID_PARTITIONS"),
        "{shrink}"
    );

    let deleted = admin
        .delete_topics(&["admin-b".to_string(), "admin-none".to_string()])
        .await
        .unwrap();
    assert!(deleted[0].1.is_ok(), "{deleted:?}");
    assert!(
        matches!(&deleted[1].1, Err(TopicError::Unknown { topic }) if topic == "admin-none"),
        "{deleted:?}"
    );
    assert!(
        !admin
            .list_topics()
            .await
            .unwrap()
            .contains(&"admin-b".to_string())
    );
    let missing = admin
        .describe_topics(&["admin-b".to_string()])
        .await
        .unwrap_err();
    assert!(
        matches!(missing, AdminError::Topic(TopicError::Unknown { .. })),
        "{missing:?}"
    );
    broker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_offsets_and_lag() {
    let broker = TestBroker::start(&[("lagged", 2)]).await;
    let admin = admin(&broker);
    let producer = broker.producer();
    for i in 0..20 {
        producer
            .send(ProducerRecord::new("lagged", format!("v{i}")).with_key(format!("k{i}")))
            .await
            .unwrap();
    }

    let mut config = broker.consumer_config().with_group("lag-group");
    config.client_id = "lag-client".to_string();
    config.enable_auto_commit = false;
    let mut consumer = Consumer::new(config).unwrap();
    consumer.subscribe(["lagged"]).unwrap();
    assert_eq!(consume(&mut consumer, 20).await.len(), 20);
    consumer.commit_sync().await.unwrap();

    let groups = admin.list_groups().await.unwrap();
    assert!(
        groups
            .iter()
            .any(|g| g.group_id == "lag-group" && g.protocol_type == "consumer"),
        "{groups:?}"
    );

    let described = admin
        .describe_groups(&["lag-group".to_string()])
        .await
        .unwrap();
    assert_eq!(described.len(), 1);
    let group = &described[0];
    assert_eq!(group.state, "Stable");
    assert_eq!(group.members.len(), 1);
    let member = &group.members[0];
    assert_eq!(member.client_id, "lag-client");
    assert!(!member.client_host.is_empty());
    let mut assignment = member.assignment.clone();
    assignment.sort();
    assert_eq!(
        assignment,
        vec![
            TopicPartition::new("lagged", 0),
            TopicPartition::new("lagged", 1)
        ]
    );

    let committed = admin.list_group_offsets("lag-group").await.unwrap();
    assert_eq!(committed.values().sum::<i64>(), 20, "{committed:?}");
    let lag = admin.group_lag("lag-group").await.unwrap();
    assert_eq!(lag.len(), 2);
    assert!(
        lag.iter().all(|l| l.lag == Some(0) && l.member.is_some()),
        "{lag:?}"
    );

    for i in 0..7 {
        producer
            .send(ProducerRecord::new("lagged", format!("late{i}")))
            .await
            .unwrap();
    }
    let lag = admin.group_lag("lag-group").await.unwrap();
    assert_eq!(lag.iter().filter_map(|l| l.lag).sum::<i64>(), 7, "{lag:?}");
    assert_eq!(lag.iter().map(|l| l.log_end).sum::<i64>(), 27, "{lag:?}");

    // An unknown group is Dead with no members, and has no offsets.
    let dead = admin
        .describe_groups(&["no-such-group".to_string()])
        .await
        .unwrap();
    assert_eq!(dead[0].state, "Dead");
    assert!(dead[0].members.is_empty());
    assert!(
        admin
            .list_group_offsets("no-such-group")
            .await
            .unwrap()
            .is_empty()
    );

    consumer.close().await.unwrap();
    broker.stop().await;
}

#[tokio::test]
async fn an_unreachable_cluster_fails_within_the_request_timeout() {
    // A port that was free a moment ago: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let admin = Admin::new(
        AdminConfig::new([format!("127.0.0.1:{port}")])
            .with_request_timeout(Duration::from_secs(2)),
    )
    .unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(30), admin.brokers()).await;
    let error = outcome
        .expect("bounded by the request timeout")
        .unwrap_err();
    assert!(matches!(error, AdminError::Client(_)), "{error:?}");
    assert!(error.to_string().contains("no broker reachable"), "{error}");
}
