//! The tracks of a presentation and the CMAF init segment (`ftyp` + `moov`) that declares them.

use bytes::{BufMut, Bytes, BytesMut};
use flv::aac::AudioSpecificConfig;
use flv::avc::AvcDecoderConfig;
use flv::hevc::HevcDecoderConfig;

use super::bx::{begin, end, put_unity_matrix, write_box, write_full_box};
use crate::error::Mp4Error;

/// Track id of the video track in every file this crate writes.
pub const VIDEO_TRACK_ID: u32 = 1;
/// Track id of the audio track in every file this crate writes (also when there is no video track).
pub const AUDIO_TRACK_ID: u32 = 2;
/// Timescale of video tracks: the 90 kHz clock of MPEG, so that millisecond timestamps convert exactly.
pub const VIDEO_TIMESCALE: u32 = 90_000;
/// Samples per AAC frame (AAC LC and the core of HE-AAC): the duration of every audio sample.
pub const AAC_FRAME_SAMPLES: u32 = 1024;

/// The codec of a video track, with its decoder configuration record as the sequence header carried it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoCodecConfig {
    /// H.264: the AVCDecoderConfigurationRecord, written as `avc1` + `avcC`.
    Avc(Bytes),
    /// H.265: the HEVCDecoderConfigurationRecord, written as `hvc1` + `hvcC`.
    Hevc(Bytes),
}

/// A video track: codec configuration and picture size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoTrack {
    /// The decoder configuration record, copied verbatim into the sample entry.
    pub config: VideoCodecConfig,
    /// Width in pixels, from the SPS.
    pub width: u16,
    /// Height in pixels, from the SPS.
    pub height: u16,
    /// Nominal frame duration in 90 kHz ticks (from the SPS frame rate, else 25 fps): the duration given to a
    /// fragment's only sample, which has no neighbour to measure against.
    pub frame_duration: u32,
}

impl VideoTrack {
    /// A track from an AVCDecoderConfigurationRecord (the body of an AVC sequence header after its tag
    /// header). The SPS must parse: without a picture size players refuse the track.
    pub fn from_avc_config(avcc: &[u8]) -> Result<Self, Mp4Error> {
        let flv = |what, source| Mp4Error::Flv { what, source };
        let config = AvcDecoderConfig::parse(avcc).map_err(|e| flv("avcC", e))?;
        let sps = config.sps_info().map_err(|e| flv("H.264 SPS", e))?;
        Ok(Self {
            config: VideoCodecConfig::Avc(Bytes::copy_from_slice(avcc)),
            width: clamp_u16(sps.width),
            height: clamp_u16(sps.height),
            frame_duration: frame_duration(sps.fps),
        })
    }

    /// A track from an HEVCDecoderConfigurationRecord (the body of an HEVC sequence header).
    pub fn from_hevc_config(hvcc: &[u8]) -> Result<Self, Mp4Error> {
        let flv = |what, source| Mp4Error::Flv { what, source };
        let config = HevcDecoderConfig::parse(hvcc).map_err(|e| flv("hvcC", e))?;
        let sps = config.sps_info().map_err(|e| flv("H.265 SPS", e))?;
        let fps = (config.avg_frame_rate != 0).then(|| f64::from(config.avg_frame_rate) / 256.0);
        Ok(Self {
            config: VideoCodecConfig::Hevc(Bytes::copy_from_slice(hvcc)),
            width: clamp_u16(sps.width),
            height: clamp_u16(sps.height),
            frame_duration: frame_duration(fps),
        })
    }
}

/// An AAC audio track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioTrack {
    /// The AudioSpecificConfig, copied verbatim into `esds`.
    pub asc: Bytes,
    /// Sampling rate in Hz: also the track's timescale.
    pub sample_rate: u32,
    /// Channel count (2 when the config defers it to a program config element).
    pub channels: u8,
}

impl AudioTrack {
    /// A track from an AudioSpecificConfig (the body of an AAC sequence header after its 2-byte tag header).
    pub fn from_aac_config(asc: &[u8]) -> Result<Self, Mp4Error> {
        let config = AudioSpecificConfig::parse(asc).map_err(|source| Mp4Error::Flv {
            what: "AudioSpecificConfig",
            source,
        })?;
        Ok(Self {
            asc: Bytes::copy_from_slice(asc),
            sample_rate: config.sample_rate,
            channels: if config.channels == 0 {
                2
            } else {
                config.channels
            },
        })
    }
}

/// The tracks of a presentation: at most one video and one audio track.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tracks {
    /// The video track ([`VIDEO_TRACK_ID`]).
    pub video: Option<VideoTrack>,
    /// The audio track ([`AUDIO_TRACK_ID`]).
    pub audio: Option<AudioTrack>,
}

impl Tracks {
    /// Timescale of the track `track_id`, if the presentation has it.
    pub fn timescale(&self, track_id: u32) -> Option<u32> {
        match track_id {
            VIDEO_TRACK_ID => self.video.as_ref().map(|_| VIDEO_TIMESCALE),
            AUDIO_TRACK_ID => self.audio.as_ref().map(|a| a.sample_rate),
            _ => None,
        }
    }

