//! The partitioner a plugin author implements, and the glue that runs it behind the WIT
//! export (called by [`crate::export_partitioner!`]).

use std::cell::RefCell;
use std::thread::LocalKey;

use crate::record::{Config, Partitions, Record};
use crate::wire::decode_partition_call;

/// Picks a partition for each record the producer sends.
pub trait Partitioner: Sized + 'static {
    /// Builds the partitioner from the plugin's `[config]`; an error refuses the plugin.
    fn new(config: &Config) -> Result<Self, String>;

    /// The partition for `record`, in `0..partitions.count()`. An error (or an answer out
    /// of range) fails this record's send; the producer reports it.
    fn partition(
        &mut self,
        record: &Record<'_>,
        partitions: &Partitions<'_>,
    ) -> Result<i32, String>;
}

/// Where the export glue keeps the plugin's one instance.
#[doc(hidden)]
pub type Slot<P> = LocalKey<RefCell<Option<P>>>;

#[doc(hidden)]
pub fn init<P: Partitioner>(
    slot: &'static Slot<P>,
    config: Vec<(String, String)>,
) -> Result<(), String> {
    let partitioner = P::new(&Config::new(config))?;
    slot.with(|s| *s.borrow_mut() = Some(partitioner));
    Ok(())
}

/// What `partition` answers when the plugin refuses a record (see the WIT).
#[doc(hidden)]
pub const REFUSED: i32 = -1;

std::thread_local! {
    static LAST_ERROR: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The export's answer: the partition, or [`REFUSED`] with the reason kept for `last-error`.
#[doc(hidden)]
pub fn export_call<P: Partitioner>(slot: &'static Slot<P>, bytes: &[u8]) -> i32 {
    match call(slot, bytes) {
        Ok(partition) if partition >= 0 => partition,
        Ok(partition) => {
            LAST_ERROR.with(|e| *e.borrow_mut() = format!("negative partition {partition}"));
            REFUSED
        }
        Err(reason) => {
            LAST_ERROR.with(|e| *e.borrow_mut() = reason);
            REFUSED
        }
    }
}

/// Why the last call was refused.
#[doc(hidden)]
pub fn last_error() -> String {
    LAST_ERROR.with(|e| e.borrow().clone())
}

#[doc(hidden)]
pub fn call<P: Partitioner>(slot: &'static Slot<P>, call: &[u8]) -> Result<i32, String> {
    let (record, partitions) = decode_partition_call(call).map_err(|e| e.to_string())?;
    slot.with(|s| match s.borrow_mut().as_mut() {
        Some(p) => p.partition(&record, &partitions),
        None => Err("partition called before init".to_string()),
    })
}
