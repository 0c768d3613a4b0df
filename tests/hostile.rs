//! Hostile and broken input over TCP: oversized, negative, garbage, truncated and short
//! frames, unknown APIs and versions, corrupt record batches. The broker may close the
//! offending connection (that is what Kafka does) or answer with an error code, but it must
//! never stop serving: after each case, Metadata on a new connection still works.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ProduceRequest, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use support::Broker;
use support::wire::{self, Outcome};
use weir_log::testing::BatchBuilder;

/// Kafka's error codes the tests expect.
const CORRUPT_MESSAGE: i16 = 2;
const UNSUPPORTED_VERSION: i16 = 35;
const UNSUPPORTED_FOR_MESSAGE_FORMAT: i16 = 43;

const WAIT: Duration = Duration::from_secs(5);

fn size_prefix(len: i32) -> Vec<u8> {
    len.to_be_bytes().to_vec()
}

#[test]
fn frames_over_the_size_limit_or_negative_close_the_connection() {
    let broker = Broker::start();
    let addr = broker.addr();
    for (name, len) in [
        ("100 MiB + 1", (100 << 20) + 1),
        ("i32::MAX", i32::MAX),
        ("-1", -1),
        ("i32::MIN", i32::MIN),
    ] {
        // Only the size: the broker must refuse before allocating or waiting for the body.
        let outcome = wire::exchange(&mut wire::connect(&addr), &size_prefix(len), WAIT);
        assert_eq!(outcome, Outcome::Closed, "a frame size of {name}");
        wire::assert_alive(&addr, &format!("a frame size of {name}"));
    }
}

#[test]
fn a_frame_at_a_lowered_limit_is_refused_and_just_under_it_is_read() {
    let broker = Broker::start_with("socket_request_max_bytes = 1024", "");
    let addr = broker.addr();
    let outcome = wire::exchange(&mut wire::connect(&addr), &size_prefix(1025), WAIT);
    assert_eq!(outcome, Outcome::Closed, "1025 bytes over a 1024 limit");
    // An ApiVersions request padded to exactly 1024 bytes: within the limit, trailing bytes
    // ignored, answered.
    let mut frame = wire::frame(ApiKey::ApiVersions, 0, 1, &ApiVersionsRequest::default());
    frame.resize(4 + 1024, 0);
    frame[..4].copy_from_slice(&1024i32.to_be_bytes());
    let outcome = wire::exchange(&mut wire::connect(&addr), &frame, WAIT);
    assert!(matches!(outcome, Outcome::Answered(_)), "{outcome:?}");
    wire::assert_alive(&addr, "a frame at the lowered limit");
}

#[test]
fn garbage_and_short_frames_close_the_connection() {
    let broker = Broker::start();
    let addr = broker.addr();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("an empty frame", size_prefix(0)),
        ("a 3-byte frame", [size_prefix(3), vec![0, 18, 0]].concat()),
        ("0xff garbage", [size_prefix(64), vec![0xff; 64]].concat()),
        (
            "text",
            [size_prefix(18), b"GET / HTTP/1.1\r\n\r\n".to_vec()].concat(),
        ),
        (
            "a header with a huge client id length",
            [
                size_prefix(12),
                vec![0, 3, 0, 12, 0, 0, 0, 1, 0x7f, 0xff, 1, 2],
            ]
            .concat(),
        ),
    ];
    for (name, bytes) in cases {
        let outcome = wire::exchange(&mut wire::connect(&addr), &bytes, WAIT);
        assert_eq!(outcome, Outcome::Closed, "{name}");
        wire::assert_alive(&addr, name);
    }
    // An HTTP request as the very first bytes: "GET " is read as a 1.2 GB frame size.
    let outcome = wire::exchange(
        &mut wire::connect(&addr),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        WAIT,
    );
    assert_eq!(outcome, Outcome::Closed, "plain HTTP");
    wire::assert_alive(&addr, "plain HTTP");
}