    /// Ids of the tracks present, in the order their `trak` and `traf` boxes are written.
    pub fn track_ids(&self) -> Vec<u32> {
        let mut ids = Vec::with_capacity(2);
        if self.video.is_some() {
            ids.push(VIDEO_TRACK_ID);
        }
        if self.audio.is_some() {
            ids.push(AUDIO_TRACK_ID);
        }
        ids
    }
}

/// The init segment: `ftyp` (iso6, compatible with CMAF `cmfc`) and a `moov` with one `trak` per track and an
/// `mvex` announcing that the samples come in movie fragments. Durations are 0: the fragments say them.
pub fn init_segment(tracks: &Tracks) -> Bytes {
    let mut out = BytesMut::with_capacity(1024);
    write_box(&mut out, b"ftyp", |out| {
        out.put_slice(b"iso6");
        out.put_u32(0);
        for brand in [b"iso6", b"cmfc", b"isom", b"mp41"] {
            out.put_slice(brand);
        }
    });
    write_box(&mut out, b"moov", |out| {
        write_full_box(out, b"mvhd", 0, 0, |out| {
            out.put_u32(0); // creation_time
            out.put_u32(0); // modification_time
            out.put_u32(1000); // timescale: the movie's own clock, unused but for durations
            out.put_u32(0); // duration: unknown, fragmented
            out.put_u32(0x0001_0000); // rate 1.0
            out.put_u16(0x0100); // volume 1.0
            out.put_bytes(0, 10);
            put_unity_matrix(out);
            out.put_bytes(0, 24); // pre_defined
            out.put_u32(AUDIO_TRACK_ID + 1); // next_track_ID
        });
        if let Some(video) = &tracks.video {
            write_trak(out, VIDEO_TRACK_ID, TrakKind::Video(video));
        }
        if let Some(audio) = &tracks.audio {
            write_trak(out, AUDIO_TRACK_ID, TrakKind::Audio(audio));
        }
        write_box(out, b"mvex", |out| {
            for id in tracks.track_ids() {
                write_full_box(out, b"trex", 0, 0, |out| {
                    out.put_u32(id);
                    out.put_u32(1); // default_sample_description_index
                    out.put_u32(0); // default_sample_duration
                    out.put_u32(0); // default_sample_size
                    out.put_u32(0); // default_sample_flags
                });
            }
        });
    });
    out.freeze()
}

/// The `styp` that starts a CMAF segment (a run of fragments served or stored as one unit), e.g. for LL-HLS.
pub fn styp() -> Bytes {
    let mut out = BytesMut::with_capacity(24);
    write_box(&mut out, b"styp", |out| {
        out.put_slice(b"msdh");
        out.put_u32(0);
        out.put_slice(b"msdh");
        out.put_slice(b"msix");
    });
    out.freeze()
}

