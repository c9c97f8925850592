//! An MPEG-TS muxer (ISO/IEC 13818-1) for one program of H.264 and/or AAC: PAT, PMT, PES packets with PTS/DTS,
//! PCR, continuity counters and adaptation-field stuffing.
//!
//! It writes what it is given: elementary stream data already in Annex B (H.264) or ADTS (AAC) form, with 90 kHz
//! timestamps. [`crate::annexb`] prepares both from FLV payloads.

use bytes::{BufMut, BytesMut};

/// Size of every transport stream packet.
pub const PACKET_LEN: usize = 188;
/// The first byte of every packet.
pub const SYNC_BYTE: u8 = 0x47;
/// PID of the program map table.
pub const PMT_PID: u16 = 0x1000;
/// PID of the H.264 elementary stream.
pub const VIDEO_PID: u16 = 0x100;
/// PID of the AAC elementary stream.
pub const AUDIO_PID: u16 = 0x101;
/// stream_type of H.264 in the PMT.
const STREAM_TYPE_H264: u8 = 0x1B;
/// stream_type of AAC with ADTS framing in the PMT.
const STREAM_TYPE_AAC_ADTS: u8 = 0x0F;
/// PES stream_id of the first video stream.
const STREAM_ID_VIDEO: u8 = 0xE0;
/// PES stream_id of the first audio stream.
const STREAM_ID_AUDIO: u8 = 0xC0;
/// Timestamps are 33 bits wide.
const TIMESTAMP_MASK: u64 = (1 << 33) - 1;
/// The PCR runs this far (100 ms at 90 kHz) behind the DTS it is sent with, so a decoder never receives a
/// picture after the clock says it was due.
const PCR_LEAD: u64 = 9_000;

/// Which elementary streams the program has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tracks {
    /// An H.264 stream on [`VIDEO_PID`].
    pub video: bool,
    /// An AAC (ADTS) stream on [`AUDIO_PID`].
    pub audio: bool,
}

impl Tracks {
    /// The PID carrying the PCR: video when there is video, else audio.
    pub fn pcr_pid(&self) -> u16 {
        if self.video || !self.audio {
            VIDEO_PID
        } else {
            AUDIO_PID
        }
    }
}

/// Writes transport stream packets for one program, keeping the continuity counter of each PID across calls
/// (and so across segments, which players accept at the start of any segment).
#[derive(Debug, Clone)]
pub struct TsMuxer {
    tracks: Tracks,
    cc_pat: u8,
    cc_pmt: u8,
    cc_video: u8,
    cc_audio: u8,
}

impl TsMuxer {
    /// A muxer for a program with `tracks`.
    pub fn new(tracks: Tracks) -> TsMuxer {
        TsMuxer {
            tracks,
            cc_pat: 0,
            cc_pmt: 0,
            cc_video: 0,
            cc_audio: 0,
        }
    }

    /// The program's tracks.
    pub fn tracks(&self) -> Tracks {
        self.tracks
    }

    /// Appends a PAT and a PMT (two packets): every segment starts with them, so each can be decoded alone.
    pub fn write_tables(&mut self, out: &mut BytesMut) {
        // PAT: one program (number 1) whose map is on PMT_PID.
        let mut pat = Vec::with_capacity(16);
        pat.extend_from_slice(&[0x00, 0x01]); // program_number 1
        pat.extend_from_slice(&(0xE000 | PMT_PID).to_be_bytes());
        let section = psi_section(0x00, 0x0001, &pat);
        write_psi(out, 0x0000, &mut self.cc_pat, &section);

        let mut pmt = Vec::with_capacity(32);
        pmt.extend_from_slice(&(0xE000 | self.tracks.pcr_pid()).to_be_bytes());
        pmt.extend_from_slice(&[0xF0, 0x00]); // program_info_length 0
        if self.tracks.video {
            pmt.push(STREAM_TYPE_H264);
            pmt.extend_from_slice(&(0xE000 | VIDEO_PID).to_be_bytes());
            pmt.extend_from_slice(&[0xF0, 0x00]);
        }
        if self.tracks.audio {
            pmt.push(STREAM_TYPE_AAC_ADTS);
            pmt.extend_from_slice(&(0xE000 | AUDIO_PID).to_be_bytes());
            pmt.extend_from_slice(&[0xF0, 0x00]);
        }
        let section = psi_section(0x02, 0x0001, &pmt);
        write_psi(out, PMT_PID, &mut self.cc_pmt, &section);
    }

