//! `[sources.emit]`: thresholds, CEL triggers and a cron schedule.

use weir_config::TableReader;

use super::compile;
use crate::emit::{Expression, Schedule, Thresholds};

/// The emit policy as configured.
#[derive(Debug, Clone, Default)]
pub struct EmitSettings {
    /// `max_records`, `max_bytes`, `max_delay`.
    pub thresholds: Thresholds,
    /// `when`: only events for which it is true are produced.
    pub when: Option<Expression>,
    /// `flush_when`: an event for which it is true emits the pending batch at once.
    pub flush_when: Option<Expression>,
    /// `schedule`: cron times at which pending events are emitted.
    pub schedule: Option<Schedule>,
}

impl EmitSettings {
    pub(super) fn read(table: &mut TableReader<'_>) -> Option<Self> {
        let defaults = Thresholds::default();
        let max_records = table.integer("max_records", 1..=u32::MAX);
        let max_bytes = table.size("max_bytes");
        let max_bytes = table.ensure("max_bytes", max_bytes, "positive", |b| *b > 0);
        let max_delay = table.duration("max_delay");
        let when = table
            .string("when")
            .and_then(|t| compile(table, "when", &t));
        let flush_when = table
            .string("flush_when")
            .and_then(|t| compile(table, "flush_when", &t));
        let schedule = table
            .string("schedule")
            .and_then(|text| match Schedule::parse(&text) {
                Ok(schedule) => Some(schedule),
                Err(error) => {
                    table.reject("schedule", error);
                    None
                }
            });
        Some(Self {
            thresholds: Thresholds {
                max_records: max_records.map_or(defaults.max_records, |n| n as usize),
                max_bytes: max_bytes.map_or(defaults.max_bytes, |n| n as usize),
                max_delay: max_delay.unwrap_or(defaults.max_delay),
            },
            when,
            flush_when,
            schedule,
        })
    }
}
