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

/// What `partition` answers for a record the plugin refuses (see the WIT).
#[doc(hidden)]
pub const REFUSED: i32 = -1;

std::thread_local! {
    static REFUSALS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// The export's answer: a partition per record of the call, [`REFUSED`] for each record
/// refused with its reason kept for `refusals`. A call that cannot be read answers no
/// partition at all, with one refusal saying why.
#[doc(hidden)]
pub fn export_call<P: Partitioner>(slot: &'static Slot<P>, bytes: &[u8]) -> Vec<i32> {
    REFUSALS.with(|r| r.borrow_mut().clear());
    let refuse = |reason: String| {
        REFUSALS.with(|r| r.borrow_mut().push(reason));
        REFUSED
    };
    let (partitions, records) = match decode_partition_call(bytes) {
        Ok(call) => call,
        Err(e) => {
            refuse(e.to_string());
            return Vec::new();
        }
    };
    slot.with(|s| match s.borrow_mut().as_mut() {
        Some(p) => records
            .iter()
            .map(|record| match p.partition(record, &partitions) {
                Ok(partition) if partition >= 0 => partition,
                Ok(partition) => refuse(format!("negative partition {partition}")),
                Err(reason) => refuse(reason),
            })
            .collect(),
        None => {
            refuse("partition called before init".to_string());
            Vec::new()
        }
    })
}

/// Why the records the last call refused were refused, in order.
#[doc(hidden)]
pub fn refusals() -> Vec<String> {
    REFUSALS.with(|r| std::mem::take(&mut *r.borrow_mut()))
}
