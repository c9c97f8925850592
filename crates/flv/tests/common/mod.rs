// Shared helpers for the integration tests (included with `mod common;`).
#![allow(dead_code)]

/// Decodes a hex string, ignoring whitespace.
pub fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len().is_multiple_of(2), "odd hex length");
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// avcC of a real x264 540x960 25 fps High profile stream (`ffmpeg -f lavfi -i testsrc=size=540x960:rate=25
/// -pix_fmt yuv420p -c:v libx264 -profile:v high -f flv`), including the high-profile extension `fdf8f800`.
pub const AVCC_540X960: &str =
    "0164001fffe1001a6764001facd940881e7bf011000003000100000300320f183196
    01000668ebe3cb22c0fdf8f800";

/// avcC of the same source at 1280x720 (no cropping).
pub const AVCC_1280X720: &str =
    "0164001fffe1001a6764001facd9405005bb011000000300100000030320f1831960
    01000668ebe3cb22c0fdf8f800";

/// avcC of a 1920x1080 30 fps x264 High 4:4:4 stream (ffmpeg's default pixel format for testsrc): 1088 coded
/// lines cropped to 1080.
pub const AVCC_1920X1080_444: &str =
    "01f40028ffe1001b67f40028919680780227e270110000030001000003003c0f1832a0
    01000568ce0f1920fff8f800";

/// hvcC of a 1920x1080 x265 Main stream (from an MP4), reduced to its VPS, SPS and PPS arrays.
pub const HVCC_1920X1080: &str = "01016000000090000000000078f000fcfdf8f800000f03
    200001001840010c01ffff016000000300900000030000030078959809
    210001002a420101016000000300900000030000030078a003c08010e596566924caf0168080000003008000000f04
    22000100074401c172b46240";
