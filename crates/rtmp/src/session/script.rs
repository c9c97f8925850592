//! Script data messages: `@setDataFrame` unwrapping.

use bytes::Bytes;

use crate::amf0;
use crate::error::Error;

/// Turn a received data message body into an FLV script tag body with [`flv::script::strip_set_data_frame`]:
/// `"@setDataFrame", "onMetaData", obj` becomes `"onMetaData", obj` (a zero-copy slice); `"@setDataFrame", obj`
/// gets the `"onMetaData"` name; anything else passes through. The body must be valid AMF0.
pub(crate) fn normalize_data(payload: Bytes) -> Result<Bytes, Error> {
    amf0::decode_all(&payload)?;
    Ok(flv::script::strip_set_data_frame(payload))
}
