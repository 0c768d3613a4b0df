//! The Kafka protocol server: accepts connections, reads size-prefixed frames, hands each to
//! the dispatcher and writes the responses back in request order.
//!
//! A connection's requests are dispatched one after another (so appends from one producer
//! land in the order it sent them), but a request may finish later (a produce waiting for its
//! fsync, a fetch waiting for data): its reply future goes into a queue that a writer task
//! drains in order, while the reader goes on with the next request. That lets a pipelining
//! producer's next append overlap the previous one's fsync.

use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::broker::Broker;
use crate::dispatch::{self, Reply};

/// Requests of one connection whose replies are not yet written; a client pipelining more
/// than this waits (backpressure) rather than growing the broker's memory.
const MAX_IN_FLIGHT: usize = 64;

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
    let (queue, mut replies) = mpsc::channel::<Reply>(MAX_IN_FLIGHT);
    let writing = tokio::spawn(async move {
        while let Some(reply) = replies.recv().await {
            let bytes = match reply {
                Reply::Ready(bytes) => bytes,
                Reply::Later(pending) => pending.await,
                Reply::None => continue,
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
                    break Ok(()); // the client closed the connection
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
        let mut frame = BytesMut::zeroed(len);
        if let Err(e) = reader.read_exact(&mut frame).await {
            break Err(format!("truncated frame: {e}"));
        }
        match dispatch::dispatch(&broker, client_host, frame.freeze()).await {
            Ok(reply) => {
                if queue.send(reply).await.is_err() {
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
