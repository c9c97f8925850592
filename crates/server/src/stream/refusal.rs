//! One typed refusal for every protocol: why a publish or play was refused, and what each audience gets from it
//! (the log and `/metrics` reason, the RTMP status code, the HTTP status, the webhook `errcode`). A driver never
//! maps reasons itself, so RTMP, HTTP-FLV and HLS cannot disagree.

use control::jwt::TokenError;
use control::txsecret::SignatureError;
use control::webhook_event::errcode;

/// Why a publish or play was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Reason {
    /// The app or stream name breaks the naming rules.
    BadName,
    /// No app has this name.
    UnknownApp,
    /// The URL carries no `txSecret`/`txTime`.
    SignatureMissing,
    /// The signature does not match, or `txTime` is malformed.
    SignatureBad,
    /// `txTime` is in the past.
    SignatureExpired,
    /// `txTime` is further ahead than `max_url_ttl_secs`.
    SignatureTtlTooLong,
    /// An app token (a WHIP publish's `Authorization: Bearer`) that is not one: malformed, another algorithm, a
    /// bad signature, a missing claim.
    TokenInvalid,
    /// An app token past its `exp`.
    TokenExpired,
    /// A valid app token for another app, stream, or a role that does not allow this.
    TokenMismatch,
    /// The stream is forbidden.
    Forbidden,
    /// Another publisher holds the stream.
    StreamBusy,
    /// The app's or the server's stream limit is reached.
    TooManyStreams,
    /// The app's player limit is reached.
    TooManyPlayers,
    /// One client address holds `hls.max_viewers_per_address` HLS viewers already.
    TooManyViewersPerAddress,
    /// The stream to play is not live.
    NotFound,
    /// Cluster mode cannot decide now: Redis does not answer, or the node that holds the stream cannot be
    /// reached. Local streams go on; this publish or play is refused until the cluster answers again.
    ClusterUnavailable,
}

impl Reason {
    /// Every reason, for tests and documentation.
    #[cfg(test)]
    pub(crate) const ALL: [Reason; 16] = [
        Reason::BadName,
        Reason::UnknownApp,
        Reason::SignatureMissing,
        Reason::SignatureBad,
        Reason::SignatureExpired,
        Reason::SignatureTtlTooLong,
        Reason::TokenInvalid,
        Reason::TokenExpired,
        Reason::TokenMismatch,
        Reason::Forbidden,
        Reason::StreamBusy,
        Reason::TooManyStreams,
        Reason::TooManyPlayers,
        Reason::TooManyViewersPerAddress,
        Reason::NotFound,
        Reason::ClusterUnavailable,
    ];

    /// The stable name: the start of the RTMP status description and HTTP body, the log, the metrics label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::BadName => "bad_name",
            Reason::UnknownApp => "unknown_app",
            Reason::SignatureMissing => "signature_missing",
            Reason::SignatureBad => "signature_bad",
            Reason::SignatureExpired => "signature_expired",
            Reason::SignatureTtlTooLong => "signature_ttl_too_long",
            Reason::TokenInvalid => "token_invalid",
            Reason::TokenExpired => "token_expired",
            Reason::TokenMismatch => "token_mismatch",
            Reason::Forbidden => "forbidden",
            Reason::StreamBusy => "stream_busy",
            Reason::TooManyStreams => "too_many_streams",
            Reason::TooManyPlayers => "too_many_players",
            Reason::TooManyViewersPerAddress => "too_many_viewers_per_address",
            Reason::NotFound => "not_found",
            Reason::ClusterUnavailable => "cluster_unavailable",
        }
    }

    /// The HTTP status of an HTTP-FLV or HLS request refused for this reason.
    pub(crate) fn http_status(self) -> u16 {
        match self {
            Reason::BadName => 400,
            // Bearer credentials that do not authenticate (RFC 6750 3.1: invalid_token is 401).
            Reason::SignatureMissing | Reason::TokenInvalid | Reason::TokenExpired => 401,
            Reason::UnknownApp | Reason::NotFound => 404,
            Reason::StreamBusy => 409,
            // The client's own doing, and over once one of its viewers stops asking: not the 503 of a full app.
            Reason::TooManyViewersPerAddress => 429,
            Reason::TooManyStreams | Reason::TooManyPlayers | Reason::ClusterUnavailable => 503,
            Reason::SignatureBad
            | Reason::SignatureExpired
            | Reason::SignatureTtlTooLong
            | Reason::TokenMismatch
            | Reason::Forbidden => 403,
        }
    }

    /// The `onStatus` code of a refused RTMP publish.
    pub(crate) fn rtmp_publish_code(self) -> &'static str {
        match self {
            Reason::StreamBusy | Reason::BadName => "NetStream.Publish.BadName",
            Reason::SignatureMissing
            | Reason::SignatureBad
            | Reason::SignatureExpired
            | Reason::SignatureTtlTooLong
            | Reason::TokenInvalid
            | Reason::TokenExpired
            | Reason::TokenMismatch => "NetStream.Publish.Unauthorized",
            _ => "NetStream.Publish.Rejected",
        }
    }

    /// The `onStatus` code of a refused RTMP play.
    pub(crate) fn rtmp_play_code(self) -> &'static str {
        match self {
            Reason::NotFound => "NetStream.Play.StreamNotFound",
            _ => "NetStream.Play.Failed",
        }
    }

    /// The webhook `errcode` (docs/webhooks.md).
    pub(crate) fn errcode(self) -> i64 {
        match self {
            Reason::BadName => errcode::BAD_NAME,
            Reason::UnknownApp => errcode::UNKNOWN_APP,
            Reason::SignatureMissing => errcode::SIGNATURE_MISSING,
            Reason::SignatureBad => errcode::SIGNATURE_BAD,
            Reason::SignatureExpired => errcode::SIGNATURE_EXPIRED,
            Reason::SignatureTtlTooLong => errcode::SIGNATURE_TTL_TOO_LONG,
            Reason::TokenInvalid => errcode::TOKEN_INVALID,
            Reason::TokenExpired => errcode::TOKEN_EXPIRED,
            Reason::TokenMismatch => errcode::TOKEN_MISMATCH,
            Reason::Forbidden => errcode::FORBIDDEN,
            Reason::StreamBusy => errcode::STREAM_BUSY,
            Reason::TooManyStreams => errcode::TOO_MANY_STREAMS,
            Reason::TooManyPlayers | Reason::TooManyViewersPerAddress => errcode::TOO_MANY_PLAYERS,
            Reason::NotFound | Reason::ClusterUnavailable => errcode::OTHER,
        }
    }

    /// Whether a refused publish is told to the app's webhooks: not for a bad name, which is stored nowhere.
    pub(crate) fn has_webhook(self) -> bool {
        self != Reason::BadName
    }
}

