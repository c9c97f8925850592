//! AMF0 decoding; whatever decodes must re-encode to bytes that decode to the same encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmp::amf0;
use rtmp::bytes::BytesMut;

fuzz_target!(|data: &[u8]| {
    if let Ok(values) = amf0::decode_all(data) {
        let mut first = BytesMut::new();
        for v in &values {
            amf0::encode(v, &mut first);
        }
        let again = amf0::decode_all(&first).expect("re-encoded AMF0 must decode");
        let mut second = BytesMut::new();
        for v in &again {
            amf0::encode(v, &mut second);
        }
        assert_eq!(first, second);
    }
});
