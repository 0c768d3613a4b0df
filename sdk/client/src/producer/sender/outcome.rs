//! How the sender takes a Produce outcome: acknowledged batches answer their records;
//! retriable failures go back in the queue with exponential backoff (metadata refreshed when
//! a leader may have moved); other failures answer with the error, and a lost sequence
//! makes the producer bump its epoch.

use std::collections::HashMap;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::ProduceResponse;
use tokio::time::Instant;

use super::{IdState, Sender};
use crate::error::{Error, Result, stale_metadata};
use crate::producer::config::Acks;
use crate::record::TopicPartition;

impl Sender {
    pub(super) fn on_produced(
        &mut self,
        batches: Vec<(TopicPartition, u64)>,
        result: Result<ProduceResponse>,
    ) {
        let response = match result {
            Ok(response) => response,
            Err(e) => {
                if e.invalidates_metadata() {
                    self.metadata_due = Instant::now();
                    self.metadata_wanted
                        .extend(batches.iter().map(|(tp, _)| tp.topic.clone()));
                }
                for (tp, id) in &batches {
                    self.retry_or_fail(tp, *id, e.is_retriable(), &e);
                }
                return;
            }
        };
        if self.config.acks == Acks::None {
            for (tp, id) in &batches {
                self.accumulator.succeed(tp, *id, -1, -1);
            }
            return;
        }
        let mut answers = HashMap::new();
        for topic in response.responses {
            for p in topic.partition_responses {
                let tp = TopicPartition::new(topic.name.0.to_string(), p.index);
                answers.insert(tp, p);
            }
        }
        for (tp, id) in &batches {
            let (tp, id) = (tp, *id);
            let Some(answer) = answers.remove(tp) else {
                let e = Error::Broker {
                    what: format!("produce to {tp}: no answer for the partition"),
                    error: ResponseError::NetworkException,
                };
                self.retry_or_fail(tp, id, true, &e);
                continue;
            };
            match ResponseError::try_from_code(answer.error_code) {
                None => {
                    self.accumulator
                        .succeed(tp, id, answer.base_offset, answer.log_append_time_ms)
                }
                Some(ResponseError::DuplicateSequenceNumber) => {
                    self.accumulator.succeed(tp, id, answer.base_offset, -1)
                }
                Some(error) => {
                    let e = Error::Broker {
                        what: format!("produce to {tp}"),
                        error,
                    };
                    if stale_metadata(error) {
                        self.metadata_due = Instant::now();
                        self.metadata_wanted.insert(tp.topic.clone());
                    }
                    // Out of order behind an earlier batch of the partition that failed:
                    // that one's retry goes first, then this one again.
                    let echo = error == ResponseError::OutOfOrderSequenceNumber
                        && !self.accumulator.is_front(tp, id);
                    let sequence_lost = matches!(
                        error,
                        ResponseError::OutOfOrderSequenceNumber
                            | ResponseError::UnknownProducerId
                            | ResponseError::InvalidProducerEpoch
                    );
                    let retriable = echo || (error.is_retriable() && !sequence_lost);
                    self.retry_or_fail(tp, id, retriable, &e);
                }
            }
        }
    }

    fn retry_or_fail(&mut self, tp: &TopicPartition, id: u64, retriable: bool, error: &Error) {
        let now = Instant::now();
        let created = self.accumulator.created(tp, id).unwrap_or(now);
        let attempts = self.accumulator.retry(tp, id, now);
        let in_time = created + self.config.delivery_timeout > now;
        if retriable && in_time && attempts <= self.config.retries {
            let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(16));
            let backoff = self
                .config
                .retry_backoff
                .saturating_mul(factor)
                .min(self.config.retry_backoff_max);
            tracing::debug!(%tp, attempts, error = %error, "retrying batch");
            self.accumulator.retry(tp, id, now + backoff);
            return;
        }
        let timed_out = Error::DeliveryTimeout(self.config.delivery_timeout);
        // A retriable failure that ran out of time is reported as the timeout it is.
        let error = if retriable && !in_time {
            &timed_out
        } else {
            error
        };
        tracing::warn!(%tp, error = %error, "batch failed");
        if self.accumulator.fail(tp, id, error) {
            self.sequence_lost();
        }
    }

    /// A stamped batch was lost: its sequence gap would fail every later batch.
    pub(super) fn sequence_lost(&mut self) {
        if let IdState::Ready(id, epoch) = self.id {
            self.id = IdState::Reset(id, epoch);
        }
    }
}
