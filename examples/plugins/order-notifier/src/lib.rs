//! Consumes order events (`{"order": "o-1", "customer": "c-7", "status": "shipped"}`) and
//! emits a notification for every status change of an order; an event for the status an
//! order already has emits nothing. Events that are not JSON objects with string `order`,
//! `customer` and `status` fields go to the dead-letter topic with the reason.
//!
//! Each notification is keyed by customer and carries the input's coordinates in headers
//! (`order-topic`, `order-partition`, `order-offset`).
//!
//! Config: `output` (default `notifications`).

use std::collections::HashMap;

use weir_plugin_sdk::json::string_field;
use weir_plugin_sdk::{Config, Consumer, Emitter, Error, OutRecord, Record};

/// The order notifier.
pub struct OrderNotifier {
    output: String,
    /// The last status seen per order; lost on restart, so a replay may notify again.
    statuses: HashMap<String, String>,
}

impl Consumer for OrderNotifier {
    fn new(config: &Config) -> Result<Self, String> {
        Ok(Self {
            output: config.get("output").unwrap_or("notifications").to_string(),
            statuses: HashMap::new(),
        })
    }

    fn consume(&mut self, record: &Record<'_>, out: &mut Emitter) -> Result<(), Error> {
        let value = record
            .value
            .ok_or_else(|| Error::DeadLetter("no value (tombstone)".into()))?;
        let field = |name: &str| {
            string_field(value, name).ok_or_else(|| {
                Error::DeadLetter(format!("not an order event: no string field {name:?}"))
            })
        };
        let order = field("order")?;
        let customer = field("customer")?;
        let status = field("status")?;
        // A known order's status is overwritten in place: no allocation per event.
        match self.statuses.get_mut(order) {
            Some(last) if last == status => return Ok(()),
            Some(last) => {
                last.clear();
                last.push_str(status);
            }
            None => {
                self.statuses.insert(order.to_string(), status.to_string());
            }
        }
        let message = format!(
            r#"{{"customer":"{customer}","order":"{order}","status":"{status}","message":"Your order {order} is now {status}"}}"#
        );
        // Topic, key and the input's topic are borrowed: the emitter copies them once.
        out.emit(
            OutRecord::new(&self.output, message)
                .with_key(customer)
                .with_header("order-topic", record.topic)
                .with_header("order-partition", record.partition.to_string())
                .with_header("order-offset", record.offset.to_string()),
        );
        Ok(())
    }
}

weir_plugin_sdk::export_consumer!(OrderNotifier);
