//! A consumer that misbehaves on purpose, for the host's sandboxing tests. By value:
//! `loop` spins forever, `alloc` allocates without bound, `panic` panics, `file` tries to
//! read `/etc/hostname` and `socket` to connect to the address in the record's key; both
//! emit what happened (`refused: …` or `allowed: …`) to the `out` topic. Any other value is
//! echoed to `out` as `ok:VALUE`.

use std::io::Read;

use weir_plugin_sdk::{Config, Consumer, Emitter, Error, OutRecord, Record};

/// The misbehaving consumer.
pub struct MisbehavingConsumer;

impl Consumer for MisbehavingConsumer {
    fn new(_config: &Config) -> Result<Self, String> {
        Ok(Self)
    }

    fn consume(&mut self, record: &Record<'_>, out: &mut Emitter) -> Result<(), Error> {
        let value = record.value.unwrap_or_default();
        match value {
            b"loop" => spin(),
            b"alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                }
            }
            b"panic" => panic!("misbehaving consumer panics on purpose"),
            b"file" => {
                let outcome = match std::fs::File::open("/etc/hostname") {
                    Ok(mut f) => {
                        let mut s = String::new();
                        let _ = f.read_to_string(&mut s);
                        format!("allowed: read {} bytes", s.len())
                    }
                    Err(e) => format!("refused: {e}"),
                };
                out.emit(OutRecord::new("out", outcome));
            }
            b"socket" => {
                let addr = std::str::from_utf8(record.key.unwrap_or_default()).unwrap_or("");
                let outcome = match std::net::TcpStream::connect(addr) {
                    Ok(_) => "allowed: connected".to_string(),
                    Err(e) => format!("refused: {e}"),
                };
                out.emit(OutRecord::new("out", outcome));
            }
            other => {
                let mut echoed = Vec::with_capacity(3 + other.len());
                echoed.extend_from_slice(b"ok:");
                echoed.extend_from_slice(other);
                out.emit(OutRecord::new("out", echoed));
            }
        }
        Ok(())
    }
}

/// Never returns; written so the optimizer cannot prove it and delete it.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

weir_plugin_sdk::export_consumer!(MisbehavingConsumer);
