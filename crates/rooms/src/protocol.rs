//! The JSON messages of `/rooms/v1/ws`: what clients send ([`Request`]) and what the server sends
//! ([`ServerMessage`]). Parsing names the field that is wrong, so a client developer can fix it from the reply.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::codes;

/// A request id as the client sent it (string or number), echoed in the direct reply.
pub type ReqId = Option<Value>;

/// `muteConfig`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MuteConfig {
    /// The member's microphone is muted: it never counts as speaking.
    pub mute_microphone: bool,
    /// The member hears nothing (kept and reported; the media path does not change).
    pub mute_earphone: bool,
}

/// `roomType` (`voice` when a join has none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomType {
    /// Audio only: nobody is a video member.
    #[default]
    Voice,
    /// Video: the subscription rule applies.
    Video,
}

/// The fields of a `join`. The serde form is the wire's (camelCase), for clients that send a join (the server
/// parses with [`Request::parse`] instead, which names a wrong field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Join {
    /// The mplive app name (the WeChat appid).
    pub app_id: String,
    /// The room's group id.
    pub group_id: String,
    /// The joining user.
    pub open_id: String,
    /// The one-time random string.
    pub nonce_str: String,
    /// `timeStamp` as decimal text (the signature covers this text).
    pub time_stamp: String,
    /// The hex signature.
    pub signature: String,
    /// The room type asked for (the room keeps the type of its first member).
    #[serde(default)]
    pub room_type: RoomType,
    /// The initial mute settings.
    #[serde(default)]
    pub mute_config: MuteConfig,
}

/// What a client message asks.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Join a room.
    Join(Box<Join>),
    /// Leave the room.
    Exit,
    /// Change the mute settings.
    UpdateMuteConfig(MuteConfig),
    /// Replace the set of video members seen.
    SubscribeVideoMembers(Vec<String>),
    /// Allow or refuse 1v1 calls.
    SetEnable1v1Chat {
        /// Whether 1v1 calls are accepted.
        enable: bool,
        /// The small-window type the page uses (kept, not interpreted).
        min_window_type: Option<i64>,
    },
    /// The member's current microphone volume, 0..100.
    Volume(u8),
    /// Keep-alive.
    Heartbeat,
    /// Take a dropped membership over on this socket.
    Resume(String),
}

/// One parsed client message.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The client's request id, if any.
    pub req_id: ReqId,
    /// What it asks.
    pub command: Command,
}

/// A message that could not be understood; answered with `-10006` and the socket stays open.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRequest {
    /// The request id, when the message was JSON enough to carry one.
    pub req_id: ReqId,
    /// What is wrong, naming the field.
    pub message: String,
}

impl Request {
    /// Parses one text frame.
    pub fn parse(text: &str) -> Result<Request, BadRequest> {
        let value: Value = serde_json::from_str(text).map_err(|e| BadRequest {
            req_id: None,
            message: format!("malformed JSON: {e}"),
        })?;
        let Value::Object(obj) = value else {
            return Err(BadRequest {
                req_id: None,
                message: "a message must be a JSON object with a \"type\"".into(),
            });
        };
        let req_id = match obj.get("reqId") {
            None | Some(Value::Null) => None,
            Some(v @ (Value::String(_) | Value::Number(_))) => Some(v.clone()),
            Some(_) => {
                return Err(BadRequest {
                    req_id: None,
                    message: "reqId: must be a string or a number".into(),
                })
            }
        };
        let fail = |message: String| BadRequest {
            req_id: req_id.clone(),
            message,
        };
        let fields = Fields(&obj);
        let kind = fields.string("type").map_err(fail)?;
        let command = match kind.as_str() {
            "join" => Command::Join(Box::new(Join {
                app_id: fields.string("appId").map_err(fail)?,
                group_id: fields.string("groupId").map_err(fail)?,
                open_id: fields.string("openId").map_err(fail)?,
                nonce_str: fields.string("nonceStr").map_err(fail)?,
                time_stamp: fields.timestamp().map_err(fail)?,
                signature: fields.string("signature").map_err(fail)?,
                room_type: fields.room_type().map_err(fail)?,
                mute_config: fields.mute_config().map_err(fail)?,
            })),
            "exit" => Command::Exit,
            "updateMuteConfig" => {
                if obj.get("muteConfig").is_none() {
                    return Err(fail("muteConfig: missing".into()));
                }
                Command::UpdateMuteConfig(fields.mute_config().map_err(fail)?)
            }
            "subscribeVideoMembers" => {
                Command::SubscribeVideoMembers(fields.string_list("openIdList").map_err(fail)?)
            }
            "setEnable1v1Chat" => Command::SetEnable1v1Chat {
                enable: fields.boolean("enable").map_err(fail)?,
                min_window_type: obj.get("minWindowType").and_then(Value::as_i64),
            },
            "volume" => Command::Volume(fields.volume().map_err(fail)?),
            "heartbeat" => Command::Heartbeat,
            "resume" => Command::Resume(fields.string("resumeToken").map_err(fail)?),
            other => {
                let shown: String = other.chars().take(40).collect();
                return Err(fail(format!(
                    "unknown type {shown:?}; expected join, exit, updateMuteConfig, subscribeVideoMembers, \
                     setEnable1v1Chat, volume, heartbeat or resume"
                )));
            }
        };
        Ok(Request { req_id, command })
    }
}