#[test]
fn huge_array_lengths_in_tiny_frames() {
    // An array's element count comes from the client; a decoder that reserves room for that
    // many elements before reading them asks for gigabytes on a 14-byte frame, and a failed
    // allocation aborts the whole process.
    let broker = Broker::start();
    let addr = broker.addr();
    let header = |key: i16, version: i16, flexible: bool| {
        let mut h = key.to_be_bytes().to_vec();
        h.extend_from_slice(&version.to_be_bytes());
        h.extend_from_slice(&[0, 0, 0, 9, 0xff, 0xff]); // correlation id 9, null client id
        if flexible {
            h.push(0); // no tagged fields
        }
        h
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "Metadata v0, topics array of i32::MAX",
            [header(3, 0, false), i32::MAX.to_be_bytes().to_vec()].concat(),
        ),
        (
            "Metadata v12, compact topics array of u32::MAX - 1",
            [header(3, 12, true), vec![0xff, 0xff, 0xff, 0xff, 0x0f]].concat(),
        ),
        (
            "Produce v3, topic data array of i32::MAX",
            [
                header(0, 3, false),
                vec![0xff, 0xff, 0, 1, 0, 0, 0x13, 0x88], // no transactional id, acks 1, 5 s
                i32::MAX.to_be_bytes().to_vec(),
            ]
            .concat(),
        ),
    ];
    for (name, body) in cases {
        let frame = [size_prefix(body.len() as i32), body].concat();
        let outcome = wire::exchange(&mut wire::connect(&addr), &frame, WAIT);
        assert_eq!(outcome, Outcome::Closed, "{name}");
        wire::assert_alive(&addr, name);
    }
}

#[test]
fn truncated_frames_then_close() {
    let broker = Broker::start();
    let addr = broker.addr();
    let full = wire::frame(ApiKey::ApiVersions, 3, 9, &ApiVersionsRequest::default());
    for cut in [1, 3, 4, 5, 10, full.len() - 1] {
        let mut stream = wire::connect(&addr);
        stream.write_all(&full[..cut]).unwrap();
        drop(stream);
        wire::assert_alive(&addr, &format!("a frame cut after {cut} bytes"));
    }
    // A frame announcing 1000 bytes, 10 sent, connection held open: the broker waits for the
    // rest on that connection but serves others.
    let mut stalled = wire::connect(&addr);
    stalled
        .write_all(&[size_prefix(1000), vec![0; 10]].concat())
        .unwrap();
    wire::assert_alive(&addr, "a stalled partial frame on another connection");
    drop(stalled);
}

#[test]
fn unknown_api_keys_and_versions() {
    let broker = Broker::start();
    let addr = broker.addr();
    for (name, key, version) in [
        ("API key 999", 999i16, 0i16),
        ("API key -1", -1, 0),
        ("FindCoordinator v99", 10, 99),
        ("Metadata v99", 3, 99),
        ("Produce v0", 0, 0),
    ] {
        let mut frame = [size_prefix(10), key.to_be_bytes().to_vec()].concat();
        frame.extend_from_slice(&version.to_be_bytes());
        frame.extend_from_slice(&[0, 0, 0, 5, 0xff, 0xff]); // correlation id 5, null client id
        let outcome = wire::exchange(&mut wire::connect(&addr), &frame, WAIT);
        assert_eq!(outcome, Outcome::Closed, "{name}");
        wire::assert_alive(&addr, name);
    }
    // ApiVersions at a version from the future is answered in v0 with UNSUPPORTED_VERSION
    // (KIP-511), so that the client can retry at one the broker knows.
    let mut frame = wire::frame(ApiKey::ApiVersions, 3, 77, &ApiVersionsRequest::default());
    frame[6..8].copy_from_slice(&99i16.to_be_bytes());
    let Outcome::Answered(body) = wire::exchange(&mut wire::connect(&addr), &frame, WAIT) else {
        panic!("ApiVersions v99 was not answered");
    };
    assert_eq!(&body[..4], &77i32.to_be_bytes(), "correlation id");
    assert_eq!(
        &body[4..6],
        &UNSUPPORTED_VERSION.to_be_bytes(),
        "error code"
    );
    wire::assert_alive(&addr, "ApiVersions v99");
}

