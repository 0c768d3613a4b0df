//! Replication and clustering, process level: three (or four) `weir broker` processes on
//! loopback ports form a cluster with their metadata in Raft; topics are replicated with
//! Kafka's ISR model. Leaders are SIGKILLed (10 times) under an `acks=all` load while a
//! consumer reads along, and every acknowledged record must be readable afterwards at the
//! offset it was acknowledged with, the consumer having read the same log through every
//! failover; killed brokers
//! restart, catch up and rejoin the ISR; `min.insync.replicas` is enforced; a fourth broker
//! joins and receives new partitions; `weir cluster status` names the partitions that lost
//! a replica; a broker down while a topic is deleted drops its logs when it returns; a
//! partition whose ISR died is led by an out-of-sync replica only when its topic allows
//! unclean election; a returning broker leads its preferred partitions again; a broker
//! stopped gracefully hands its leadership over before it goes; a consumer group has one
//! coordinator whichever broker its members ask, and moves when that broker dies.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::admin::{AdminOptions, AlterConfig, ResourceSpecifier};
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};
use support::cluster::{
    Acknowledged, AcksAllLoad, Cluster, PATIENT_TIMEOUTS, assert_acknowledged_at_their_offsets,
    consume_continuously, create_topic, fully_replicated, read_back,
};
use support::kafka::{self, PATIENCE, Record};
use support::unavailability::{self, Failover};

