//! A TCP proxy in front of the broker that can drop the connection instead of delivering a
//! Produce response: the batch is in the log, but the client never hears so and retries.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const PRODUCE: i16 = 0;

/// Drops the connection in place of the next `n` Produce responses.
#[derive(Clone, Default)]
pub(crate) struct Dropper(Arc<AtomicUsize>);

impl Dropper {
    pub(crate) fn arm(&self, n: usize) {
        self.0.store(n, Ordering::SeqCst);
    }

    pub(crate) fn remaining(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

async fn frame(stream: &mut (impl AsyncReadExt + Unpin)) -> Option<Vec<u8>> {
    let len = stream.read_i32().await.ok()?;
    let mut buf = vec![0; len as usize + 4];
    buf[..4].copy_from_slice(&len.to_be_bytes());
    stream.read_exact(&mut buf[4..]).await.ok()?;
    Some(buf)
}

/// Serves on `listener`, forwarding to `upstream`.
pub(crate) fn start(listener: TcpListener, upstream: String, dropper: Dropper) {
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(&upstream).await else {
                continue;
            };
            let (mut client_read, mut client_write) = client.into_split();
            let (mut server_read, mut server_write) = server.into_split();
            let apis: Arc<Mutex<HashMap<i32, i16>>> = Arc::default();
            let requests = {
                let apis = Arc::clone(&apis);
                tokio::spawn(async move {
                    while let Some(f) = frame(&mut client_read).await {
                        let api = i16::from_be_bytes([f[4], f[5]]);
                        let correlation = i32::from_be_bytes([f[8], f[9], f[10], f[11]]);
                        apis.lock().insert(correlation, api);
                        if server_write.write_all(&f).await.is_err() {
                            break;
                        }
                    }
                })
            };
            let dropper = dropper.clone();
            tokio::spawn(async move {
                while let Some(f) = frame(&mut server_read).await {
                    let correlation = i32::from_be_bytes([f[4], f[5], f[6], f[7]]);
                    let api = apis.lock().remove(&correlation);
                    if api == Some(PRODUCE) && dropper.take() {
                        break; // the response is lost with the connection
                    }
                    if client_write.write_all(&f).await.is_err() {
                        break;
                    }
                }
                requests.abort();
            });
        }
    });
}