/// Field access with messages that name the field.
struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn string(&self, name: &str) -> Result<String, String> {
        match self.0.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(format!("{name}: must be a string")),
            None => Err(format!("{name}: missing")),
        }
    }

    fn boolean(&self, name: &str) -> Result<bool, String> {
        match self.0.get(name) {
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(format!("{name}: must be true or false")),
            None => Err(format!("{name}: missing")),
        }
    }

    fn string_list(&self, name: &str) -> Result<Vec<String>, String> {
        let Some(Value::Array(items)) = self.0.get(name) else {
            return Err(format!("{name}: missing or not an array of strings"));
        };
        items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{name}: every item must be a string"))
            })
            .collect()
    }

    /// `timeStamp`, string or number, normalized to its decimal text.
    fn timestamp(&self) -> Result<String, String> {
        match self.0.get("timeStamp") {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.to_string()),
            Some(_) => Err("timeStamp: must be Unix seconds, as a string or a whole number".into()),
            None => Err("timeStamp: missing".into()),
        }
    }

    fn room_type(&self) -> Result<RoomType, String> {
        match self.0.get("roomType") {
            None | Some(Value::Null) => Ok(RoomType::Voice),
            Some(Value::String(s)) if s == "voice" => Ok(RoomType::Voice),
            Some(Value::String(s)) if s == "video" => Ok(RoomType::Video),
            Some(_) => Err("roomType: must be \"voice\" or \"video\"".into()),
        }
    }

    fn mute_config(&self) -> Result<MuteConfig, String> {
        let Some(value) = self.0.get("muteConfig") else {
            return Ok(MuteConfig::default());
        };
        let Value::Object(m) = value else {
            return Err("muteConfig: must be an object {muteMicrophone, muteEarphone}".into());
        };
        let flag = |name: &str| match m.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(format!("muteConfig.{name}: must be true or false")),
        };
        Ok(MuteConfig {
            mute_microphone: flag("muteMicrophone")?,
            mute_earphone: flag("muteEarphone")?,
        })
    }

    fn volume(&self) -> Result<u8, String> {
        match self.0.get("volume").and_then(Value::as_f64) {
            Some(v) if (0.0..=100.0).contains(&v) => Ok(v.round() as u8),
            _ => Err("volume: must be a number from 0 to 100".into()),
        }
    }
}

/// The RTMP and HTTP-FLV play URLs of one member's stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlayUrls {
    /// `rtmp://host:port/{media_app}/{stream}?...` ([`crate::stream_name`])
    pub rtmp: String,
    /// `http://host:port/{media_app}/{stream}.flv?...`
    pub flv: String,
}

/// Another member and where to play it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberInfo {
    /// Its openId.
    pub open_id: String,
    /// Its play URLs.
    pub play_urls: PlayUrls,
}

/// Everything the server sends.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
#[allow(missing_docs)] // the fields are those of the wire contract, documented in docs/rooms-protocol.md
pub enum ServerMessage {
    /// The join (or resume) succeeded.
    #[serde(rename_all = "camelCase")]
    Joined {
        #[serde(skip_serializing_if = "Option::is_none")]
        req_id: ReqId,
        group_id: String,
        room_type: RoomType,
        open_id_list: Vec<String>,
        push_url: String,
        members: Vec<MemberInfo>,
        heartbeat_interval_ms: u64,
        resume_token: String,
        resumed: bool,
    },
    /// A request without its own reply succeeded.
    #[serde(rename_all = "camelCase")]
    Ok {
        #[serde(skip_serializing_if = "Option::is_none")]
        req_id: ReqId,
    },
    /// The member left.
    #[serde(rename_all = "camelCase")]
    Exited {
        #[serde(skip_serializing_if = "Option::is_none")]
        req_id: ReqId,
    },
    /// A request failed.
    #[serde(rename_all = "camelCase")]
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        req_id: ReqId,
        err_code: i32,
        err_msg: String,
    },
    /// The answer to a heartbeat.
    Heartbeat,
    /// The member list changed; `members` has the play URLs of those new to it.
    #[serde(rename_all = "camelCase")]
    MembersChanged {
        open_id_list: Vec<String>,
        err_code: i32,
        err_msg: String,
        members: Vec<MemberInfo>,
    },
    /// The set of speaking members changed.
    #[serde(rename_all = "camelCase")]
    SpeakersChanged { open_id_list: Vec<String> },
    /// The video members this member sees changed.
    #[serde(rename_all = "camelCase")]
    VideoMembersChanged { open_id_list: Vec<String> },
    /// The membership ended without an exit.
    #[serde(rename_all = "camelCase")]
    Interrupted { err_code: i32, err_msg: String },
    /// The member's state changed.
    StateChanged { state: State },
    /// A live-pusher ROOM-protocol event; `message` is a JSON string.
    RoomEvent { code: u16, message: String },
}

