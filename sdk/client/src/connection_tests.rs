//! Connection against a scripted fake broker: ApiVersions fallback (KIP-511), responses
//! matched by correlation id whatever their order, and a timeout that closes the connection.

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::connection::{ConnectOptions, Connection};
use crate::error::Error;

/// A request's (api version, correlation id).
async fn read_request(stream: &mut TcpStream) -> Option<(i16, i32)> {
    let len = stream.read_i32().await.ok()?;
    let mut buf = vec![0; len as usize];
    stream.read_exact(&mut buf).await.ok()?;
    let version = i16::from_be_bytes([buf[2], buf[3]]);
    let correlation = i32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    Some((version, correlation))
}

/// An ApiVersions v0 response: error code and (key, min, max) triples.
async fn api_versions_v0(
    stream: &mut TcpStream,
    correlation: i32,
    error: i16,
    keys: &[(i16, i16, i16)],
) {
    let mut body = BytesMut::new();
    body.put_i32(correlation);
    body.put_i16(error);
    body.put_i32(keys.len() as i32);
    for (k, min, max) in keys {
        body.put_i16(*k);
        body.put_i16(*min);
        body.put_i16(*max);
    }
    let mut frame = BytesMut::new();
    frame.put_i32(body.len() as i32);
    frame.put(body);
    stream.write_all(&frame).await.unwrap();
}

const KEYS: &[(i16, i16, i16)] = &[(18, 0, 2), (3, 0, 9)];

fn options(timeout: Duration) -> ConnectOptions {
    ConnectOptions {
        client_id: "test".to_string(),
        request_timeout: timeout,
    }
}

/// Answers the handshake as an old broker: v3 refused, v0 accepted.
async fn handshake(stream: &mut TcpStream) {
    let (version, correlation) = read_request(stream).await.unwrap();
    assert_eq!(version, 3);
    api_versions_v0(stream, correlation, 35, KEYS).await; // UNSUPPORTED_VERSION
    let (version, correlation) = read_request(stream).await.unwrap();
    assert_eq!(version, 0);
    api_versions_v0(stream, correlation, 0, KEYS).await;
}

#[tokio::test]
async fn negotiates_down_to_what_an_old_broker_speaks() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        handshake(&mut stream).await;
        stream
    });
    let connection = Connection::open(&address, &options(Duration::from_secs(5)))
        .await
        .unwrap();
    let _stream = server.await.unwrap();
    assert_eq!(connection.version(ApiKey::ApiVersions).unwrap(), 2);
    assert_eq!(connection.version(ApiKey::Metadata).unwrap(), 9);
    assert!(matches!(
        connection.version(ApiKey::Produce),
        Err(Error::UnsupportedApi { .. })
    ));
}

#[tokio::test]
async fn responses_find_their_requests_in_any_order() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        handshake(&mut stream).await;
        let (_, first) = read_request(&mut stream).await.unwrap();
        let (_, second) = read_request(&mut stream).await.unwrap();
        // Answer the second first; each answer lists as many keys as its correlation id.
        for correlation in [second, first] {
            let keys: Vec<_> = (0..correlation as i16).map(|k| (k, 0, 0)).collect();
            api_versions_v0(&mut stream, correlation, 0, &keys).await;
        }
        let _ = read_request(&mut stream).await;
    });
    let connection = Connection::open(&address, &options(Duration::from_secs(5)))
        .await
        .unwrap();
    let request = ApiVersionsRequest::default();
    let (a, b) = tokio::join!(
        connection.call_at(&request, 0),
        connection.call_at(&request, 0)
    );
    let (a, b) = (a.unwrap().api_keys.len(), b.unwrap().api_keys.len());
    assert_ne!(a, b);
    assert_eq!(a.min(b), 1, "correlation ids start at 1");
}

#[tokio::test]
async fn a_timed_out_request_closes_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        handshake(&mut stream).await;
        while read_request(&mut stream).await.is_some() {} // never answers
    });
    let connection = Connection::open(&address, &options(Duration::from_millis(300)))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let result = connection.call_at(&ApiVersionsRequest::default(), 0).await;
    assert!(
        matches!(result, Err(Error::RequestTimeout { .. })),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(connection.is_closed());
    let again = connection.call_at(&ApiVersionsRequest::default(), 0).await;
    assert!(matches!(again, Err(Error::ConnectionClosed { .. })));
}

#[tokio::test]
async fn an_unreachable_broker_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    let result = Connection::open(&address, &options(Duration::from_secs(2))).await;
    assert!(matches!(result, Err(Error::Connect { .. })), "{result:?}");
}
