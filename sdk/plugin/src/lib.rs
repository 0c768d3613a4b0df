//! `weir-plugin-sdk`: what a plugin author depends on to write a weir partitioner or consumer
//! in Rust and build it for `wasm32-wasip2` (a WebAssembly component).
//!
//! The author implements [`Partitioner`] or [`Consumer`] on a plain Rust type and exports it
//! with one macro line. Records arrive as borrowed [`Record`] views decoded from one flat
//! buffer per call ([`wire`]); the WIT bindings (`plugins/wit/`) stay hidden.
//!
//! # A partitioner
//!
//! Routes by a `region` header to a fixed partition, other records by key hash:
//!
//! ```
//! use weir_plugin_sdk::{Config, Partitioner, Partitions, Record, partition_for_key};
//!
//! pub struct ByRegion {
//!     eu: i32,
//! }
//!
//! impl Partitioner for ByRegion {
//!     fn new(config: &Config) -> Result<Self, String> {
//!         let eu = config.get("eu").unwrap_or("0");
//!         Ok(Self { eu: eu.parse().map_err(|_| format!("eu: not a partition: {eu}"))? })
//!     }
//!
//!     fn partition(&mut self, record: &Record<'_>, partitions: &Partitions<'_>) -> Result<i32, String> {
//!         match (record.headers.get("region"), record.key) {
//!             (Some(b"eu"), _) => Ok(self.eu),
//!             (_, Some(key)) => Ok(partition_for_key(key, partitions.count())),
//!             (_, None) => Err("record has neither region nor key".into()),
//!         }
//!     }
//! }
//!
//! weir_plugin_sdk::export_partitioner!(ByRegion);
//! ```
//!
//! # A consumer
//!
//! Turns `{"order": …, "status": …}` events into notifications, dead-letters the rest:
//!
//! ```
//! use weir_plugin_sdk::{Config, Consumer, Emitter, Error, OutRecord, Record};
//!
//! pub struct Notifier {
//!     topic: String,
//! }
//!
//! impl Consumer for Notifier {
//!     fn new(config: &Config) -> Result<Self, String> {
//!         Ok(Self { topic: config.get("output").unwrap_or("notifications").to_string() })
//!     }
//!
//!     fn consume(&mut self, record: &Record<'_>, out: &mut Emitter) -> Result<(), Error> {
//!         let value = record.value.ok_or_else(|| Error::DeadLetter("no value".into()))?;
//!         let text = std::str::from_utf8(value).map_err(|_| Error::DeadLetter("not UTF-8".into()))?;
//!         if !text.contains("\"status\"") {
//!             return Err(Error::DeadLetter("no status field".into()));
//!         }
//!         out.emit(OutRecord::new(&self.topic, format!("changed: {text}")).with_header("source", record.topic));
//!         Ok(())
//!     }
//! }
//!
//! weir_plugin_sdk::export_consumer!(Notifier);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; check the result with
//! `weir plugin check target/wasm32-wasip2/release/NAME.wasm`.
//!
//! | module | owns |
//! |---|---|
//! | [`record`] | [`Record`], [`Headers`], [`Partitions`], [`Config`] views |
//! | [`partitioner`] | the [`Partitioner`] trait and its export glue |
//! | [`consumer`] | the [`Consumer`] trait, [`Error`], [`Emitter`], log and config imports |
//! | [`wire`] | the flat call layouts, shared with the host |
//! | [`json`] | one top-level string field of a JSON object, without a parser |
//! | [`murmur2`] | the Java client's key hash |

pub mod consumer;
pub mod json;
pub use weir_murmur2 as murmur2;
pub mod partitioner;
pub mod record;
pub mod wire;

pub use consumer::{Consumer, Emitter, Error, IntoBytes, OutRecord};
pub use murmur2::partition_for_key;
pub use partitioner::Partitioner;
pub use record::{Config, Fill, Headers, Partitions, Record};