enum TrakKind<'a> {
    Video(&'a VideoTrack),
    Audio(&'a AudioTrack),
}

fn write_trak(out: &mut BytesMut, track_id: u32, kind: TrakKind<'_>) {
    let (timescale, handler, name): (u32, &[u8; 4], &[u8]) = match &kind {
        TrakKind::Video(_) => (VIDEO_TIMESCALE, b"vide", b"VideoHandler\0"),
        TrakKind::Audio(a) => (a.sample_rate, b"soun", b"SoundHandler\0"),
    };
    write_box(out, b"trak", |out| {
        // Flags 3: track enabled and used in the presentation.
        write_full_box(out, b"tkhd", 0, 3, |out| {
            out.put_u32(0); // creation_time
            out.put_u32(0); // modification_time
            out.put_u32(track_id);
            out.put_u32(0); // reserved
            out.put_u32(0); // duration
            out.put_bytes(0, 8);
            out.put_u16(0); // layer
            out.put_u16(0); // alternate_group
            out.put_u16(if matches!(kind, TrakKind::Audio(_)) {
                0x0100
            } else {
                0
            });
            out.put_u16(0);
            put_unity_matrix(out);
            let (w, h) = match &kind {
                TrakKind::Video(v) => (v.width, v.height),
                TrakKind::Audio(_) => (0, 0),
            };
            out.put_u32(u32::from(w) << 16);
            out.put_u32(u32::from(h) << 16);
        });
        write_box(out, b"mdia", |out| {
            write_full_box(out, b"mdhd", 0, 0, |out| {
                out.put_u32(0);
                out.put_u32(0);
                out.put_u32(timescale);
                out.put_u32(0);
                out.put_u16(0x55C4); // language "und", packed ISO-639-2/T
                out.put_u16(0);
            });
            write_full_box(out, b"hdlr", 0, 0, |out| {
                out.put_u32(0);
                out.put_slice(handler);
                out.put_bytes(0, 12);
                out.put_slice(name);
            });
            write_box(out, b"minf", |out| {
                match &kind {
                    TrakKind::Video(_) => write_full_box(out, b"vmhd", 0, 1, |out| {
                        out.put_bytes(0, 8); // graphicsmode, opcolor
                    }),
                    TrakKind::Audio(_) => write_full_box(out, b"smhd", 0, 0, |out| {
                        out.put_u32(0); // balance, reserved
                    }),
                }
                write_box(out, b"dinf", |out| {
                    write_full_box(out, b"dref", 0, 0, |out| {
                        out.put_u32(1);
                        // Flags 1: the media is in this file.
                        write_full_box(out, b"url ", 0, 1, |_| {});
                    });
                });
                write_box(out, b"stbl", |out| {
                    write_full_box(out, b"stsd", 0, 0, |out| {
                        out.put_u32(1);
                        match &kind {
                            TrakKind::Video(v) => write_visual_entry(out, v),
                            TrakKind::Audio(a) => write_audio_entry(out, a),
                        }
                    });
                    // The sample tables are empty: every sample is in a fragment.
                    for fourcc in [b"stts", b"stsc", b"stco"] {
                        write_full_box(out, fourcc, 0, 0, |out| out.put_u32(0));
                    }
                    write_full_box(out, b"stsz", 0, 0, |out| out.put_u64(0));
                });
            });
        });
    });
}

fn write_visual_entry(out: &mut BytesMut, v: &VideoTrack) {
    let (entry, config_box, record) = match &v.config {
        VideoCodecConfig::Avc(r) => (b"avc1", b"avcC", r),
        VideoCodecConfig::Hevc(r) => (b"hvc1", b"hvcC", r),
    };
    write_box(out, entry, |out| {
        out.put_bytes(0, 6);
        out.put_u16(1); // data_reference_index
        out.put_bytes(0, 16); // pre_defined, reserved
        out.put_u16(v.width);
        out.put_u16(v.height);
        out.put_u32(0x0048_0000); // 72 dpi
        out.put_u32(0x0048_0000);
        out.put_u32(0);
        out.put_u16(1); // frame_count
        out.put_bytes(0, 32); // compressorname
        out.put_u16(0x0018); // depth
        out.put_i16(-1);
        write_box(out, config_box, |out| out.put_slice(record));
    });
}

fn write_audio_entry(out: &mut BytesMut, a: &AudioTrack) {
    write_box(out, b"mp4a", |out| {
        out.put_bytes(0, 6);
        out.put_u16(1); // data_reference_index
        out.put_bytes(0, 8);
        out.put_u16(u16::from(a.channels));
        out.put_u16(16); // samplesize
        out.put_u32(0); // pre_defined, reserved
                        // 16.16 fixed point; rates above 65535 Hz do not fit and the mdhd timescale carries them anyway.
        out.put_u32(a.sample_rate.min(0xFFFF) << 16);
        write_esds(out, &a.asc);
    });
}

/// `esds` (ISO/IEC 14496-14 5.6): an ES_Descriptor holding the DecoderConfigDescriptor (MPEG-4 Audio) and the
/// AudioSpecificConfig as DecoderSpecificInfo.
fn write_esds(out: &mut BytesMut, asc: &[u8]) {
    let at = begin(out, b"esds");
    out.put_u32(0); // version, flags
    let dsi_len = asc.len();
    let dcd_len = 13 + 5 + dsi_len;
    let es_len = 3 + 5 + dcd_len + 5 + 1;
    put_descriptor_header(out, 0x03, es_len);
    out.put_u16(0); // ES_ID
    out.put_u8(0); // no dependency, URL or OCR stream
    put_descriptor_header(out, 0x04, dcd_len);
    out.put_u8(0x40); // objectTypeIndication: MPEG-4 Audio
    out.put_u8((0x05 << 2) | 1); // streamType audio, reserved bit
    out.put_bytes(0, 3); // bufferSizeDB
    out.put_u32(0); // maxBitrate: unknown
    out.put_u32(0); // avgBitrate: unknown
    put_descriptor_header(out, 0x05, dsi_len);
    out.put_slice(asc);
    put_descriptor_header(out, 0x06, 1);
    out.put_u8(0x02); // SLConfigDescriptor predefined: MP4
    end(out, at);
}

/// A descriptor tag and its size in the 4-byte expandable form (7 bits per byte), which every reader accepts
/// and which fits any AudioSpecificConfig.
fn put_descriptor_header(out: &mut BytesMut, tag: u8, len: usize) {
    let len = u32::try_from(len).unwrap_or(u32::MAX) & 0x0FFF_FFFF;
    out.put_u8(tag);
    out.put_u8(0x80 | ((len >> 21) & 0x7F) as u8);
    out.put_u8(0x80 | ((len >> 14) & 0x7F) as u8);
    out.put_u8(0x80 | ((len >> 7) & 0x7F) as u8);
    out.put_u8((len & 0x7F) as u8);
}

fn clamp_u16(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

fn frame_duration(fps: Option<f64>) -> u32 {
    match fps {
        // Frame rates outside 1..=300 are SPS noise; fall back to the default.
        Some(f) if (1.0..=300.0).contains(&f) => (f64::from(VIDEO_TIMESCALE) / f).round() as u32,
        _ => VIDEO_TIMESCALE / 25,
    }
}
