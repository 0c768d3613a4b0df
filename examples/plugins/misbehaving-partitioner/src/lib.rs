//! A partitioner that misbehaves on purpose, for the host's sandboxing tests. By key:
//! `loop` spins forever, `alloc` allocates without bound, `panic` panics, `range` answers a
//! partition that does not exist, `error` returns an error; any other key goes to
//! partition 0.

use weir_plugin_sdk::{Config, Partitioner, Partitions, Record};

/// The misbehaving partitioner.
pub struct MisbehavingPartitioner;

impl Partitioner for MisbehavingPartitioner {
    fn new(_config: &Config) -> Result<Self, String> {
        Ok(Self)
    }

    fn partition(
        &mut self,
        record: &Record<'_>,
        partitions: &Partitions<'_>,
    ) -> Result<i32, String> {
        match record.key.unwrap_or_default() {
            b"loop" => spin(),
            b"alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                }
            }
            b"panic" => panic!("misbehaving partitioner panics on purpose"),
            b"range" => Ok(partitions.count() + 5),
            b"error" => Err("misbehaving partitioner refuses this record".into()),
            _ => Ok(0),
        }
    }
}

/// Never returns; written so the optimizer cannot prove it and delete it.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

weir_plugin_sdk::export_partitioner!(MisbehavingPartitioner);