impl ServerMessage {
    /// An error reply.
    pub fn error(req_id: ReqId, err_code: i32, err_msg: impl Into<String>) -> ServerMessage {
        ServerMessage::Error {
            req_id,
            err_code,
            err_msg: err_msg.into(),
        }
    }

    /// The reply to a message that could not be parsed.
    pub fn bad_request(bad: BadRequest) -> ServerMessage {
        ServerMessage::error(bad.req_id, codes::BAD_REQUEST, bad.message)
    }

    /// The JSON text of this message.
    pub fn to_json(&self) -> String {
        // Serializing these plain structs (strings, numbers, lists) into a String cannot fail.
        serde_json::to_string(self).expect("server messages always serialize")
    }
}

/// `stateChanged.state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Joined a room.
    Joined,
    /// Took a dropped membership over.
    Resumed,
    /// Left.
    Exited,
    /// Removed without an exit.
    Interrupted,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_join_with_numeric_timestamp() {
        let r = Request::parse(
            r#"{"type":"join","reqId":1,"appId":"a","groupId":"g","openId":"o","nonceStr":"n",
                "timeStamp":1559129714,"signature":"s","roomType":"video","muteConfig":{"muteMicrophone":true}}"#,
        )
        .unwrap();
        assert_eq!(r.req_id, Some(Value::from(1)));
        let Command::Join(j) = r.command else {
            panic!("not a join")
        };
        assert_eq!(j.time_stamp, "1559129714");
        assert_eq!(j.room_type, RoomType::Video);
        assert!(j.mute_config.mute_microphone && !j.mute_config.mute_earphone);
    }

    #[test]
    fn errors_name_the_field_and_keep_the_req_id() {
        let e = Request::parse(r#"{"type":"join","reqId":"x","appId":"a"}"#).unwrap_err();
        assert_eq!(e.req_id, Some(Value::from("x")));
        assert_eq!(e.message, "groupId: missing");
        let e = Request::parse(r#"{"type":"volume","volume":300}"#).unwrap_err();
        assert!(e.message.starts_with("volume:"));
        let e = Request::parse(r#"{"type":"dance"}"#).unwrap_err();
        assert!(e.message.contains("unknown type \"dance\""));
        assert!(Request::parse("[1]").is_err());
        assert!(Request::parse("{")
            .unwrap_err()
            .message
            .starts_with("malformed JSON"));
        let e = Request::parse(r#"{"type":"join","reqId":{}}"#).unwrap_err();
        assert!(e.message.starts_with("reqId"));
    }

    #[test]
    fn server_messages_have_contract_shapes() {
        let m = ServerMessage::error(Some(Value::from(1)), -10001, "bad");
        assert_eq!(
            m.to_json(),
            r#"{"type":"error","reqId":1,"errCode":-10001,"errMsg":"bad"}"#
        );
        let m = ServerMessage::RoomEvent {
            code: 1033,
            message: "{}".into(),
        };
        assert_eq!(
            m.to_json(),
            r#"{"type":"roomEvent","code":1033,"message":"{}"}"#
        );
        let m = ServerMessage::StateChanged {
            state: State::Joined,
        };
        assert_eq!(m.to_json(), r#"{"type":"stateChanged","state":"joined"}"#);
        assert_eq!(
            ServerMessage::Heartbeat.to_json(),
            r#"{"type":"heartbeat"}"#
        );
        let m = ServerMessage::VideoMembersChanged {
            open_id_list: vec!["a".into()],
        };
        assert_eq!(
            m.to_json(),
            r#"{"type":"videoMembersChanged","openIdList":["a"]}"#
        );
    }
}
