//! Script data bodies: the `@setDataFrame` wrapper encoders put around metadata on RTMP, and recognising metadata.
//!
//! An FLV script tag body is `"onMetaData", {...}`. RTMP publishers send the same metadata as
//! `"@setDataFrame", "onMetaData", {...}` and servers store it without the first string; players receive the
//! FLV form. Only the leading AMF0 strings are read here (short string marker 2, long string marker 12, and XML
//! document marker 15, which has the long string's layout); the rest of the body is not checked.

use bytes::{BufMut, Bytes, BytesMut};

/// The name of the RTMP data message that sets a stream's metadata.
pub const SET_DATA_FRAME: &str = "@setDataFrame";

/// The name of the metadata script object.
pub const ON_META_DATA: &str = "onMetaData";

/// AMF0 string marker (16-bit length).
const STRING: u8 = 0x02;
/// AMF0 long string marker (32-bit length).
const LONG_STRING: u8 = 0x0c;
/// AMF0 XML document marker (32-bit length, read as a long string).
const XML_DOCUMENT: u8 = 0x0f;

/// The AMF0 string at the start of `body` and the bytes it takes; `None` if the body does not start with a
/// complete string.
pub fn leading_string(body: &[u8]) -> Option<(&[u8], usize)> {
    let (len, at): (usize, usize) = match *body.first()? {
        STRING => (
            usize::from(u16::from_be_bytes([*body.get(1)?, *body.get(2)?])),
            3,
        ),
        LONG_STRING | XML_DOCUMENT => {
            let b = body.get(1..5)?;
            (
                usize::try_from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])).ok()?,
                5,
            )
        }
        _ => return None,
    };
    let end = at.checked_add(len)?;
    Some((body.get(at..end)?, end))
}

/// The body is metadata: it starts with the string `onMetaData` or `@setDataFrame`.
pub fn is_metadata(body: &[u8]) -> bool {
    leading_string(body).is_some_and(|(name, _)| {
        name == ON_META_DATA.as_bytes() || name == SET_DATA_FRAME.as_bytes()
    })
}

/// The FLV script tag body of an RTMP data message: `"@setDataFrame", "onMetaData", obj` becomes
/// `"onMetaData", obj` (a zero-copy slice); `"@setDataFrame", obj` gets the `"onMetaData"` name; any other body
/// is returned as it is.
pub fn strip_set_data_frame(body: Bytes) -> Bytes {
    let Some((name, n)) = leading_string(&body) else {
        return body;
    };
    if name != SET_DATA_FRAME.as_bytes() {
        return body;
    }
    let rest = body.slice(n..);
    if leading_string(&rest).is_some() {
        return rest;
    }
    let mut out = BytesMut::with_capacity(3 + ON_META_DATA.len() + rest.len());
    put_string(&mut out, ON_META_DATA);
    out.put_slice(&rest);
    out.freeze()
}

/// The metadata as encoders send it over RTMP: `"@setDataFrame"` followed by the script tag body. A body that
/// already starts with `"@setDataFrame"` is returned as it is.
pub fn add_set_data_frame(script_body: &[u8]) -> Bytes {
    if leading_string(script_body).is_some_and(|(name, _)| name == SET_DATA_FRAME.as_bytes()) {
        return Bytes::copy_from_slice(script_body);
    }
    let mut out = BytesMut::with_capacity(3 + SET_DATA_FRAME.len() + script_body.len());
    put_string(&mut out, SET_DATA_FRAME);
    out.put_slice(script_body);
    out.freeze()
}

/// An AMF0 short string; `s` is one of the names above, far below 64 KiB.
fn put_string(out: &mut BytesMut, s: &str) {
    out.put_u8(STRING);
    // Cast is lossless: the names above are a few bytes long.
    out.put_u16(s.len() as u16);
    out.put_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    const META: &[u8] = b"\x02\x00\x0aonMetaData\x08\0\0\0\0\0\0\x09";
    const WRAPPED: &[u8] = b"\x02\x00\x0d@setDataFrame\x02\x00\x0aonMetaData\x08\0\0\0\0\0\0\x09";

    #[test]
    fn adds_and_strips_the_wrapper() {
        let wrapped = add_set_data_frame(META);
        assert_eq!(&wrapped[..], WRAPPED);
        assert_eq!(add_set_data_frame(&wrapped), wrapped, "not wrapped twice");
        assert_eq!(&strip_set_data_frame(wrapped)[..], META);
        assert_eq!(&strip_set_data_frame(Bytes::from_static(META))[..], META);
    }

    #[test]
    fn a_wrapper_without_a_name_gets_on_meta_data() {
        let bare = Bytes::from_static(b"\x02\x00\x0d@setDataFrame\x08\0\0\0\0\0\0\x09");
        assert_eq!(&strip_set_data_frame(bare)[..], META);
        let alone = Bytes::from_static(b"\x02\x00\x0d@setDataFrame");
        assert_eq!(&strip_set_data_frame(alone)[..], b"\x02\x00\x0aonMetaData");
        // A long string after the wrapper is a name as well.
        let long = Bytes::from_static(b"\x02\x00\x0d@setDataFrame\x0c\x00\x00\x00\x02hi");
        assert_eq!(&strip_set_data_frame(long)[..], b"\x0c\x00\x00\x00\x02hi");
    }

    #[test]
    fn metadata_and_other_script_data() {
        assert!(is_metadata(META) && is_metadata(WRAPPED));
        assert!(!is_metadata(b"\x02\x00\x02hi"));
        assert!(!is_metadata(b"\x02\x00\x0aonMeta"), "truncated");
        assert!(!is_metadata(b""));
        let other = Bytes::from_static(b"\x02\x00\x02hi\x05");
        assert_eq!(strip_set_data_frame(other.clone()), other);
        assert_eq!(
            leading_string(b"\x0f\x00\x00\x00\x01x"),
            Some((&b"x"[..], 6))
        );
        assert_eq!(leading_string(b"\x0c\xff\xff\xff\xffx"), None);
    }
}
