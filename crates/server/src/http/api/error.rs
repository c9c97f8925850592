//! The API's error body `{code, message}` with stable codes, and the JSON extractor that names the bad field.
//!
//! Codes are five digits: the HTTP status, then two digits for the case. They are documented in `docs/api.md`
//! and never reused for another meaning.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use control::jwt::TokenError;
use control::store::StoreError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::warn;
use utoipa::ToSchema;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct ApiError {
    /// Stable error code (see docs/api.md).
    pub(crate) code: u32,
    /// What was wrong and what to do.
    pub(crate) message: String,
}

/// The stable codes.
pub(crate) mod code {
    pub(crate) const BAD_JSON: u32 = 40000;
    pub(crate) const INVALID_FIELD: u32 = 40001;
    pub(crate) const ADMIN_TOKEN: u32 = 40100;
    pub(crate) const TOKEN_MISSING: u32 = 40101;
    pub(crate) const TOKEN_MALFORMED: u32 = 40102;
    pub(crate) const TOKEN_BAD_SIGNATURE: u32 = 40103;
    pub(crate) const TOKEN_EXPIRED: u32 = 40104;
    pub(crate) const TOKEN_WRONG_ROLE: u32 = 40105;
    pub(crate) const TOKEN_MISMATCH: u32 = 40106;
    pub(crate) const FORBIDDEN: u32 = 40300;
    pub(crate) const NOT_FOUND: u32 = 40400;
    pub(crate) const UNKNOWN_APP: u32 = 40401;
    pub(crate) const STREAM_NOT_LIVE: u32 = 40402;
    pub(crate) const CHANNEL_NOT_FOUND: u32 = 40403;
    pub(crate) const METHOD_NOT_ALLOWED: u32 = 40500;
    pub(crate) const CONFLICT: u32 = 40900;
    pub(crate) const BODY_TOO_LARGE: u32 = 41300;
    pub(crate) const UNSUPPORTED_MEDIA_TYPE: u32 = 41500;
    pub(crate) const RANGE_NOT_SATISFIABLE: u32 = 41600;
    pub(crate) const INTERNAL: u32 = 50000;
    pub(crate) const CLUSTER_UNAVAILABLE: u32 = 50300;
    pub(crate) const DATABASE_UNAVAILABLE: u32 = 50301;
}

impl ApiError {
    pub(crate) fn new(code: u32, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(field: &str, why: impl std::fmt::Display) -> ApiError {
        ApiError::new(code::INVALID_FIELD, format!("{field}: {why}"))
    }

    pub(crate) fn unknown_app(app: &str) -> ApiError {
        ApiError::new(
            code::UNKNOWN_APP,
            format!(
                "no app \"{}\": list apps with GET /v1/apps",
                crate::ops::log_value::clip(app)
            ),
        )
    }

    fn status(&self) -> StatusCode {
        StatusCode::from_u16(u16::try_from(self.code / 100).unwrap_or(500))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), Json(self)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match &e {
            StoreError::AppExists { .. } => ApiError::new(code::CONFLICT, e.to_string()),
            StoreError::AppNotFound { .. } => ApiError::new(code::UNKNOWN_APP, e.to_string()),
            StoreError::ChannelNotFound { .. } => {
                ApiError::new(code::CHANNEL_NOT_FOUND, e.to_string())
            }
            StoreError::InvalidName { .. } | StoreError::InvalidSessionKey { .. } => {
                ApiError::new(code::INVALID_FIELD, e.to_string())
            }
            _ if e.to_string().contains("exists") => ApiError::new(code::CONFLICT, e.to_string()),
            _ if e.is_unreachable() => {
                warn!("database unreachable: {e}");
                ApiError::new(
                    code::DATABASE_UNAVAILABLE,
                    "the database does not answer: changes cannot be saved now (streams go on with the apps \
                     and keys already loaded); retry when it is back",
                )
            }
            _ => {
                warn!("database error: {e}");
                ApiError::new(
                    code::INTERNAL,
                    "database error; the server log has the details",
                )
            }
        }
    }
}

impl From<crate::cluster::store::StoreError> for ApiError {
    fn from(e: crate::cluster::store::StoreError) -> ApiError {
        ApiError::new(
            code::CLUSTER_UNAVAILABLE,
            format!("the cluster's Redis does not answer ({e}); this node's own streams go on, retry shortly"),
        )
    }
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> ApiError {
        let code = match &e {
            TokenError::BadSignature => code::TOKEN_BAD_SIGNATURE,
            TokenError::Expired { .. } => code::TOKEN_EXPIRED,
            TokenError::WrongRole { .. } => code::TOKEN_WRONG_ROLE,
            TokenError::WrongApp { .. }
            | TokenError::WrongChannel { .. }
            | TokenError::WrongAccount { .. } => code::TOKEN_MISMATCH,
            _ => code::TOKEN_MALFORMED,
        };
        ApiError::new(code, format!("token refused ({}): {e}", e.reason()))
    }
}

/// A JSON body whose errors name the field (`channelId: invalid type: ...`).
#[derive(Debug, Clone)]
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(ct) = req.headers().get(axum::http::header::CONTENT_TYPE) {
            let ct = ct.to_str().unwrap_or_default().to_ascii_lowercase();
            if !ct.starts_with("application/json") && !ct.contains("+json") {
                return Err(ApiError::new(
                    code::UNSUPPORTED_MEDIA_TYPE,
                    format!("the body must be JSON (Content-Type: application/json), not {ct:?}"),
                ));
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    code::BODY_TOO_LARGE,
                    "the body is larger than the server accepts (max_body_bytes)",
                )
            } else {
                ApiError::new(code::BAD_JSON, format!("cannot read the body: {e}"))
            }
        })?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path.is_empty() || path == "." {
                ApiError::new(code::BAD_JSON, format!("bad JSON body: {inner}"))
            } else {
                ApiError::new(code::BAD_JSON, format!("{path}: {inner}"))
            }
        })?;
        de.end()
            .map_err(|e| ApiError::new(code::BAD_JSON, format!("bad JSON body: {e}")))?;
        Ok(ApiJson(value))
    }
}
