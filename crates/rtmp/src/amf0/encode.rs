//! AMF0 encoding.

use bytes::{BufMut, BytesMut};

use super::{marker, Value};

/// Append the AMF0 encoding of `value` to `out`. A `String` longer than 65535 bytes is written as a long string.
pub fn encode(value: &Value, out: &mut BytesMut) {
    match value {
        Value::Number(n) => {
            out.put_u8(marker::NUMBER);
            out.put_f64(*n);
        }
        Value::Boolean(b) => {
            out.put_u8(marker::BOOLEAN);
            out.put_u8(u8::from(*b));
        }
        Value::String(s) => encode_str(s, out),
        Value::Object(props) => {
            out.put_u8(marker::OBJECT);
            put_props(props, out);
        }
        Value::Null => out.put_u8(marker::NULL),
        Value::Undefined => out.put_u8(marker::UNDEFINED),
        Value::EcmaArray(props) => {
            out.put_u8(marker::ECMA_ARRAY);
            out.put_u32(u32::try_from(props.len()).unwrap_or(u32::MAX));
            put_props(props, out);
        }
        Value::StrictArray(items) => {
            out.put_u8(marker::STRICT_ARRAY);
            out.put_u32(u32::try_from(items.len()).unwrap_or(u32::MAX));
            for v in items {
                encode(v, out);
            }
        }
        Value::Date { millis, timezone } => {
            out.put_u8(marker::DATE);
            out.put_f64(*millis);
            out.put_i16(*timezone);
        }
        Value::LongString(s) => {
            out.put_u8(marker::LONG_STRING);
            put_long(s, out);
        }
    }
}

/// Append a string value (short or long form by length) without building a [`Value`].
pub fn encode_str(s: &str, out: &mut BytesMut) {
    if s.len() <= usize::from(u16::MAX) {
        out.put_u8(marker::STRING);
        put_short(s, out);
    } else {
        out.put_u8(marker::LONG_STRING);
        put_long(s, out);
    }
}

fn put_short(s: &str, out: &mut BytesMut) {
    // Object keys above 65535 bytes cannot be represented; truncate at a char boundary rather than corrupt.
    let mut end = s.len().min(usize::from(u16::MAX));
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    out.put_u16(end as u16);
    out.put_slice(&s.as_bytes()[..end]);
}

fn put_long(s: &str, out: &mut BytesMut) {
    out.put_u32(u32::try_from(s.len()).unwrap_or(u32::MAX));
    out.put_slice(s.as_bytes());
}

fn put_props(props: &[(String, Value)], out: &mut BytesMut) {
    for (k, v) in props {
        put_short(k, out);
        encode(v, out);
    }
    out.put_u16(0);
    out.put_u8(marker::OBJECT_END);
}