    /// Appends one video access unit (Annex B bytes) as a PES packet. `pts` and `dts` are 90 kHz; a keyframe
    /// sets random_access_indicator. The PCR goes with every picture when video carries it.
    pub fn write_video(
        &mut self,
        out: &mut BytesMut,
        pts: u64,
        dts: u64,
        keyframe: bool,
        annexb: &[u8],
    ) {
        // Video PES packets may leave PES_packet_length 0 (unbounded), which a large keyframe needs.
        let pes = pes_header(STREAM_ID_VIDEO, pts, Some(dts), annexb.len(), true);
        let pcr = (self.tracks.pcr_pid() == VIDEO_PID).then(|| dts.saturating_sub(PCR_LEAD));
        let mut cc = self.cc_video;
        write_pes(out, VIDEO_PID, &mut cc, &pes, annexb, pcr, keyframe);
        self.cc_video = cc;
    }

    /// Appends one AAC frame (with its ADTS header) as a PES packet with a PTS (90 kHz). Audio frames are all
    /// random access points; the PCR goes with them when the program has no video.
    pub fn write_audio(&mut self, out: &mut BytesMut, pts: u64, adts: &[u8]) {
        let pes = pes_header(STREAM_ID_AUDIO, pts, None, adts.len(), false);
        let pcr = (self.tracks.pcr_pid() == AUDIO_PID).then(|| pts.saturating_sub(PCR_LEAD));
        let mut cc = self.cc_audio;
        write_pes(out, AUDIO_PID, &mut cc, &pes, adts, pcr, !self.tracks.video);
        self.cc_audio = cc;
    }
}

