//! DeleteTopics: removes topics by name (or by id, v6) with their partition logs and the
//! offsets groups committed for them.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::dispatch::Context;
use crate::handlers::code;
use crate::handlers::create_topics::error_code;
use crate::handlers::group_codes::now_ms;
use crate::topics::TopicError;

pub(crate) fn handle(ctx: &Context, request: DeleteTopicsRequest) -> DeleteTopicsResponse {
    let topics = &ctx.broker.topics;
    // v0-5 name topics in `topic_names`; v6 in `topics`, by name or id.
    let mut wanted: Vec<(Option<String>, uuid::Uuid)> = request
        .topic_names
        .iter()
        .map(|n| (Some(n.0.to_string()), uuid::Uuid::nil()))
        .collect();
    wanted.extend(
        request
            .topics
            .iter()
            .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id)),
    );
    let responses = wanted
        .into_iter()
        .map(|(name, id)| {
            let name = name.or_else(|| topics.by_id(id).map(|t| t.name.clone()));
            let result = DeletableTopicResult::default()
                .with_name(name.clone().map(|n| TopicName(StrBytes::from_string(n))))
                .with_topic_id(id);
            let outcome = match name {
                None => Err(ResponseError::UnknownTopicId),
                Some(name) if name.starts_with("__") => Err(ResponseError::InvalidTopicException),
                Some(name) => topics
                    .delete(&name)
                    .map(|_| forget_offsets(ctx, &name))
                    .map_err(|e| {
                        if !matches!(e, TopicError::Unknown(_)) {
                            tracing::error!(topic = name, error = %e, "deleting a topic failed");
                        }
                        error_code(&e)
                    }),
            };
            match outcome {
                Ok(()) => result,
                Err(error) => result.with_error_code(code(error)),
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(responses)
}

/// Drops the committed offsets of a deleted topic; durability follows the offsets log's own
/// flush (a lost tombstone only leaves offsets no one can use).
fn forget_offsets(ctx: &Context, topic: &str) {
    if let Err(error) = ctx.broker.groups.forget_topic(topic, now_ms()) {
        tracing::error!(topic, %error, "forgetting the committed offsets of a deleted topic failed");
    }
}