fn produce(addr: &str, topic: &str, records: Bytes) -> (i16, i64) {
    let request = ProduceRequest::default()
        .with_acks(1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(records)),
                ]),
        ]);
    let response: ProduceResponse =
        wire::call(&mut wire::connect(addr), ApiKey::Produce, 9, &request);
    let partition = &response.responses[0].partition_responses[0];
    (partition.error_code, partition.base_offset)
}

#[test]
fn corrupt_record_batches_are_refused_with_corrupt_message() {
    let broker = Broker::start();
    let addr = broker.addr();
    let topic = support::topic_name("corrupt");
    wire::metadata(&addr, &[&topic]); // auto-creates it
    let good = BatchBuilder::new()
        .record(Some(b"key"), b"a value long enough to flip")
        .record(None, b"another")
        .build();

    let mut bad_crc = good.clone();
    *bad_crc.last_mut().unwrap() ^= 0x01;
    let mut bad_length = good.clone();
    bad_length[8..12].copy_from_slice(&((good.len() as i32) + 100).to_be_bytes());
    let mut bad_magic = good.clone();
    bad_magic[16] = 7;
    let mut garbage_v2 = vec![0x5a; 80];
    garbage_v2[16] = 2;
    let cases: Vec<(&str, Vec<u8>, i16)> = vec![
        ("a flipped bit (bad CRC)", bad_crc, CORRUPT_MESSAGE),
        ("a batch length past the end", bad_length, CORRUPT_MESSAGE),
        ("magic 7", bad_magic, UNSUPPORTED_FOR_MESSAGE_FORMAT),
        (
            "a torn batch",
            good[..good.len() - 5].to_vec(),
            CORRUPT_MESSAGE,
        ),
        (
            "garbage (its magic byte reads 0x5a)",
            vec![0x5a; 80],
            UNSUPPORTED_FOR_MESSAGE_FORMAT,
        ),
        ("garbage with magic 2", garbage_v2, CORRUPT_MESSAGE),
    ];
    for (name, records, expected) in cases {
        let (code, _) = produce(&addr, &topic, Bytes::from(records));
        assert_eq!(code, expected, "{name}: error code");
        wire::assert_alive(&addr, name);
    }
    // Nothing corrupt was stored: the good batch lands at offset 0.
    assert_eq!(produce(&addr, &topic, Bytes::from(good)), (0, 0));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let broker = Broker::start();
    let mut bytes = Vec::new();
    for correlation_id in 100..150 {
        bytes.extend(wire::frame(
            ApiKey::ApiVersions,
            (correlation_id % 4) as i16,
            correlation_id,
            &ApiVersionsRequest::default(),
        ));
    }
    let mut stream = wire::connect(&broker.addr());
    stream.write_all(&bytes).unwrap();
    for correlation_id in 100..150i32 {
        let Outcome::Answered(body) = wire::read_outcome(&mut stream, WAIT) else {
            panic!("no answer for correlation id {correlation_id}");
        };
        assert_eq!(&body[..4], &correlation_id.to_be_bytes());
    }
}

#[test]
fn many_idle_and_abandoned_connections() {
    let broker = Broker::start();
    let addr = broker.addr();
    let idle: Vec<_> = (0..300).map(|_| wire::connect(&addr)).collect();
    wire::assert_alive(&addr, "300 idle connections");
    drop(idle);
    for _ in 0..300 {
        let mut stream = wire::connect(&addr);
        let _ = stream.write_all(&size_prefix(20));
    }
    wire::assert_alive(&addr, "300 connections abandoned mid-frame");
}
