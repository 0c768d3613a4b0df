//! Push style, built on `poll`: [`Consumer::stream`] yields records one by one, and
//! [`Consumer::listen`] hands each polled batch to a handler and commits once the handler
//! returns `Ok`. A handler error stops listening, and the batch's partitions are rewound
//! to its first records, so nothing is lost: the next poll delivers them again.

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::time::Duration;

use futures::Stream;

use super::{Consumer, Records};
use crate::error::Error;
use crate::record::{ConsumerRecord, TopicPartition};

/// How long each `poll` under `stream` and `listen` waits.
const POLL: Duration = Duration::from_secs(1);

/// Why [`Consumer::listen`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum ListenError<E> {
    /// Polling or committing failed.
    #[error(transparent)]
    Consumer(#[from] Error),
    /// The handler failed; its batch was not committed and will be polled again.
    #[error("the handler failed")]
    Handler(#[source] E),
}

impl Consumer {
    /// The records of every poll, one by one, forever (until an error, which is yielded).
    pub fn stream(&mut self) -> impl Stream<Item = Result<ConsumerRecord, Error>> + Send + '_ {
        futures::stream::unfold(
            (self, VecDeque::new()),
            |(consumer, mut buffered)| async move {
                loop {
                    if let Some(record) = buffered.pop_front() {
                        return Some((Ok(record), (consumer, buffered)));
                    }
                    match consumer.poll(POLL).await {
                        Ok(records) => buffered.extend(records),
                        Err(e) => return Some((Err(e), (consumer, buffered))),
                    }
                }
            },
        )
    }

    /// Polls forever, calling `handler` with each non-empty batch and committing (with a
    /// `group_id`) after it returns `Ok`. Returns the first error.
    pub async fn listen<F, Fut, E>(&mut self, handler: F) -> Result<(), ListenError<E>>
    where
        F: FnMut(Records) -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        self.listen_until(handler, std::future::pending()).await
    }

    /// As [`Self::listen`], returning `Ok` once `stop` completes (between batches).
    pub async fn listen_until<F, Fut, E>(
        &mut self,
        mut handler: F,
        stop: impl Future<Output = ()>,
    ) -> Result<(), ListenError<E>>
    where
        F: FnMut(Records) -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        tokio::pin!(stop);
        loop {
            let records = tokio::select! {
                biased;
                () = &mut stop => return Ok(()),
                records = self.poll(POLL) => records?,
            };
            if records.is_empty() {
                continue;
            }
            let mut first: BTreeMap<TopicPartition, i64> = BTreeMap::new();
            for r in &records {
                first.entry(r.topic_partition()).or_insert(r.offset);
            }
            if let Err(e) = handler(records).await {
                for (tp, offset) in first {
                    let _ = self.seek(&tp, offset);
                }
                return Err(ListenError::Handler(e));
            }
            if self.group.is_some() {
                self.commit_sync().await?;
            }
        }
    }
}
