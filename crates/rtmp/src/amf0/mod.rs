//! AMF0, the value encoding of RTMP command and data messages.
//!
//! [`decode_all`] reads a whole message body into [`Value`]s with a nesting depth limit ([`MAX_DEPTH`]) and a
//! total value limit ([`MAX_VALUES`]), so a small hostile body cannot make a large allocation. [`encode`] writes
//! one value. Reference (0x07), movie clip, record set and AMF3-switch markers are refused; a typed object is read
//! as a plain object, an XML document as a long string and the "unsupported" marker as undefined.

mod decode;
mod encode;

pub use decode::{decode_all, decode_one};
pub use encode::{encode, encode_str};

/// Deepest nesting of objects and arrays accepted by the decoder.
pub const MAX_DEPTH: usize = 32;
/// Most values (including nested ones) accepted in one [`decode_all`] call.
pub const MAX_VALUES: usize = 1 << 18;

/// Type markers.
pub(crate) mod marker {
    pub(crate) const NUMBER: u8 = 0x00;
    pub(crate) const BOOLEAN: u8 = 0x01;
    pub(crate) const STRING: u8 = 0x02;
    pub(crate) const OBJECT: u8 = 0x03;
    pub(crate) const MOVIECLIP: u8 = 0x04;
    pub(crate) const NULL: u8 = 0x05;
    pub(crate) const UNDEFINED: u8 = 0x06;
    pub(crate) const REFERENCE: u8 = 0x07;
    pub(crate) const ECMA_ARRAY: u8 = 0x08;
    pub(crate) const OBJECT_END: u8 = 0x09;
    pub(crate) const STRICT_ARRAY: u8 = 0x0a;
    pub(crate) const DATE: u8 = 0x0b;
    pub(crate) const LONG_STRING: u8 = 0x0c;
    pub(crate) const UNSUPPORTED: u8 = 0x0d;
    pub(crate) const RECORDSET: u8 = 0x0e;
    pub(crate) const XML_DOCUMENT: u8 = 0x0f;
    pub(crate) const TYPED_OBJECT: u8 = 0x10;
    pub(crate) const AVMPLUS: u8 = 0x11;
}

/// One AMF0 value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// IEEE 754 double (marker 0x00).
    Number(f64),
    /// Boolean (marker 0x01).
    Boolean(bool),
    /// UTF-8 string up to 65535 bytes (marker 0x02). Longer strings are encoded as long strings.
    String(String),
    /// Anonymous object: ordered key/value pairs (marker 0x03; typed objects decode to this too).
    Object(Vec<(String, Value)>),
    /// Null (marker 0x05).
    Null,
    /// Undefined (marker 0x06).
    Undefined,
    /// ECMA (associative) array: ordered key/value pairs (marker 0x08).
    EcmaArray(Vec<(String, Value)>),
    /// Strict (dense) array (marker 0x0a).
    StrictArray(Vec<Value>),
    /// Date: milliseconds since the Unix epoch and a time zone (marker 0x0b).
    Date {
        /// Milliseconds since 1970-01-01 UTC.
        millis: f64,
        /// Time zone offset field (reserved, normally 0).
        timezone: i16,
    },
    /// String longer than 65535 bytes (marker 0x0c).
    LongString(String),
}

impl Value {
    /// The string inside a `String` or `LongString`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) | Value::LongString(s) => Some(s),
            _ => None,
        }
    }

    /// The number inside a `Number`.
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The boolean inside a `Boolean`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The properties of an `Object` or `EcmaArray`.
    pub fn properties(&self) -> Option<&[(String, Value)]> {
        match self {
            Value::Object(p) | Value::EcmaArray(p) => Some(p),
            _ => None,
        }
    }

    /// The first property named `key` of an `Object` or `EcmaArray`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.properties()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// Shorthand for an `Object` from `(&str, Value)` pairs.
    pub fn object<'a>(props: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
        Value::Object(props.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// Shorthand for a `String` value.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }
}
