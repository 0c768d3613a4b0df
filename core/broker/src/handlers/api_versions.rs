//! ApiVersions: which APIs and versions weir serves. A request at a version weir does not
//! know gets a v0 answer with UNSUPPORTED_VERSION and the supported range (KIP-511), so the
//! client retries with a version both sides speak.

use bytes::BytesMut;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use crate::dispatch::{SUPPORTED, encode_response};

pub(crate) fn handle(_request: &ApiVersionsRequest) -> ApiVersionsResponse {
    response(0)
}

/// The v0 answer to an ApiVersions request at an unknown version.
pub(crate) fn unsupported(correlation_id: i32) -> BytesMut {
    encode_response(
        correlation_id,
        0,
        &response(ResponseError::UnsupportedVersion.code()),
    )
}

fn response(error_code: i16) -> ApiVersionsResponse {
    let api_keys = SUPPORTED
        .iter()
        .map(|(api, min, max)| {
            ApiVersion::default()
                .with_api_key(*api as i16)
                .with_min_version(*min)
                .with_max_version(*max)
        })
        .collect();
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(api_keys)
}
