//! The stream anomaly event (`event_type` 321): Tencent CSS's push anomaly callback fields, sent once when a health
//! rule's episode starts and once when it ends, with mplive's fields saying which (docs/webhooks.md).

use serde_json::{json, Map, Value};

/// Tencent's `abnormal_event.type` numbers, and mplive's own from 1001 for rules Tencent does not have.
pub mod abnormal_type {
    /// The video timestamp moved backwards (Tencent 1).
    pub const VIDEO_TS_BACKWARDS: u32 = 1;
    /// The audio timestamp moved backwards (Tencent 2).
    pub const AUDIO_TS_BACKWARDS: u32 = 2;
    /// Two video frames arrived too far apart (Tencent 6).
    pub const VIDEO_GAP: u32 = 6;
    /// The video frame rate is too low (Tencent 15).
    pub const LOW_FPS: u32 = 15;
    /// The GOP is too long (Tencent 16).
    pub const LONG_GOP: u32 = 16;
    /// Audio and video timestamps drift apart (mplive).
    pub const AV_DRIFT: u32 = 1001;
    /// The bitrate collapsed (mplive).
    pub const BITRATE_DROP: u32 = 1002;
}

/// Whether the body reports an episode's start or its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnomalyState {
    /// The rule's condition appeared (`"start"`).
    Start,
    /// The condition is gone or the push ended (`"end"`).
    End,
}

impl AnomalyState {
    /// `start` or `end`.
    pub fn as_str(self) -> &'static str {
        match self {
            AnomalyState::Start => "start",
            AnomalyState::End => "end",
        }
    }
}

/// One start or end of an anomaly episode, as [`StreamEvent::anomaly`](super::StreamEvent::anomaly) carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    /// The rule's name (`video_gap`, `low_fps`, ...).
    pub rule: String,
    /// Start or end.
    pub state: AnomalyState,
    /// Tencent's `abnormal_event.type`, or mplive's (see [`abnormal_type`]).
    pub abnormal_type: u32,
    /// How many times it happened in the episode (frames that went backwards; 1 for the other rules).
    pub count: u32,
    /// A sentence with the values, Tencent's `detail.desc`.
    pub desc: String,
    /// When the episode started, Unix ms.
    pub started_ms: u64,
    /// How long it lasted, ms: set on the end only.
    pub duration_ms: Option<u64>,
    /// The rule's values (at the start, what started it; at the end, the worst seen), by name.
    pub values: Map<String, Value>,
}

/// Tencent's English and Chinese descriptions of an `abnormal_event.type`.
pub fn type_desc(abnormal_type: u32) -> (&'static str, &'static str) {
    match abnormal_type {
        abnormal_type::VIDEO_TS_BACKWARDS => ("video timestamp rollback", "视频时间戳回退"),
        abnormal_type::AUDIO_TS_BACKWARDS => ("audio timestamp rollback", "音频时间戳回退"),
        abnormal_type::VIDEO_GAP => (
            "video frame arrive interval too long",
            "两帧视频帧到达时间太长",
        ),
        abnormal_type::LOW_FPS => ("video frame rate too low", "视频帧率过低"),
        abnormal_type::LONG_GOP => ("gop size too large", "gop size 过大"),
        abnormal_type::AV_DRIFT => (
            "audio and video timestamps drift apart",
            "音视频时间戳不同步",
        ),
        abnormal_type::BITRATE_DROP => ("bitrate dropped", "码率骤降"),
        _ => ("", ""),
    }
}

/// Adds the fields of an anomaly body to `map` (the common fields are already there).
pub(super) fn put_fields(map: &mut Map<String, Value>, app: &str, anomaly: &Anomaly) {
    let occur_ms = anomaly
        .started_ms
        .saturating_add(anomaly.duration_ms.unwrap_or(0));
    let (en, cn) = type_desc(anomaly.abnormal_type);
    let mut put = |key: &str, value: Value| {
        map.insert(key.to_owned(), value);
    };
    // Tencent's fields. It aggregates per report interval; mplive sends each start and end at once, so the
    // interval is 0 and each body holds one event.
    put("data_time", occur_ms.into());
    put("report_interval", 0.into());
    // Tencent's push domain and path: mplive has no per-app domain, so both are the app name (as `app` is).
    put("domain", app.into());
    put("path", app.into());
    put(
        "abnormal_event",
        json!([{
            "type": anomaly.abnormal_type,
            "count": anomaly.count,
            "customer_visible": "true",
            "detail": [{ "desc": anomaly.desc, "occur_time": occur_ms }],
            "event_key": anomaly.rule,
            "type_desc_en": en,
            "type_desc_cn": cn,
        }]),
    );
    // mplive's: which episode, which end of it.
    put("anomaly_state", anomaly.state.as_str().into());
    put("anomaly_rule", anomaly.rule.clone().into());
    put("anomaly_detail", Value::Object(anomaly.values.clone()));
    put("episode_start_time", anomaly.started_ms.into());
    if let Some(duration) = anomaly.duration_ms {
        put("episode_duration", duration.into());
    }
}
