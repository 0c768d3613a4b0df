//! Scaling, process level: a fourth `weir broker` joins a three-broker cluster under an
//! `acks=all` load and `weir cluster rebalance` moves replicas onto it (KIP-455
//! reassignment: the new replicas catch up, then the old ones leave and delete their logs).
//! No acknowledged record may be lost or moved, and the old brokers keep no copy of what
//! they gave away. Also: AlterPartitionReassignments' error codes through the Rust admin
//! client, `weir partition reassign` moving one partition, and a move in progress that
//! outlives the controller leader.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::cluster::{
    Acknowledged, AcksAllLoad, Cluster, PATIENT_TIMEOUTS, assert_acknowledged_at_their_offsets,
    create_topic, fully_replicated, read_back,
};
use support::kafka::{self, PATIENCE};
use weir_client::{Admin, AdminConfig, Reassignment};

/// Runs `weir` with `args` against `addr`; its stdout, after checking it succeeded.
fn weir(addr: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .args(["--bootstrap", addr, "--timeout", "30s"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "weir {args:?} failed: {}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Runs `weir` with `args` against `addr`, expecting it to fail; its stderr.
fn weir_failing(addr: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .args(["--bootstrap", addr, "--timeout", "30s"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "weir {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Each partition's replicas, by partition.
fn replicas(cluster: &Cluster, topic: &str) -> BTreeMap<i32, Vec<i32>> {
    let metadata = cluster.metadata(Some(topic)).unwrap();
    let t = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .unwrap();
    t.partitions()
        .iter()
        .map(|p| (p.id(), p.replicas().to_vec()))
        .collect()
}

/// Waits until `broker` holds a log directory for exactly the partitions of `topic` it is a
/// replica of.
fn wait_for_copies(
    cluster: &mut Cluster,
    broker: i32,
    topic: &str,
    assigned: &BTreeMap<i32, Vec<i32>>,
) {
    let dir = cluster.node(broker).data_dir();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let wrong: Vec<String> = assigned
            .iter()
            .filter(|(p, replicas)| {
                replicas.contains(&broker) != dir.join(format!("{topic}-{p}")).exists()
            })
            .map(|(p, replicas)| format!("{topic}-{p} (replicas {replicas:?})"))
            .collect();
        if wrong.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "broker {broker}'s copies do not match its assignment: {wrong:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test]
async fn a_fourth_broker_takes_replicas_under_load_without_losing_records() {
    let mut cluster = Cluster::start_with_timeouts(3, PATIENT_TIMEOUTS, "");
    let topic = support::topic_name("scaling");
    let partitions = 6;
    let load = AcksAllLoad::start(&cluster, &topic, partitions).await;
    std::thread::sleep(Duration::from_secs(2));

    assert_eq!(cluster.add_broker(), 4);
    cluster.wait_for_brokers(4);
    let addr = cluster.node(1).addr();
    let plan = weir(&addr, &["cluster", "rebalance", "--dry-run"]);
    eprintln!("{plan}");
    assert!(plan.contains("TARGET"), "the plan is printed: {plan}");
    assert!(
        replicas(&cluster, &topic).values().all(|r| !r.contains(&4)),
        "a dry run moves nothing"
    );
    let started = Instant::now();
    let applied = weir(&addr, &["cluster", "rebalance", "--wait"]);
    eprintln!("{applied}rebalance done in {:?}", started.elapsed());
    std::thread::sleep(Duration::from_secs(1));
    let Acknowledged {
        records: acked,
        failed,
        ..
    } = load.finish();
    eprintln!(
        "{} records acknowledged, {failed} failed while replicas moved",
        acked.len()
    );
    assert!(
        acked.len() > 500,
        "the producer kept going: {}",
        acked.len()
    );
    assert_eq!(
        failed, 0,
        "no delivery failed for good while replicas moved"
    );

    cluster.wait_until("every replica in sync", PATIENCE, |m| {
        fully_replicated(m, &topic)
    });
    let assigned = replicas(&cluster, &topic);
    let mut per_broker: BTreeMap<i32, usize> = BTreeMap::new();
    for r in assigned.values() {
        assert_eq!(r.len(), 3, "the replication factor stays: {assigned:?}");
        for b in r {
            *per_broker.entry(*b).or_default() += 1;
        }
    }
    assert!(
        per_broker.get(&4).is_some_and(|n| *n >= 4),
        "broker 4 hosts its share: {per_broker:?}"
    );
    assert!(
        per_broker.values().all(|n| (4..=5).contains(n)),
        "replicas spread evenly: {per_broker:?}"
    );
    for broker in 1..=4 {
        wait_for_copies(&mut cluster, broker, &topic, &assigned);
    }
    let ongoing = weir(&addr, &["partition", "reassignments"]);
    assert_eq!(ongoing.lines().count(), 1, "only the header: {ongoing}");
    assert!(
        weir(&addr, &["cluster", "rebalance", "--dry-run"]).contains("already balanced"),
        "a second rebalance has nothing to do"
    );

    let got = read_back(&cluster, &topic, partitions);
    kafka::assert_contiguous(&got);
    assert_acknowledged_at_their_offsets(&acked, &got);
}

#[tokio::test]
async fn reassignment_requests_are_checked_and_one_partition_moves() {
    let mut cluster = Cluster::start_with_timeouts(3, PATIENT_TIMEOUTS, "");
    let topic = support::topic_name("reassign");
    create_topic(&cluster, &topic, 2, 2, &[]).await;
    let bootstrap = cluster.bootstrap();
    let admin = Admin::new(AdminConfig::new(bootstrap.split(','))).unwrap();
    let refused = |moves: Vec<Reassignment>| {
        let admin = admin.clone();
        async move {
            let outcomes = admin.alter_partition_reassignments(&moves).await.unwrap();
            outcomes
                .into_iter()
                .map(|(_, outcome)| outcome.unwrap_err().code.to_string())
                .collect::<Vec<_>>()
        }
    };
    let codes = refused(vec![
        Reassignment::to("no-such-topic", 0, vec![1, 2]),
        Reassignment::to(&topic, 7, vec![1, 2]),
        Reassignment::to(&topic, 0, vec![1, 1]),
        Reassignment::to(&topic, 0, vec![1, 9]),
        Reassignment::to(&topic, 0, vec![]),
        Reassignment::cancel(&topic, 1),
    ])
    .await;
    assert_eq!(
        codes,
        vec![
            "UNKNOWN_TOPIC_OR_PARTITION (3)",
            "UNKNOWN_TOPIC_OR_PARTITION (3)",
            "INVALID_REPLICA_ASSIGNMENT (39)",
            "INVALID_REPLICA_ASSIGNMENT (39)",
            "INVALID_REPLICA_ASSIGNMENT (39)",
            "NO_REASSIGNMENT_IN_PROGRESS (85)",
        ]
    );
    assert!(
        admin
            .list_partition_reassignments()
            .await
            .unwrap()
            .is_empty()
    );

    let producer = kafka::producer(&cluster.bootstrap(), &[("acks", "all")]);
    let records: Vec<kafka::Record> = (0..200)
        .map(|i| kafka::Record::unkeyed(format!("v{i}")).with_partition(0))
        .collect();
    kafka::produce(&producer, &topic, &records);
    let before = replicas(&cluster, &topic)[&0].clone();
    let outsider = (1..=3).find(|b| !before.contains(b)).unwrap();
    let target = vec![outsider, before[0]];
    let list = |ids: &[i32]| ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    let addr = cluster.node(1).addr();
    let out = weir(
        &addr,
        &[
            "partition",
            "reassign",
            "--topic",
            &topic,
            "--partition",
            "0",
            "--replicas",
            &list(&target),
            "--wait",
        ],
    );
    eprintln!("{out}");
    cluster.wait_until("partition 0 on its new replicas", PATIENCE, |m| {
        m.topics().iter().any(|t| {
            t.name() == topic
                && t.partitions().iter().any(|p| {
                    p.id() == 0 && p.replicas() == target.as_slice() && p.leader() == outsider
                })
        })
    });

    // Partition 1 by a plan file in Kafka's format, onto all three brokers.
    let plan_dir = tempfile::tempdir().unwrap();
    let plan = plan_dir.path().join("plan.json");
    std::fs::write(
        &plan,
        format!(r#"{{"version":1,"partitions":[{{"topic":"{topic}","partition":1,"replicas":[3,2,1]}}]}}"#),
    )
    .unwrap();
    weir(
        &addr,
        &[
            "partition",
            "reassign",
            "--plan",
            plan.to_str().unwrap(),
            "--wait",
        ],
    );
    assert_eq!(replicas(&cluster, &topic)[&1], vec![3, 2, 1]);

    // Refusals are one line on stderr naming the partition and Kafka's code, exit non-zero.
    let refused = weir_failing(
        &addr,
        &[
            "partition",
            "reassign",
            "--topic",
            &topic,
            "--partition",
            "0",
            "--replicas",
            "1,1",
        ],
    );
    assert!(
        refused.contains(&format!("{topic}-0: INVALID_REPLICA_ASSIGNMENT (39)"))
            && refused.contains("listed twice"),
        "{refused}"
    );
    std::fs::write(&plan, "{\"partitions\": 7}").unwrap();
    let bad_plan = weir_failing(
        &addr,
        &["partition", "reassign", "--plan", plan.to_str().unwrap()],
    );
    assert!(
        bad_plan.contains("is not a reassignment plan"),
        "{bad_plan}"
    );

    let assigned = replicas(&cluster, &topic);
    for broker in 1..=3 {
        wait_for_copies(&mut cluster, broker, &topic, &assigned);
    }
    let got = read_back(&cluster, &topic, 2);
    assert_eq!(got[&0].len(), 200, "the moved partition kept its records");
}

/// The admin client for the running brokers of `cluster`.
fn admin(cluster: &Cluster) -> Admin {
    let bootstrap = cluster.bootstrap();
    Admin::new(AdminConfig::new(bootstrap.split(','))).unwrap()
}

#[tokio::test]
async fn a_reassignment_in_progress_survives_controller_failover() {
    let mut cluster = Cluster::start_with_timeouts(4, PATIENT_TIMEOUTS, "");
    let topic = support::topic_name("failover-move");
    create_topic(&cluster, &topic, 4, 2, &[]).await;
    // A partition broker 4 (not a voter) does not hold: it is the replica to add.
    let (partition, before) = replicas(&cluster, &topic)
        .into_iter()
        .find(|(_, r)| !r.contains(&4))
        .unwrap();
    let controller = admin(&cluster)
        .describe_cluster()
        .await
        .unwrap()
        .controller
        .unwrap();
    assert_ne!(controller, 4, "the controller is a voter");

    // A frozen broker 4 cannot catch up: the move stays in progress.
    cluster.node(4).pause();
    let target: Vec<i32> = before.iter().copied().chain([4]).collect();
    let outcomes = admin(&cluster)
        .alter_partition_reassignments(&[Reassignment::to(&topic, partition, target.clone())])
        .await
        .unwrap();
    assert!(outcomes[0].1.is_ok(), "{outcomes:?}");
    cluster.node(controller).kill();
    // Any broker answers from the metadata it applied: one may learn that the move was
    // committed only once the new controller commits in its term. A lost move never shows.
    let deadline = Instant::now() + PATIENCE;
    let mut listed = None;
    let ongoing = loop {
        let admin = admin(&cluster);
        let described = admin.describe_cluster().await;
        if let Ok(d) = described
            && d.controller.is_some_and(|c| c != controller)
            && let Ok(ongoing) = admin.list_partition_reassignments().await
        {
            if !ongoing.is_empty() {
                break ongoing;
            }
            listed = Some(ongoing);
        }
        assert!(
            Instant::now() < deadline,
            "a new controller that knows the move: last listed {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        ongoing.len(),
        1,
        "the new controller knows the move: {ongoing:?}"
    );
    assert_eq!(ongoing[0].partition, partition);
    assert_eq!(ongoing[0].adding, vec![4]);

    cluster.node(4).resume();
    cluster.node(controller).restart();
    let deadline = Instant::now() + PATIENCE * 2;
    loop {
        let done = admin(&cluster)
            .list_partition_reassignments()
            .await
            .is_ok_and(|o| o.is_empty());
        if done && replicas(&cluster, &topic)[&partition] == target {
            break;
        }
        assert!(Instant::now() < deadline, "the move did not complete");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