#[tokio::test]
async fn a_replicated_topic_serves_from_every_broker() {
    let cluster = Cluster::start(3, "");
    let topic = support::topic_name("replicated");
    create_topic(&cluster, &topic, 6, 3, &[("min.insync.replicas", "2")]).await;
    let metadata = cluster.metadata(Some(&topic)).unwrap();
    let t = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .unwrap();
    let mut leaders: Vec<i32> = t.partitions().iter().map(|p| p.leader()).collect();
    leaders.sort_unstable();
    assert_eq!(
        leaders,
        vec![1, 1, 2, 2, 3, 3],
        "leaders spread over the brokers"
    );

    let producer = kafka::producer(&cluster.bootstrap(), &[("acks", "all")]);
    let records: Vec<Record> = (0..600)
        .map(|i| Record::unkeyed(format!("v{i}")).with_partition(i % 6))
        .collect();
    let delivered = kafka::produce(&producer, &topic, &records);
    assert_eq!(delivered.len(), 600);
    let got = read_back(&cluster, &topic, 6);
    kafka::assert_contiguous(&got);
    assert_eq!(got.values().map(Vec::len).sum::<usize>(), 600);
    cluster.wait_until("every replica in sync", PATIENCE, |m| {
        fully_replicated(m, &topic)
    });

    // A config change goes through the controller and reaches every broker.
    let options = AdminOptions::new().request_timeout(Some(PATIENCE));
    let altered = kafka::admin(&cluster.bootstrap())
        .alter_configs(
            &[AlterConfig::new(ResourceSpecifier::Topic(&topic)).set("retention.ms", "86400000")],
            &options,
        )
        .await
        .unwrap();
    assert!(altered.iter().all(Result::is_ok), "{altered:?}");
    for broker in &cluster.brokers {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let described = kafka::admin(&broker.addr())
                .describe_configs(&[ResourceSpecifier::Topic(&topic)], &options)
                .await
                .unwrap();
            let value = described[0]
                .as_ref()
                .ok()
                .and_then(|r| r.get("retention.ms"))
                .and_then(|e| e.value.clone());
            if value.as_deref() == Some("86400000") {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{}: retention.ms is {value:?}",
                broker.addr()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn acknowledged_records_survive_leader_kills() {
    let kills: usize = std::env::var("WEIR_CLUSTER_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(10);
    let mut cluster = Cluster::start(3, "");
    let topic = support::topic_name("failover");
    let partitions = 6;
    let load = AcksAllLoad::start(&cluster, &topic, partitions).await;
    let reading = Arc::new(AtomicBool::new(false));
    let consuming = consume_continuously(
        cluster.bootstrap(),
        topic.clone(),
        partitions,
        Arc::clone(&reading),
    );
    std::thread::sleep(Duration::from_secs(2));
    let mut failovers = Vec::new();
    for kill in 0..kills {
        let watched = (kill % partitions as usize) as i32;
        let (leader, _, _) = cluster.partition(&topic, watched).unwrap();
        assert!(leader > 0, "partition {watched} has a leader");
        let led = led_by(&cluster, &topic, leader);
        let killed_at = Instant::now();
        cluster.node(leader).kill();
        failovers.push(Failover {
            label: format!("kill {kill}: broker {leader}, leader of {led:?}"),
            at: killed_at,
            partitions: led,
        });
        let moved = cluster.wait_until("a new leader", PATIENCE, |m| {
            m.topics().iter().any(|t| {
                t.name() == topic
                    && t.partitions()
                        .iter()
                        .all(|p| p.leader() >= 0 && p.leader() != leader)
            })
        });
        eprintln!(
            "kill {kill}: broker {leader} (leader of {topic}/{watched}) killed; metadata polled every 100 ms showed new leaders after {:?}",
            killed_at.elapsed().max(moved)
        );
        std::thread::sleep(Duration::from_secs(1));
        cluster.node(leader).restart();
        let rejoined = cluster.wait_until(
            "the restarted broker back in every ISR",
            PATIENCE * 2,
            |m| fully_replicated(m, &topic),
        );
        eprintln!("kill {kill}: broker {leader} restarted and rejoined every ISR in {rejoined:?}");
    }
    std::thread::sleep(Duration::from_secs(1));
    let Acknowledged {
        records: acked,
        timings,
        failed,
    } = load.finish();
    eprintln!(
        "{} records acknowledged, {failed} failed over {kills} kills",
        acked.len()
    );
    unavailability::report(&failovers, &timings, Duration::from_secs(3));
    assert!(
        acked.len() > 1000,
        "the producer kept going: {} acknowledged",
        acked.len()
    );

    let got = read_back(&cluster, &topic, partitions);
    kafka::assert_contiguous(&got);
    assert_acknowledged_at_their_offsets(&acked, &got);
    // The consumer that read all along went through every failover: it saw the same log,
    // each record once, in order.
    reading.store(true, Ordering::Relaxed);
    let consumed = consuming.join().unwrap();
    assert_eq!(
        consumed.values().map(Vec::len).sum::<usize>(),
        got.values().map(Vec::len).sum::<usize>(),
        "records read during the failovers vs the log afterwards"
    );
    assert_eq!(
        consumed, got,
        "what the consumer read through the failovers"
    );
}

/// The partitions of `topic` that `broker` leads, as the metadata says.
fn led_by(cluster: &Cluster, topic: &str, broker: i32) -> Vec<i32> {
    let metadata = cluster
        .metadata(Some(topic))
        .expect("metadata from the cluster");
    led_in(&metadata, topic, broker)
}

/// The partitions of `topic` that `broker` leads in `metadata`.
fn led_in(metadata: &rdkafka::metadata::Metadata, topic: &str, broker: i32) -> Vec<i32> {
    metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions())
        .filter(|p| p.leader() == broker)
        .map(|p| p.id())
        .collect()
}

/// `weir cluster status` against `addr`: its output, after checking it succeeded.
fn cluster_status(addr: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["cluster", "status", "--bootstrap", addr])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "weir cluster status failed: {}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Produces one record with `acks`; the error librdkafka reports, if any.
fn produce_one(addr: &str, topic: &str, acks: &str) -> Option<KafkaError> {
    let producer = kafka::producer(
        addr,
        &[
            ("acks", acks),
            ("retries", "0"),
            ("enable.idempotence", "false"),
            ("message.timeout.ms", "10000"),
        ],
    );
    let (delivered, failed) = kafka::produce_allowing_failures(
        &producer,
        topic,
        &[Record::unkeyed(acks).with_partition(0)],
    );
    assert_eq!(delivered.len() + failed.len(), 1);
    failed.into_iter().next().map(|(e, _)| e)
}

#[tokio::test]
async fn min_insync_replicas_refuses_acks_all_but_not_acks_1() {
    let mut cluster = Cluster::start_with_timeouts(3, PATIENT_TIMEOUTS, "");
    let topic = support::topic_name("min-isr");
    create_topic(&cluster, &topic, 1, 3, &[("min.insync.replicas", "3")]).await;
    let (leader, replicas, _) = cluster.partition(&topic, 0).unwrap();
    let addr = cluster.node(leader).addr();
    assert_eq!(
        produce_one(&addr, &topic, "all"),
        None,
        "acks=all with a full ISR"
    );
    let followers: Vec<i32> = replicas.iter().copied().filter(|r| *r != leader).collect();
    let healthy = cluster_status(&addr);
    assert!(healthy.contains("brokers 3"), "{healthy}");
    assert!(
        healthy.contains("under-replicated 0  offline 0"),
        "{healthy}"
    );
    assert!(healthy.contains("controller"), "{healthy}");

    // One follower down: the controller fences it and the ISR shrinks to two, below three.
    cluster.node(followers[0]).kill();
    cluster.wait_until("the ISR shrunk to two", PATIENCE, |m| {
        m.topics()
            .iter()
            .any(|t| t.name() == topic && t.partitions()[0].isr().len() == 2)
    });
    // The leader may learn of the smaller ISR just after appending: then the answer is
    // NOT_ENOUGH_REPLICAS_AFTER_APPEND (the batch stays unacknowledged either way).
    let refused = produce_one(&addr, &topic, "all");
    assert!(
        matches!(
            refused,
            Some(KafkaError::MessageProduction(
                RDKafkaErrorCode::NotEnoughReplicas
                    | RDKafkaErrorCode::NotEnoughReplicasAfterAppend
            ))
        ),
        "acks=all with two of three in sync: {refused:?}"
    );
    assert_eq!(produce_one(&addr, &topic, "1"), None, "acks=1 still works");
    let degraded = cluster_status(&addr);
    let line = degraded
        .lines()
        .find(|l| l.starts_with(topic.as_str()))
        .unwrap_or_else(|| panic!("{topic} is not listed as troubled:\n{degraded}"));
    assert!(line.contains("under-replicated"), "{degraded}");
    assert!(degraded.contains("under-replicated 1"), "{degraded}");

    // Two of three down: the metadata quorum is lost with them, the leader keeps leading,
    // acks=all is still refused and acks=1 still answered.
    cluster.node(followers[1]).kill();
    std::thread::sleep(Duration::from_secs(3));
    let refused = produce_one(&addr, &topic, "all");
    assert!(
        matches!(
            refused,
            Some(KafkaError::MessageProduction(
                RDKafkaErrorCode::NotEnoughReplicas
            ))
        ),
        "acks=all with two of three brokers down: {refused:?}"
    );
    assert_eq!(
        produce_one(&addr, &topic, "1"),
        None,
        "acks=1 with two brokers down"
    );
}

/// Unclean leader election, process level: a partition whose only in-sync replica dies
/// stays without a leader unless its topic allows unclean election. There the replica
/// outside the ISR leads, losing what only the dead one had, and the old leader, back,
/// cuts that tail to the new leader's history; the clean topic's partition waits for its
/// ISR member and loses nothing.
#[tokio::test]
async fn only_an_unclean_topic_elects_a_replica_outside_the_isr() {
    let mut cluster = Cluster::start(3, "");
    let clean = support::topic_name("clean");
    let unclean = support::topic_name("unclean");
    create_topic(&cluster, &clean, 3, 2, &[("min.insync.replicas", "1")]).await;
    create_topic(
        &cluster,
        &unclean,
        3,
        2,
        &[
            ("min.insync.replicas", "1"),
            ("unclean.leader.election.enable", "true"),
        ],
    )
    .await;
    // Three partitions of two replicas take the pairs of brokers in turn: in each topic one
    // is led by broker 1 and followed by broker 2.
    let on_1_and_2 = |topic: &str| {
        (0..3)
            .find(|p| cluster.partition(topic, *p).unwrap().1 == [1, 2])
            .unwrap_or_else(|| panic!("no partition of {topic} on brokers 1 and 2"))
    };
    let watched = [
        (clean.as_str(), on_1_and_2(&clean)),
        (unclean.as_str(), on_1_and_2(&unclean)),
    ];
    let [(_, pc), (_, pu)] = watched;
    let producer = kafka::producer(&cluster.bootstrap(), &[("acks", "all")]);
    let send = |topic: &str, partition: i32, values: &[String]| {
        let records: Vec<Record> = values
            .iter()
            .map(|v| Record::unkeyed(v.clone()).with_partition(partition))
            .collect();
        kafka::produce(&producer, topic, &records);
    };
    for (topic, p) in watched {
        send(topic, p, &numbered(0..100));
    }
    cluster.wait_until("both partitions in sync", PATIENCE, |m| {
        watched.iter().all(|(t, p)| isr(m, t, *p).len() == 2)
    });

    // Broker 2 goes: the ISR shrinks to broker 1, which alone acknowledges fifty more.
    cluster.node(2).kill();
    cluster.wait_until("the ISRs shrunk to broker 1", PATIENCE, |m| {
        watched.iter().all(|(t, p)| isr(m, t, *p) == [1])
    });
    for (topic, p) in watched {
        send(topic, p, &numbered(100..150));
    }

    // Broker 1 goes too and broker 2 comes back: neither partition has a live ISR member.
    cluster.node(1).kill();
    cluster.node(2).restart();
    cluster.wait_until(
        "broker 2 leads the unclean topic's partition",
        PATIENCE,
        |m| leader(m, &unclean, pu) == 2,
    );
    let (clean_leader, _, _) = cluster.partition(&clean, pc).unwrap();
    assert_eq!(
        clean_leader, -1,
        "the clean topic's partition waits for broker 1"
    );
    assert_eq!(
        read_partition(&cluster, &unclean, pu, 100),
        numbered(0..100),
        "the unclean leader has what it had; what only broker 1 had is lost"
    );
    send(&unclean, pu, &numbered(1000..1010));

    // Broker 1 returns: it leads the clean partition again with every record, and follows
    // in the unclean one, where its fifty records diverge from the new leader's history.
    cluster.node(1).restart();
    cluster.wait_until("broker 1 back as leader and in sync", PATIENCE, |m| {
        leader(m, &clean, pc) == 1 && isr(m, &unclean, pu).len() == 2
    });
    assert_eq!(read_partition(&cluster, &clean, pc, 150), numbered(0..150));
    cluster.node(2).kill();
    cluster.wait_until(
        "broker 1 leads the unclean topic's partition",
        PATIENCE,
        |m| leader(m, &unclean, pu) == 1,
    );
    assert_eq!(
        read_partition(&cluster, &unclean, pu, 110),
        [numbered(0..100), numbered(1000..1010)].concat(),
        "broker 1 kept none of its divergent records"
    );
}

/// Records `v{from}`..`v{from + 299}`, round robin over partitions 0-5.
fn spread_over_6(from: usize) -> Vec<Record> {
    (from..from + 300)
        .map(|i| Record::unkeyed(format!("v{i}")).with_partition((i % 6) as i32))
        .collect()
}

fn numbered(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("v{i}")).collect()
}

fn isr(m: &rdkafka::metadata::Metadata, topic: &str, partition: i32) -> Vec<i32> {
    metadata_partition(m, topic, partition).map_or_else(Vec::new, |p| p.isr().to_vec())
}

fn leader(m: &rdkafka::metadata::Metadata, topic: &str, partition: i32) -> i32 {
    metadata_partition(m, topic, partition).map_or(-1, |p| p.leader())
}

fn metadata_partition<'m>(
    m: &'m rdkafka::metadata::Metadata,
    topic: &str,
    partition: i32,
) -> Option<&'m rdkafka::metadata::MetadataPartition> {
    m.topics()
        .iter()
        .find(|t| t.name() == topic)?
        .partitions()
        .iter()
        .find(|p| p.id() == partition)
}

