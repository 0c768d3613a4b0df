//! The producer: `send` hands a record to a background task (see `sender`) that batches it
//! per partition (`accumulator`) and answers through the returned future once the broker
//! acknowledged it, or it failed for good.
//!
//! Memory is bounded: every record reserves its size from `buffer_memory` when it is sent
//! and frees it when answered; a `send` that finds the buffer full waits up to `max_block`.
//! Records are accepted in the order `send` is called whenever memory is available then.

mod accumulator;
mod batch;
mod config;
mod requests;
mod sender;

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::Instant;

pub use config::{Acks, ProducerConfig};

use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::partitioner::Partitioner;
use crate::record::{ProducerRecord, RecordMetadata};
use batch::{Answer, PendingRecord};
use sender::{Command, Sender};

/// A Kafka producer. Cheap to clone: clones share one background task, which delivers
/// what was sent and stops once every clone is dropped or [`Producer::close`] is called.
#[derive(Debug, Clone)]
pub struct Producer {
    commands: mpsc::UnboundedSender<Command>,
    memory: Arc<Semaphore>,
    config: Arc<ProducerConfig>,
}

impl Producer {
    /// A producer with the partitioner named in `config`. Must be called inside a Tokio
    /// runtime; no broker is contacted until the first record.
    pub fn new(config: ProducerConfig) -> Result<Self> {
        let partitioner = config.partitioner.build();
        Self::start(config, partitioner)
    }

    /// A producer with a partitioner of your own.
    pub fn with_partitioner(config: ProducerConfig, partitioner: impl Partitioner) -> Result<Self> {
        Self::start(config, Box::new(partitioner))
    }

    /// A producer with a partitioner chosen at run time (a command-line flag, a plugin).
    pub fn with_boxed_partitioner(
        config: ProducerConfig,
        partitioner: Box<dyn Partitioner>,
    ) -> Result<Self> {
        Self::start(config, partitioner)
    }

    fn start(config: ProducerConfig, partitioner: Box<dyn Partitioner>) -> Result<Self> {
        if config.batch_size == 0 {
            return Err(Error::Config("batch_size must be positive"));
        }
        if config.buffer_memory == 0 {
            return Err(Error::Config("buffer_memory must be positive"));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let cluster = Cluster::new(config.cluster_options())?;
        let config = Arc::new(config);
        let (commands, receiver) = mpsc::unbounded_channel();
        let memory = Arc::new(Semaphore::new(config.buffer_memory));
        runtime.spawn(Sender::new(Arc::clone(&config), cluster, partitioner, receiver).run());
        Ok(Self {
            commands,
            memory,
            config,
        })
    }

    /// The producer's settings.
    pub fn config(&self) -> &ProducerConfig {
        &self.config
    }

    /// Sends `record`. It is accepted now, in call order, when buffer memory is available;
    /// otherwise the returned future waits up to `max_block` for memory first. The future
    /// resolves with the record's partition and offset once acknowledged (per `acks`), or
    /// with why it could not be delivered. Dropping the future does not cancel the send.
    pub fn send(
        &self,
        record: ProducerRecord,
    ) -> impl Future<Output = Result<RecordMetadata>> + Send + use<> {
        let (done, answer) = oneshot::channel();
        let accepted = self.accept(record, Answer::Future(done));
        async move {
            accepted.await?;
            answer.await.map_err(|_| Error::Closed)?
        }
    }

    /// Sends `record` and calls `callback` with its outcome once acknowledged or failed,
    /// as the Java client's `send(record, callback)` does: the cheap way to send many
    /// records, with no future to keep per record. The callback runs on the producer's
    /// background task, so it must be quick. The returned future resolves once the record
    /// is accepted (waiting up to `max_block` for buffer memory, like `send`); if it is
    /// refused there (too large, no memory in time, producer closed) the error is returned
    /// and the callback is not called.
    pub fn send_with<F>(
        &self,
        record: ProducerRecord,
        callback: F,
    ) -> impl Future<Output = Result<()>> + Send + use<F>
    where
        F: FnOnce(Result<RecordMetadata>) + Send + 'static,
    {
        self.accept(record, Answer::Callback(Box::new(callback)))
    }

    /// Reserves buffer memory for `record` (now, or by waiting up to `max_block`) and hands
    /// it to the background task in call order.
    fn accept(
        &self,
        record: ProducerRecord,
        done: Answer,
    ) -> impl Future<Output = Result<()>> + Send + use<> {
        let size = record.estimated_size();
        let limit = self.config.max_request_size.min(self.config.buffer_memory);
        let max_block = self.config.max_block;
        let created = Instant::now();
        let pending = move |record, permit, done| {
            Command::Send(PendingRecord {
                record,
                size,
                permit,
                done,
                created,
                epoch: 0,
            })
        };
        let mut deferred = None;
        let early = if size > limit {
            Err(Error::RecordTooLarge { size, limit })
        } else {
            match Arc::clone(&self.memory).try_acquire_many_owned(size as u32) {
                Ok(permit) => self
                    .commands
                    .send(pending(record, permit, done))
                    .map_err(|_| Error::Closed),
                Err(tokio::sync::TryAcquireError::Closed) => Err(Error::Closed),
                Err(tokio::sync::TryAcquireError::NoPermits) => {
                    // Only a send that waits for memory keeps the producer's handles.
                    let handles = (self.commands.clone(), Arc::clone(&self.memory));
                    deferred = Some((record, done, handles));
                    Ok(())
                }
            }
        };
        async move {
            early?;
            if let Some((record, done, (commands, memory))) = deferred {
                let acquire = memory.acquire_many_owned(size as u32);
                let permit = tokio::time::timeout_at(created + max_block, acquire)
                    .await
                    .map_err(|_| Error::MaxBlock(max_block))?
                    .map_err(|_| Error::Closed)?;
                commands
                    .send(pending(record, permit, done))
                    .map_err(|_| Error::Closed)?;
            }
            Ok(())
        }
    }

    /// Sends every record accepted so far right away (ignoring `linger`) and waits until
    /// each is answered. Records sent after the flush began do not hold it up.
    pub async fn flush(&self) -> Result<()> {
        let (done, wait) = oneshot::channel();
        self.commands
            .send(Command::Flush(done))
            .map_err(|_| Error::Closed)?;
        wait.await.map_err(|_| Error::Closed)
    }

    /// Delivers everything accepted, then stops the background task. Other clones of this
    /// producer can no longer send.
    pub async fn close(self) -> Result<()> {
        let (done, wait) = oneshot::channel();
        self.commands
            .send(Command::Close(done))
            .map_err(|_| Error::Closed)?;
        self.memory.close();
        wait.await.map_err(|_| Error::Closed)
    }
}
