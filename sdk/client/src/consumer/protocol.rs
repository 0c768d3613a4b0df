//! The consumer protocol's embedded messages: a member's subscription (in JoinGroup) and
//! its assignment (in SyncGroup), each a version prefix and the body at that version.

use std::collections::BTreeMap;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
    consumer_protocol_assignment,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::error::{Error, Result};
use crate::record::TopicPartition;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// The version of the embedded consumer protocol messages this client writes.
const EMBEDDED_VERSION: i16 = 1;

fn encode_embedded(message: &impl Encodable) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_i16(EMBEDDED_VERSION);
    // These messages always encode: every field is valid at version 1.
    let _ = message.encode(&mut buf, EMBEDDED_VERSION);
    buf.freeze()
}

fn decode_embedded<T: Decodable>(bytes: &Bytes, what: &'static str) -> Result<T> {
    let mut buf = bytes.clone();
    if buf.remaining() < 2 {
        return Err(Error::Codec {
            api: what,
            version: -1,
            reason: "empty".to_string(),
        });
    }
    let version = buf.get_i16().clamp(0, 3);
    T::decode(&mut buf, version).map_err(|e| Error::Codec {
        api: what,
        version,
        reason: e.to_string(),
    })
}

pub(super) fn encode_subscription(topics: &[String]) -> Bytes {
    let mut subscription = ConsumerProtocolSubscription::default();
    subscription.topics = topics.iter().map(|t| s(t)).collect();
    encode_embedded(&subscription)
}

pub(super) fn decode_subscription(bytes: &Bytes) -> Result<Vec<String>> {
    let subscription: ConsumerProtocolSubscription =
        decode_embedded(bytes, "ConsumerProtocolSubscription")?;
    Ok(subscription
        .topics
        .iter()
        .map(ToString::to_string)
        .collect())
}

pub(super) fn encode_assignment(partitions: &[TopicPartition]) -> Bytes {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic.entry(&tp.topic).or_default().push(tp.partition);
    }
    let mut assignment = ConsumerProtocolAssignment::default();
    assignment.assigned_partitions = by_topic
        .into_iter()
        .map(|(t, ps)| {
            consumer_protocol_assignment::TopicPartition::default()
                .with_topic(TopicName(s(t)))
                .with_partitions(ps)
        })
        .collect();
    encode_embedded(&assignment)
}

pub(crate) fn decode_assignment(bytes: &Bytes) -> Result<Vec<TopicPartition>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let assignment: ConsumerProtocolAssignment =
        decode_embedded(bytes, "ConsumerProtocolAssignment")?;
    Ok(assignment
        .assigned_partitions
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| TopicPartition::new(t.topic.0.as_str(), *p))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_messages_round_trip() {
        let topics = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            decode_subscription(&encode_subscription(&topics)).unwrap(),
            topics
        );
        let tps = vec![
            TopicPartition::new("a", 0),
            TopicPartition::new("a", 2),
            TopicPartition::new("b", 1),
        ];
        assert_eq!(decode_assignment(&encode_assignment(&tps)).unwrap(), tps);
        assert!(decode_assignment(&Bytes::new()).unwrap().is_empty());
    }
}