/// The values of one partition from offset 0, which must hold exactly `count` records.
fn read_partition(cluster: &Cluster, topic: &str, partition: i32, count: usize) -> Vec<String> {
    let consumer = kafka::consumer(&cluster.bootstrap(), &[]);
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let got = kafka::poll_records(&consumer, count, PATIENCE);
    let (_, high) = consumer
        .fetch_watermarks(topic, partition, PATIENCE)
        .unwrap();
    assert_eq!(high, count as i64, "{topic}/{partition}'s high watermark");
    got.into_values()
        .flatten()
        .map(|m| String::from_utf8(m.value).unwrap())
        .collect()
}

/// Kafka's automatic leader rebalance: a killed broker that returns leads nothing at first;
/// once it is back in sync, the controller hands it the partitions it is the first replica
/// of (the check runs every second here instead of every five minutes), and every record
/// acknowledged on the way is there.
#[tokio::test]
async fn a_returning_broker_leads_its_preferred_partitions_again() {
    let mut cluster = Cluster::start(3, "leader_imbalance_check_interval_seconds = \"1s\"");
    let topic = support::topic_name("preferred");
    create_topic(&cluster, &topic, 6, 3, &[("min.insync.replicas", "2")]).await;
    let preferred_lead = |m: &rdkafka::metadata::Metadata| {
        m.topics().iter().any(|t| {
            t.name() == topic
                && t.partitions()
                    .iter()
                    .all(|p| p.replicas().first() == Some(&p.leader()))
        })
    };
    let mut led_by_1 = Vec::new();
    cluster.wait_until("the first replicas lead", PATIENCE, |m| {
        led_by_1 = led_in(m, &topic, 1);
        preferred_lead(m)
    });
    assert_eq!(led_by_1.len(), 2, "broker 1 is the first replica of two");

    let producer = kafka::producer(&cluster.bootstrap(), &[("acks", "all")]);
    cluster.node(1).kill();
    cluster.wait_until("the others lead broker 1's partitions", PATIENCE, |m| {
        m.topics()
            .iter()
            .any(|t| t.name() == topic && t.partitions().iter().all(|p| p.leader() > 1))
    });
    kafka::produce(&producer, &topic, &spread_over_6(0));
    cluster.node(1).restart();
    // One broker's metadata, read once: another's may still be applying the change.
    cluster.wait_until("broker 1 in sync and leading again", PATIENCE, |m| {
        fully_replicated(m, &topic) && preferred_lead(m) && led_in(m, &topic, 1) == led_by_1
    });
    kafka::produce(&producer, &topic, &spread_over_6(300));
    let got = read_back(&cluster, &topic, 6);
    kafka::assert_contiguous(&got);
    assert_eq!(got.values().map(Vec::len).sum::<usize>(), 600);
}

