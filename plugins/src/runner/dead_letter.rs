//! The record a failed input becomes on the dead-letter topic: the input's key, value and
//! headers, plus headers saying why, which plugin, and where the input was.

use weir_client::{ConsumerRecord, Header, ProducerRecord};

/// Header: why the plugin could not handle the record.
pub const ERROR_HEADER: &str = "weir.dead-letter.error";
/// Header: the plugin's name.
pub const PLUGIN_HEADER: &str = "weir.dead-letter.plugin";
/// Header: the input's topic.
pub const TOPIC_HEADER: &str = "weir.dead-letter.topic";
/// Header: the input's partition.
pub const PARTITION_HEADER: &str = "weir.dead-letter.partition";
/// Header: the input's offset.
pub const OFFSET_HEADER: &str = "weir.dead-letter.offset";

/// The dead-letter record for `input`.
pub fn dead_letter(
    topic: &str,
    input: &ConsumerRecord,
    plugin: &str,
    error: &str,
) -> ProducerRecord {
    let mut headers = input.headers.clone();
    headers.push(Header::new(ERROR_HEADER, error.to_string()));
    headers.push(Header::new(PLUGIN_HEADER, plugin.to_string()));
    headers.push(Header::new(TOPIC_HEADER, input.topic.clone()));
    headers.push(Header::new(PARTITION_HEADER, input.partition.to_string()));
    headers.push(Header::new(OFFSET_HEADER, input.offset.to_string()));
    ProducerRecord {
        topic: topic.into(),
        partition: None,
        key: input.key.clone(),
        value: input.value.clone(),
        headers,
        timestamp: None,
    }
}
