//! Raw Kafka protocol over TCP, for the hostile-input and fuzz tests: build request frames
//! with `kafka-protocol`, send arbitrary bytes, read what (if anything) comes back.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse,
    RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};

/// How long a reply may take before the broker is declared unresponsive.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// What became of a frame sent to the broker.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A size-prefixed response frame (without its size).
    Answered(Vec<u8>),
    /// The broker closed the connection.
    Closed,
    /// Nothing within the wait (a long poll, an `acks=0` produce, a partial frame).
    Silent,
}

/// Connects to the broker.
pub fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    stream.set_nodelay(true).expect("TCP_NODELAY");
    stream
}

/// A size-prefixed request frame.
pub fn frame<R: Encodable>(api: ApiKey, version: i16, correlation_id: i32, request: &R) -> Vec<u8> {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&[0; 4]);
    RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("weir-itest")))
        .encode(&mut buf, api.request_header_version(version))
        .expect("encoding a request header");
    request
        .encode(&mut buf, version)
        .unwrap_or_else(|e| panic!("encoding {api:?} v{version}: {e}"));
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf.to_vec()
}

/// Writes `bytes` and waits up to `wait` for a response frame or the connection's close.
pub fn exchange(stream: &mut TcpStream, bytes: &[u8], wait: Duration) -> Outcome {
    if let Err(e) = stream.write_all(bytes) {
        // The broker may close while we still write (a frame it rejected by its size).
        return match e.kind() {
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset => Outcome::Closed,
            _ => panic!("writing to the broker: {e}"),
        };
    }
    read_outcome(stream, wait)
}

/// Reads one response frame, or sees the connection close, within `wait`.
pub fn read_outcome(stream: &mut TcpStream, wait: Duration) -> Outcome {
    let deadline = Instant::now() + wait;
    let mut size = [0u8; 4];
    match read_full(stream, &mut size, deadline) {
        Filled::Done => {}
        Filled::Eof => return Outcome::Closed,
        Filled::TimedOut(0) => return Outcome::Silent,
        Filled::TimedOut(n) => panic!("the broker sent {n} bytes of a frame size, then nothing"),
    }
    let len = i32::from_be_bytes(size);
    assert!(len >= 4, "response frame size {len} is impossible");
    let mut body = vec![0u8; len as usize];
    // A response, once started, must arrive whole.
    match read_full(stream, &mut body, Instant::now() + REPLY_TIMEOUT) {
        Filled::Done => Outcome::Answered(body),
        other => panic!("response of {len} bytes cut short: {other:?}"),
    }
}

#[derive(Debug)]
enum Filled {
    Done,
    Eof,
    TimedOut(usize),
}

fn read_full(stream: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> Filled {
    let mut filled = 0;
    while filled < buf.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Filled::TimedOut(filled);
        }
        stream.set_read_timeout(Some(left)).expect("read timeout");
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Filled::Eof,
            Ok(n) => filled += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Filled::TimedOut(filled);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Filled::Eof,
            Err(e) => panic!("reading from the broker: {e}"),
        }
    }
    Filled::Done
}

/// Sends one request and decodes its response; fails unless the broker answers.
pub fn call<Req: Encodable, Resp: Decodable + HeaderVersion>(
    stream: &mut TcpStream,
    api: ApiKey,
    version: i16,
    request: &Req,
) -> Resp {
    let correlation_id = 4242 + i32::from(version);
    let outcome = exchange(
        stream,
        &frame(api, version, correlation_id, request),
        REPLY_TIMEOUT,
    );
    let Outcome::Answered(body) = outcome else {
        panic!("{api:?} v{version}: no response ({outcome:?})");
    };
    let mut body = Bytes::from(body);
    let header = ResponseHeader::decode(&mut body, Resp::header_version(version))
        .unwrap_or_else(|e| panic!("{api:?} v{version}: response header: {e}"));
    assert_eq!(header.correlation_id, correlation_id, "{api:?} v{version}");
    Resp::decode(&mut body, version).unwrap_or_else(|e| panic!("{api:?} v{version}: {e}"))
}

/// Metadata for `topics` (all topics when empty), creating missing ones.
pub fn metadata(addr: &str, topics: &[&str]) -> MetadataResponse {
    let topics = topics
        .iter()
        .map(|t| {
            MetadataRequestTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(t.to_string()))))
        })
        .collect();
    let request = MetadataRequest::default()
        .with_topics(Some(topics))
        .with_allow_auto_topic_creation(true);
    call(&mut connect(addr), ApiKey::Metadata, 12, &request)
}

/// Fails unless the broker answers Metadata on a new connection: it survived what came before.
pub fn assert_alive(addr: &str, after: &str) {
    if let Err(why) = check_alive(addr) {
        panic!("after {after}: {why}");
    }
}

/// Whether the broker answers Metadata on a new connection, and if not, what happened.
pub fn check_alive(addr: &str) -> Result<(), String> {
    let mut stream =
        TcpStream::connect(addr).map_err(|e| format!("the broker refuses connections: {e}"))?;
    let request = MetadataRequest::default().with_topics(Some(Vec::new()));
    let outcome = exchange(
        &mut stream,
        &frame(ApiKey::Metadata, 12, 7, &request),
        REPLY_TIMEOUT,
    );
    let Outcome::Answered(body) = outcome else {
        return Err(format!("Metadata on a new connection got {outcome:?}"));
    };
    let mut body = Bytes::from(body);
    let header = ResponseHeader::decode(&mut body, MetadataResponse::header_version(12))
        .map_err(|e| format!("bad Metadata response header: {e}"))?;
    if header.correlation_id != 7 {
        return Err(format!(
            "Metadata answered with correlation id {}",
            header.correlation_id
        ));
    }
    let response = MetadataResponse::decode(&mut body, 12)
        .map_err(|e| format!("bad Metadata response: {e}"))?;
    if response.brokers.len() != 1 {
        return Err(format!("Metadata lists {} brokers", response.brokers.len()));
    }
    Ok(())
}

/// ApiVersions v3, as a client's first request.
pub fn api_versions(addr: &str) -> ApiVersionsResponse {
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("weir-itest"))
        .with_client_software_version(StrBytes::from_static_str("1"));
    call(&mut connect(addr), ApiKey::ApiVersions, 3, &request)
}

/// The names of all topics the broker has (Metadata without auto-creation).
pub fn topic_names(addr: &str) -> Vec<String> {
    let request = MetadataRequest::default()
        .with_topics(None)
        .with_allow_auto_topic_creation(false);
    let response: MetadataResponse = call(&mut connect(addr), ApiKey::Metadata, 12, &request);
    let mut names: Vec<String> = response
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .collect();
    names.sort();
    names
}

/// Which of `apis` the broker does not advertise in ApiVersions, for failure messages that
/// say why a client got nowhere.
pub fn unadvertised(addr: &str, apis: &[ApiKey]) -> Vec<ApiKey> {
    let advertised = api_versions(addr);
    apis.iter()
        .copied()
        .filter(|api| !advertised.api_keys.iter().any(|k| k.api_key == *api as i16))
        .collect()
}

/// Creates `topic` with `partitions` partitions (CreateTopics v5); fails on any error.
pub fn create_topic(addr: &str, topic: &str, partitions: i32) {
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_num_partitions(partitions)
                .with_replication_factor(1),
        ]);
    let response: CreateTopicsResponse =
        call(&mut connect(addr), ApiKey::CreateTopics, 5, &request);
    let result = &response.topics[0];
    assert_eq!(
        result.error_code, 0,
        "creating {topic}: {:?}",
        result.error_message
    );
}