/// How soon after a graceful stop the hand-over must show: far less than the 8 s session of
/// `PATIENT_TIMEOUTS`, after which fencing would move leadership anyway.
const HAND_OVER_SEEN: Duration = Duration::from_secs(3);

/// Kafka's controlled shutdown: a broker stopped with SIGTERM first hands the partitions it
/// leads to other in-sync replicas and leaves the ISRs it shares. With an eight-second
/// session, the metadata read just after it exited already shows that (without the hand-over
/// it would show the broker leading and in sync until its session ended), and an `acks=all`
/// producer carries on at the new leaders.
#[tokio::test]
async fn a_stopping_broker_hands_its_leadership_over_first() {
    let mut cluster = Cluster::start_with_timeouts(3, PATIENT_TIMEOUTS, "");
    let topic = support::topic_name("handover");
    create_topic(&cluster, &topic, 6, 3, &[("min.insync.replicas", "2")]).await;
    cluster.wait_until("broker 1 leads some partitions", PATIENCE, |m| {
        !led_in(m, &topic, 1).is_empty()
    });
    let producer = kafka::producer(&cluster.bootstrap(), &[("acks", "all")]);
    kafka::produce(&producer, &topic, &spread_over_6(0));

    cluster.node(1).stop();
    // Well within the session: only the hand-over moves things this soon. The metadata
    // asked may be the broker that applies the change a heartbeat after the others.
    cluster.wait_until(
        "others lead and no ISR holds broker 1",
        HAND_OVER_SEEN,
        |m| {
            m.topics().iter().any(|t| {
                t.name() == topic
                    && t.partitions()
                        .iter()
                        .all(|p| p.leader() > 1 && !p.isr().contains(&1))
            })
        },
    );
    assert!(
        cluster.brokers[0]
            .log_text()
            .contains("handed leadership and ISR places over"),
        "{}",
        cluster.brokers[0].log_text()
    );
    kafka::produce(&producer, &topic, &spread_over_6(300));
    let got = read_back(&cluster, &topic, 6);
    kafka::assert_contiguous(&got);
    assert_eq!(got.values().map(Vec::len).sum::<usize>(), 600);
}