impl From<&SignatureError> for Reason {
    fn from(e: &SignatureError) -> Reason {
        match e {
            SignatureError::Missing => Reason::SignatureMissing,
            SignatureError::Expired { .. } => Reason::SignatureExpired,
            SignatureError::TooFarAhead { .. } => Reason::SignatureTtlTooLong,
            _ => Reason::SignatureBad,
        }
    }
}

impl From<&TokenError> for Reason {
    fn from(e: &TokenError) -> Reason {
        match e {
            TokenError::Expired { .. } => Reason::TokenExpired,
            TokenError::WrongApp { .. }
            | TokenError::WrongChannel { .. }
            | TokenError::WrongAccount { .. }
            | TokenError::WrongRole { .. } => Reason::TokenMismatch,
            _ => Reason::TokenInvalid,
        }
    }
}

impl From<TokenError> for Refusal {
    fn from(e: TokenError) -> Refusal {
        Refusal::new(Reason::from(&e), e.to_string())
    }
}

/// A refused publish or play: the reason and what a person reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// Why.
    pub(crate) reason: Reason,
    /// What was wrong and what to do; never echoes a client value beyond the bounds of `log_value`.
    pub(crate) message: String,
}

impl Refusal {
    /// A refusal for `reason`.
    pub(crate) fn new(reason: Reason, message: impl Into<String>) -> Refusal {
        Refusal {
            reason,
            message: message.into(),
        }
    }

    /// `reason: message`, the RTMP status description and HTTP error text.
    pub(crate) fn description(&self) -> String {
        format!("{}: {}", self.reason.as_str(), self.message)
    }

    /// The HTTP status that fits.
    pub(crate) fn http_status(&self) -> u16 {
        self.reason.http_status()
    }
}

impl From<SignatureError> for Refusal {
    fn from(e: SignatureError) -> Refusal {
        Refusal::new(Reason::from(&e), e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_maps_consistently() {
        let mut names = std::collections::HashSet::new();
        for r in Reason::ALL {
            assert!(names.insert(r.as_str()), "{r:?} shares its name");
            // The signature checker, the token checker and the server name reasons the same way for webhooks.
            if !matches!(
                r,
                Reason::NotFound | Reason::TooManyViewersPerAddress | Reason::ClusterUnavailable
            ) {
                assert_eq!(errcode::for_reason(r.as_str()), r.errcode(), "{r:?}");
            }
            assert!((400..600).contains(&r.http_status()), "{r:?}");
            assert!(r.rtmp_publish_code().starts_with("NetStream.Publish."));
        }
        assert_eq!(
            Reason::NotFound.rtmp_play_code(),
            "NetStream.Play.StreamNotFound"
        );
        assert!(!Reason::BadName.has_webhook());
        assert!(Reason::SignatureBad.has_webhook());
    }

    #[test]
    fn signature_errors_keep_their_reason() {
        for e in [
            SignatureError::Missing,
            SignatureError::BadTime,
            SignatureError::BadSecret,
            SignatureError::Expired { expiry: 0, now: 1 },
            SignatureError::TooFarAhead {
                expiry: 9,
                now: 1,
                max_ttl: 2,
            },
        ] {
            assert_eq!(Refusal::from(e).reason.as_str(), e.reason(), "{e:?}");
        }
    }
}
