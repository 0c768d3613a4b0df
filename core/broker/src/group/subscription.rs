//! Reading the topics out of a consumer's JoinGroup metadata (the consumer protocol's
//! `ConsumerProtocolSubscription`), which OffsetDelete needs to refuse deleting offsets of a
//! topic the group still consumes. Everything else about member metadata stays opaque.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::Decodable;

/// The protocol type of Kafka consumer groups.
pub(crate) const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// The newest subscription version the codec knows; newer versions only add fields at the
/// end, so they decode as this one.
const NEWEST_KNOWN_VERSION: i16 = 3;

/// The subscribed topics in consumer-protocol metadata, or `None` if it does not parse.
pub(crate) fn topics(metadata: &Bytes) -> Option<Vec<String>> {
    let mut buf = metadata.clone();
    if buf.remaining() < 2 {
        return None;
    }
    let version = buf.get_i16();
    if version < 0 {
        return None;
    }
    let subscription =
        ConsumerProtocolSubscription::decode(&mut buf, version.min(NEWEST_KNOWN_VERSION)).ok()?;
    Some(subscription.topics.iter().map(|t| t.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn metadata(version: i16, topics: &[&str]) -> Bytes {
        let subscription = ConsumerProtocolSubscription::default().with_topics(
            topics
                .iter()
                .map(|t| StrBytes::from_string(t.to_string()))
                .collect(),
        );
        let mut buf = BytesMut::new();
        buf.put_i16(version);
        subscription.encode(&mut buf, version).unwrap();
        buf.freeze()
    }

    #[test]
    fn reads_the_topics_of_every_version() {
        for version in 0..=3 {
            assert_eq!(
                topics(&metadata(version, &["orders", "payments"])),
                Some(vec!["orders".to_string(), "payments".to_string()]),
                "v{version}"
            );
        }
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(topics(&Bytes::from_static(&[0])), None);
        assert_eq!(topics(&Bytes::from_static(&[0, 0, 0, 9, 0])), None);
    }
}
