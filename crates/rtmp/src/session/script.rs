//! Script data messages: `@setDataFrame` unwrapping.

use bytes::{BufMut, Bytes, BytesMut};

use crate::amf0::{self, Value};
use crate::error::Error;

/// Turn a received data message body into an FLV script tag body: `"@setDataFrame", "onMetaData", obj` becomes
/// `"onMetaData", obj` (a zero-copy slice); `"@setDataFrame", obj` gets the `"onMetaData"` name; anything else
/// passes through. The body must be valid AMF0.
pub(crate) fn normalize_data(payload: Bytes) -> Result<Bytes, Error> {
    let values = amf0::decode_all(&payload)?;
    if values.first().and_then(Value::as_str) != Some("@setDataFrame") {
        return Ok(payload);
    }
    let (_, n) = amf0::decode_one(&payload)?;
    let rest = payload.slice(n..);
    if values.get(1).and_then(Value::as_str).is_some() {
        return Ok(rest);
    }
    let mut b = BytesMut::with_capacity(rest.len() + 13);
    amf0::encode_str("onMetaData", &mut b);
    b.put_slice(&rest);
    Ok(b.freeze())
}