/// A long-form PSI section (table id, extension, version 0, current, section 0 of 0) with its CRC.
fn psi_section(table_id: u8, extension: u16, body: &[u8]) -> Vec<u8> {
    // section_length counts the 5 bytes after it, the body and the CRC; bodies here are a few dozen bytes.
    let section_length = (5 + body.len() + 4) as u16;
    let mut s = Vec::with_capacity(3 + usize::from(section_length));
    s.push(table_id);
    s.extend_from_slice(&(0xB000 | section_length).to_be_bytes());
    s.extend_from_slice(&extension.to_be_bytes());
    s.extend_from_slice(&[0xC1, 0x00, 0x00]); // version 0, current_next 1, section 0, last section 0
    s.extend_from_slice(body);
    let crc = crc32_mpeg2(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}

/// One packet holding a PSI section: pointer_field 0, the section, 0xFF filling the rest.
fn write_psi(out: &mut BytesMut, pid: u16, cc: &mut u8, section: &[u8]) {
    out.reserve(PACKET_LEN);
    out.put_u8(SYNC_BYTE);
    out.put_u16(0x4000 | pid); // payload_unit_start_indicator
    out.put_u8(0x10 | *cc); // payload only
    *cc = (*cc + 1) & 0x0F;
    out.put_u8(0); // pointer_field
    let room = PACKET_LEN - 5;
    let n = section.len().min(room);
    out.put_slice(&section[..n]);
    out.put_bytes(0xFF, room - n);
}

/// The PES header: start code, stream id, length, flags, PTS and optional DTS.
fn pes_header(
    stream_id: u8,
    pts: u64,
    dts: Option<u64>,
    payload_len: usize,
    video: bool,
) -> Vec<u8> {
    let dts = dts.filter(|&d| d & TIMESTAMP_MASK != pts & TIMESTAMP_MASK);
    let header_data_len: u8 = if dts.is_some() { 10 } else { 5 };
    let mut h = Vec::with_capacity(19);
    h.extend_from_slice(&[0x00, 0x00, 0x01, stream_id]);
    let packet_len = 3 + usize::from(header_data_len) + payload_len;
    let field = match u16::try_from(packet_len) {
        Ok(len) => len,
        // Only video may be unbounded; a larger audio frame cannot come from a valid ADTS header.
        Err(_) if video => 0,
        Err(_) => u16::MAX,
    };
    h.extend_from_slice(&(if video { 0 } else { field }).to_be_bytes());
    h.push(0x80); // '10' marker, no scrambling, no priority/alignment/copyright/original flags
    h.push(if dts.is_some() { 0xC0 } else { 0x80 });
    h.push(header_data_len);
    match dts {
        Some(dts) => {
            put_timestamp(&mut h, 0x3, pts);
            put_timestamp(&mut h, 0x1, dts);
        }
        None => put_timestamp(&mut h, 0x2, pts),
    }
    h
}

/// A 33-bit timestamp in the 5-byte PES form: 4-bit prefix, then 3 + 15 + 15 bits each followed by a marker bit.
fn put_timestamp(out: &mut Vec<u8>, prefix: u8, ts: u64) {
    let ts = ts & TIMESTAMP_MASK;
    out.push((prefix << 4) | (((ts >> 30) as u8 & 0x07) << 1) | 1);
    out.extend_from_slice(&((((ts >> 15) & 0x7FFF) << 1 | 1) as u16).to_be_bytes());
    out.extend_from_slice(&((((ts & 0x7FFF) << 1) | 1) as u16).to_be_bytes());
}

/// Splits a PES packet (header + payload) into transport packets on `pid`. The first packet has
/// payload_unit_start_indicator, and an adaptation field when there is a PCR or a random access point; the
/// last one is filled up with adaptation-field stuffing.
fn write_pes(
    out: &mut BytesMut,
    pid: u16,
    cc: &mut u8,
    header: &[u8],
    payload: &[u8],
    pcr: Option<u64>,
    random_access: bool,
) {
    let total = header.len() + payload.len();
    out.reserve(total.div_ceil(PACKET_LEN - 4) * PACKET_LEN + PACKET_LEN);
    let mut written = 0;
    let mut first = true;
    while written < total || first {
        // Bytes of the adaptation field this packet must carry, length byte included.
        let flags_len = if first && (pcr.is_some() || random_access) {
            2 + if pcr.is_some() { 6 } else { 0 }
        } else {
            0
        };
        let room = PACKET_LEN - 4 - flags_len;
        let remaining = total - written;
        let (af_len, take) = if remaining >= room {
            (flags_len, room)
        } else {
            (PACKET_LEN - 4 - remaining, remaining)
        };
        out.put_u8(SYNC_BYTE);
        out.put_u16(if first { 0x4000 } else { 0 } | pid);
        out.put_u8(if af_len > 0 { 0x30 } else { 0x10 } | *cc);
        *cc = (*cc + 1) & 0x0F;
        if af_len > 0 {
            // af_len is at most 184, so the length fits a byte.
            out.put_u8((af_len - 1) as u8);
            if af_len > 1 {
                let mut flags = 0u8;
                if first && random_access {
                    flags |= 0x40;
                }
                if first && pcr.is_some() {
                    flags |= 0x10;
                }
                out.put_u8(flags);
                let mut used = 2;
                if let (true, Some(pcr)) = (first, pcr) {
                    put_pcr(out, pcr);
                    used += 6;
                }
                out.put_bytes(0xFF, af_len - used);
            }
        }
        let mut left = take;
        while left > 0 {
            if written < header.len() {
                let n = left.min(header.len() - written);
                out.put_slice(&header[written..written + n]);
                written += n;
                left -= n;
            } else {
                let at = written - header.len();
                out.put_slice(&payload[at..at + left]);
                written += left;
                left = 0;
            }
        }
        first = false;
    }
}

/// The 6-byte PCR: 33-bit base (90 kHz), 6 reserved bits, 9-bit extension 0.
fn put_pcr(out: &mut BytesMut, base: u64) {
    let base = base & TIMESTAMP_MASK;
    out.put_u32((base >> 1) as u32);
    out.put_u8((((base & 1) as u8) << 7) | 0x7E);
    out.put_u8(0);
}

/// CRC-32/MPEG-2: polynomial 0x04C11DB7, initial value all ones, no reflection, no final XOR.
pub(crate) fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04C1_1DB7
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packets(b: &[u8]) -> Vec<&[u8]> {
        assert_eq!(b.len() % PACKET_LEN, 0);
        b.chunks(PACKET_LEN).collect()
    }

    #[test]
    fn crc_matches_the_check_value() {
        // The standard check value of CRC-32/MPEG-2 over "123456789".
        assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
    }

    #[test]
    fn tables_are_two_packets_with_valid_crcs() {
        let mut m = TsMuxer::new(Tracks {
            video: true,
            audio: true,
        });
        let mut out = BytesMut::new();
        m.write_tables(&mut out);
        let p = packets(&out);
        assert_eq!(p.len(), 2);
        assert_eq!(&p[0][..4], &[0x47, 0x40, 0x00, 0x10]);
        // PAT section: table 0, then the CRC over the whole section is 0 when included (a CRC property).
        let len = usize::from(u16::from_be_bytes([p[0][6], p[0][7]]) & 0x0FFF);
        assert_eq!(crc32_mpeg2(&p[0][5..8 + len]), 0);
        assert_eq!(&p[1][1..3], &[0x50, 0x00]);
        let len = usize::from(u16::from_be_bytes([p[1][6], p[1][7]]) & 0x0FFF);
        let pmt = &p[1][5..8 + len];
        assert_eq!(crc32_mpeg2(pmt), 0);
        assert_eq!(pmt[12], 0x1B);
        assert_eq!(pmt[17], 0x0F);
    }

    #[test]
    fn a_keyframe_carries_pcr_and_random_access() {
        let mut m = TsMuxer::new(Tracks {
            video: true,
            audio: false,
        });
        let mut out = BytesMut::new();
        m.write_video(&mut out, 93_000, 90_000, true, &[0u8; 500]);
        let p = packets(&out);
        assert_eq!(p.len(), 3);
        assert_eq!(p[0][3] & 0x30, 0x30);
        assert_eq!(p[0][5], 0x50, "RAI + PCR flags");
        assert_eq!(&p[0][12..16], &[0, 0, 1, 0xE0]);
        assert_eq!(p[0][19], 0xC0, "PTS and DTS");
        let ccs: Vec<u8> = p.iter().map(|p| p[3] & 0x0F).collect();
        assert_eq!(ccs, [0, 1, 2]);
    }

    #[test]
    fn timestamps_are_encoded_with_markers() {
        let mut h = Vec::new();
        let ts = 0x1_2345_6789u64;
        put_timestamp(&mut h, 0x2, ts);
        assert_eq!(h[0] >> 4, 0x2);
        assert!(
            h[0] & 1 == 1 && h[2] & 1 == 1 && h[4] & 1 == 1,
            "marker bits"
        );
        let back = (u64::from(h[0] >> 1 & 0x07) << 30)
            | (u64::from(u16::from_be_bytes([h[1], h[2]]) >> 1) << 15)
            | u64::from(u16::from_be_bytes([h[3], h[4]]) >> 1);
        assert_eq!(back, ts);
    }
}