#[tokio::test]
async fn a_fourth_broker_joins_and_receives_new_partitions() {
    let mut cluster = Cluster::start(3, "");
    let id = cluster.add_broker();
    assert_eq!(id, 4);
    cluster.wait_for_brokers(4);
    let topic = support::topic_name("scaled");
    create_topic(&cluster, &topic, 8, 2, &[]).await;
    let metadata = cluster.metadata(Some(&topic)).unwrap();
    let t = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .unwrap();
    let on_new: Vec<i32> = t
        .partitions()
        .iter()
        .filter(|p| p.replicas().contains(&4))
        .map(|p| p.id())
        .collect();
    assert_eq!(
        on_new.len(),
        4,
        "broker 4 holds a replica of half the partitions"
    );
    assert!(
        t.partitions().iter().any(|p| p.leader() == 4),
        "broker 4 leads some"
    );

    let producer = kafka::producer(&cluster.bootstrap(), &[("acks", "all")]);
    let records: Vec<Record> = (0..400)
        .map(|i| Record::unkeyed(format!("v{i}")).with_partition(i % 8))
        .collect();
    kafka::produce(&producer, &topic, &records);
    let got = read_back(&cluster, &topic, 8);
    assert_eq!(got.values().map(Vec::len).sum::<usize>(), 400);
    cluster.wait_until("broker 4's replicas in sync", PATIENCE, |m| {
        fully_replicated(m, &topic)
    });
}

