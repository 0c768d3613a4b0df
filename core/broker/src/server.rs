//! The Kafka protocol server: accepts connections, reads size-prefixed frames, hands each to
//! the dispatcher and writes the responses back in request order.
//!
//! A connection's requests are dispatched one after another (so appends from one producer
//! land in the order it sent them), but a request may finish later (a produce waiting for its
//! fsync, a fetch waiting for data): its reply future goes into a queue that a writer task
//! drains in order, while the reader goes on with the next request. That lets a pipelining
//! producer's next append overlap the previous one's fsync.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::broker::Broker;
use crate::dispatch::{self, Reply};

/// Requests of one connection whose replies are not yet written; a client pipelining more
/// than this waits (backpressure) rather than growing the broker's memory.
const MAX_IN_FLIGHT: usize = 64;

/// A reply in the connection's write queue.
enum Queued {
    Ready(BytesMut),
    Running(AbortOnDrop),
}

/// A running reply task that is cancelled if its reply will never be written (the client
/// went away), so a long-poll fetch does not outlive its connection.
struct AbortOnDrop(tokio::task::JoinHandle<BytesMut>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Accepts connections until `stopped` turns true.
pub(crate) async fn accept(
    listener: TcpListener,
    broker: Arc<Broker>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let broker = Arc::clone(&broker);
                    let stopped = stopped.clone();
                    tokio::spawn(async move {
                        let host = format!("/{}", peer.ip());
                        let served = serve_connection(stream, broker, &host, stopped).await;
                        if let Err(reason) = served {
                            tracing::warn!(%peer, %reason, "closing connection");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            _ = stopped.changed() => return,
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    broker: Arc<Broker>,
    client_host: &str,
    mut stopped: watch::Receiver<bool>,
) -> Result<(), String> {
    let (mut reader, mut writer) = stream.into_split();
    let (queue, mut replies) = mpsc::channel::<Queued>(MAX_IN_FLIGHT);
    let writing = tokio::spawn(async move {
        while let Some(reply) = replies.recv().await {
            let bytes = match reply {
                Queued::Ready(bytes) => bytes,
                Queued::Running(mut task) => match (&mut task.0).await {
                    Ok(bytes) => bytes,
                    Err(_) => BytesMut::new(), // the handler panicked: close the connection
                },
            };
            // An empty frame is a response that could not be encoded: close the connection.
            if bytes.is_empty() || writer.write_all(&bytes).await.is_err() {
                return;
            }
        }
    });
    let max = broker.config.socket_request_max_bytes() as usize;
    let result = loop {
        let mut size = [0u8; 4];
        tokio::select! {
            read = reader.read_exact(&mut size) => {
                if read.is_err() {
                    // The client is gone: nobody reads what is still pending (a long-poll
                    // fetch could otherwise hold this task for its whole max_wait_ms).
                    writing.abort();
                    return Ok(());
                }
            }
            _ = stopped.changed() => break Ok(()),
        }
        let len = i32::from_be_bytes(size);
        let Ok(len) = usize::try_from(len) else {
            break Err(format!("negative frame size {len}"));
        };
        if len > max {
            break Err(format!(
                "frame of {len} bytes exceeds socket_request_max_bytes ({max})"
            ));
        }
        let frame = match read_frame(&mut reader, len).await {
            Ok(frame) => frame,
            Err(e) => break Err(format!("truncated frame: {e}")),
        };
        match dispatch::dispatch(&broker, client_host, frame.freeze()).await {
            Ok(reply) => {
                let queued = match reply {
                    Reply::None => continue,
                    Reply::Ready(bytes) => Queued::Ready(bytes),
                    // Started now, not when the writer reaches it: replies still go out in
                    // request order, but a produce's fsync wait or a fetch's long poll runs
                    // alongside the ones before it instead of after them.
                    Reply::Later(pending) => Queued::Running(AbortOnDrop(tokio::spawn(pending))),
                };
                if queue.send(queued).await.is_err() {
                    break Ok(());
                }
            }
            Err(e) => break Err(e.to_string()),
        }
    };
    drop(queue);
    let _ = writing.await;
    result
}

/// Reads a frame body of `len` bytes into fresh capacity, which `read_buf` fills without
/// the buffer being zeroed first (a produce frame is often a megabyte).
async fn read_frame(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    len: usize,
) -> std::io::Result<BytesMut> {
    let mut frame = BytesMut::with_capacity(len);
    while frame.len() < len {
        let missing = len - frame.len();
        let mut rest = (&mut frame).limit(missing);
        if reader.read_buf(&mut rest).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(frame)
}