/// The WIT bindings, generated for the guest only. Generated code uses `unsafe` for the
/// canonical ABI; none is written by hand.
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
#[allow(unsafe_code, missing_docs, unreachable_pub, clippy::all)]
pub mod __bindings {
    /// The partitioner world.
    pub mod partitioner {
        wit_bindgen::generate!({
            path: "../../plugins/wit",
            world: "partitioner-plugin",
            pub_export_macro: true,
            export_macro_name: "__export_partitioner_world",
        });
    }
    /// The consumer world.
    pub mod consumer {
        wit_bindgen::generate!({
            path: "../../plugins/wit",
            world: "consumer-plugin",
            pub_export_macro: true,
            export_macro_name: "__export_consumer_world",
        });
    }
}

/// Glue between the WIT export of the consumer world and [`consumer::call`].
#[cfg(target_arch = "wasm32")]
#[doc(hidden)]
pub mod __glue {
    use crate::__bindings::consumer::exports::weir::plugin::consumer::{BatchError, Failure};
    use crate::__bindings::consumer::weir::plugin::host::emit_batch;
    use crate::consumer::{Consumer, Emitter, Error, Slot, call};

    std::thread_local! {
        /// Kept between calls, so its buffer is grown once, not per batch.
        static EMITTER: std::cell::RefCell<Emitter> = std::cell::RefCell::new(Emitter::default());
    }

    pub fn consume<C: Consumer>(slot: &'static Slot<C>, batch: &[u8]) -> Result<(), BatchError> {
        let outcome = EMITTER.with(|out| {
            let mut out = out.borrow_mut();
            out.clear();
            let outcome = call(slot, batch, &mut out);
            // The emits of the records handled before a failure are kept, as the host expects.
            if !out.is_empty() {
                emit_batch(out.encoded());
            }
            outcome
        });
        outcome.map_err(|(index, error)| BatchError {
            index,
            failure: match error {
                Error::Retry(m) => Failure::Retry(m),
                Error::DeadLetter(m) => Failure::DeadLetter(m),
            },
        })
    }
}

/// Exports a [`Partitioner`] implementation as the plugin's partitioner:
/// `weir_plugin_sdk::export_partitioner!(MyPartitioner);` (once per plugin).
#[macro_export]
macro_rules! export_partitioner {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            ::std::thread_local! {
                static WEIR_PARTITIONER: ::std::cell::RefCell<::std::option::Option<$ty>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }
            struct WeirPartitionerExport;
            impl $crate::__bindings::partitioner::exports::weir::plugin::partitioner::Guest
                for WeirPartitionerExport
            {
                fn init(
                    config: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::partitioner::init::<$ty>(&WEIR_PARTITIONER, config)
                }
                fn partition(call: ::std::vec::Vec<u8>) -> ::std::vec::Vec<i32> {
                    $crate::partitioner::export_call::<$ty>(&WEIR_PARTITIONER, &call)
                }
                fn refusals() -> ::std::vec::Vec<::std::string::String> {
                    $crate::partitioner::refusals()
                }
            }
            $crate::__export_partitioner_plugin_impl!(
                WeirPartitionerExport with_types_in $crate::__bindings::partitioner
            );
        };
    };
}

/// Exports a [`Consumer`] implementation as the plugin's consumer:
/// `weir_plugin_sdk::export_consumer!(MyConsumer);` (once per plugin).
#[macro_export]
macro_rules! export_consumer {
    ($ty:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            ::std::thread_local! {
                static WEIR_CONSUMER: ::std::cell::RefCell<::std::option::Option<$ty>> =
                    const { ::std::cell::RefCell::new(::std::option::Option::None) };
            }
            struct WeirConsumerExport;
            impl $crate::__bindings::consumer::exports::weir::plugin::consumer::Guest
                for WeirConsumerExport
            {
                fn init(
                    config: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::consumer::init::<$ty>(&WEIR_CONSUMER, config)
                }
                fn consume(
                    batch: ::std::vec::Vec<u8>,
                ) -> ::std::result::Result<
                    (),
                    $crate::__bindings::consumer::exports::weir::plugin::consumer::BatchError,
                > {
                    $crate::__glue::consume::<$ty>(&WEIR_CONSUMER, &batch)
                }
            }
            $crate::__export_consumer_plugin_impl!(
                WeirConsumerExport with_types_in $crate::__bindings::consumer
            );
        };
    };
}