#[tokio::test]
async fn a_broker_down_while_its_topic_is_deleted_drops_the_logs_on_restart() {
    let mut cluster = Cluster::start_with_timeouts(3, PATIENT_TIMEOUTS, "");
    let topic = support::topic_name("stray");
    create_topic(&cluster, &topic, 2, 3, &[]).await;
    let dirs: Vec<_> = (0..2)
        .map(|p| cluster.node(3).data_dir().join(format!("{topic}-{p}")))
        .collect();
    assert!(dirs.iter().all(|d| d.exists()), "broker 3 holds a replica");
    cluster.node(3).stop();
    let deleted = kafka::admin(&cluster.bootstrap())
        .delete_topics(
            &[topic.as_str()],
            &AdminOptions::new().request_timeout(Some(PATIENCE)),
        )
        .await
        .unwrap();
    assert_eq!(deleted, vec![Ok(topic.clone())]);
    cluster.node(3).restart();
    let deadline = Instant::now() + PATIENCE;
    while dirs.iter().any(|d| d.exists()) {
        assert!(
            Instant::now() < deadline,
            "broker 3 kept the logs of the deleted topic"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A consumer group has one coordinator in a cluster, whichever broker its members ask:
/// two consumers bootstrapped from different brokers share the partitions, and an offset
/// committed by one is read through a third broker. (Each broker used to coordinate the
/// groups it was asked about, so these two formed two groups and both read everything.)
#[tokio::test]
async fn a_group_has_one_coordinator_whichever_broker_its_members_ask() {
    let mut cluster = Cluster::start(3, "");
    let topic = support::topic_name("grouped");
    create_topic(&cluster, &topic, 6, 2, &[]).await;
    let group = support::topic_name("group");
    let [first, second, third] = [1, 2, 3].map(|id| cluster.node(id).addr());
    let one = kafka::group_consumer(&first, &group);
    let two = kafka::group_consumer(&second, &group);
    one.subscribe(&[&topic]).unwrap();
    two.subscribe(&[&topic]).unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        for consumer in [&one, &two] {
            if let Some(Err(e)) = consumer.poll(Duration::from_millis(100)) {
                panic!("consumer error: {e}");
            }
        }
        let (a, b) = (kafka::assigned(&one), kafka::assigned(&two));
        if !a.is_empty() && !b.is_empty() && a.is_disjoint(&b) && a.len() + b.len() == 6 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no single group within {PATIENCE:?}: assignments {a:?} and {b:?}"
        );
    }

    let named: Vec<i32> = [&first, &second, &third]
        .iter()
        .map(|addr| coordinator_named_by(addr, &group))
        .collect();
    assert!(
        named.iter().all(|&id| id == named[0]),
        "every broker names the same coordinator: {named:?}"
    );

    let mine = kafka::assigned(&one);
    let mut commit = TopicPartitionList::new();
    for &p in &mine {
        commit
            .add_partition_offset(&topic, p, Offset::Offset(7))
            .unwrap();
    }
    one.commit(&commit, rdkafka::consumer::CommitMode::Sync)
        .unwrap();
    let reader = kafka::group_consumer(&third, &group);
    let committed = reader
        .committed_offsets(commit.clone(), Duration::from_secs(10))
        .unwrap();
    let offsets: Vec<(i32, Offset)> = committed
        .elements()
        .iter()
        .map(|e| (e.partition(), e.offset()))
        .collect();
    assert_eq!(
        offsets,
        mine.iter()
            .map(|&p| (p, Offset::Offset(7)))
            .collect::<Vec<_>>(),
        "the offsets committed through broker 1's coordinator, read through broker 3"
    );
}

/// The coordinator broker `addr` names for `group` (FindCoordinator v3), once it has one.
fn coordinator_named_by(addr: &str, group: &str) -> i32 {
    use kafka_protocol::messages::{ApiKey, FindCoordinatorRequest, FindCoordinatorResponse};
    let request = FindCoordinatorRequest::default().with_key(
        kafka_protocol::protocol::StrBytes::from_string(group.to_string()),
    );
    let deadline = Instant::now() + PATIENCE;
    loop {
        let response: FindCoordinatorResponse = support::wire::call(
            &mut support::wire::connect(addr),
            ApiKey::FindCoordinator,
            3,
            &request,
        );
        if response.error_code == 0 {
            return response.node_id.0;
        }
        assert!(
            Instant::now() < deadline,
            "{addr} named no coordinator for {group}: error {}",
            response.error_code
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// When a group's coordinator dies, FindCoordinator moves the group to a live broker and
/// its members go on consuming. (What the group committed there stays behind: group
/// offsets are not replicated.)
#[tokio::test]
async fn a_group_whose_coordinator_dies_moves_to_a_live_broker() {
    let mut cluster = Cluster::start(3, "");
    let topic = support::topic_name("regrouped");
    create_topic(&cluster, &topic, 2, 3, &[]).await;
    let group = support::topic_name("group");
    let dead = coordinator_named_by(&cluster.node(2).addr(), &group);
    let consumer = kafka::group_consumer(&cluster.bootstrap(), &group);
    consumer.subscribe(&[&topic]).unwrap();
    let deadline = Instant::now() + PATIENCE;
    while kafka::assigned(&consumer).len() < 2 {
        assert!(Instant::now() < deadline, "the group never formed");
        if let Some(Err(e)) = consumer.poll(Duration::from_millis(100)) {
            panic!("consumer error: {e}");
        }
    }

    cluster.node(dead).kill();
    let live: Vec<String> = [1, 2, 3]
        .into_iter()
        .filter(|&id| id != dead)
        .map(|id| cluster.node(id).addr())
        .collect();
    let producer = kafka::producer(&live.join(","), &[("acks", "all")]);
    let records: Vec<Record> = (0..20)
        .map(|i| Record::unkeyed(format!("after-{i}")).with_partition(i % 2))
        .collect();
    kafka::produce(&producer, &topic, &records);
    let mut got = 0;
    let deadline = Instant::now() + PATIENCE;
    while got < records.len() {
        assert!(
            Instant::now() < deadline,
            "{got} of {} records consumed after coordinator {dead} died",
            records.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) if m.payload().is_some_and(|p| p.starts_with(b"after-")) => got += 1,
            _ => {}
        }
    }
    let now = coordinator_named_by(&live[0], &group);
    assert_ne!(now, dead, "the group moved off the dead broker");
    assert_eq!(now, coordinator_named_by(&live[1], &group));
}
