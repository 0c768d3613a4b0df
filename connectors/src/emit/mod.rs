//! Emit policies, shared by every source: thresholds (`max_records`, `max_bytes`,
//! `max_delay`) gather events into batches; CEL triggers filter them (`when`) or emit the
//! pending batch at once (`flush_when`); a cron `schedule` emits at fixed times.

mod expression;
mod pending;
mod schedule;

pub use expression::{Expression, event_value};
pub use pending::{EmitReason, EmittedBatch, PendingBatch, Thresholds};
pub use schedule::Schedule;
