//! What the hub reads from frames through `flv` besides their class: codec names and the picture and sample
//! parameters of the codec configurations. Everything here tolerates malformed input.

use flv::aac::AudioSpecificConfig;
use flv::audio::{AudioTagInfo, SoundFormat};
use flv::avc::AvcDecoderConfig;
use flv::hevc::HevcDecoderConfig;
use flv::video::{VideoCodec, VideoTagInfo};

/// What a video packet tells about the track.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct VideoParams {
    pub(crate) codec: Option<&'static str>,
    pub(crate) width: Option<u32>,
    pub(crate) height: Option<u32>,
}

/// What an audio packet tells about the track.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct AudioParams {
    pub(crate) codec: Option<&'static str>,
    pub(crate) sample_rate: Option<u32>,
    pub(crate) channels: Option<u8>,
}

/// Codec, and for a sequence header the picture size from its SPS (H.264 and H.265).
pub(crate) fn video_params(payload: &[u8]) -> VideoParams {
    let Ok(info) = VideoTagInfo::parse(payload) else {
        return VideoParams::default();
    };
    let mut params = VideoParams {
        codec: Some(video_codec_name(info.codec)),
        ..VideoParams::default()
    };
    if info.is_sequence_header {
        let config = payload.get(info.header_len..).unwrap_or_default();
        let size = match info.codec {
            VideoCodec::Avc => AvcDecoderConfig::parse(config)
                .and_then(|c| c.sps_info())
                .map(|s| (s.width, s.height))
                .ok(),
            VideoCodec::Hevc => HevcDecoderConfig::parse(config)
                .and_then(|c| c.sps_info())
                .map(|s| (s.width, s.height))
                .ok(),
            _ => None,
        };
        if let Some((w, h)) = size {
            params.width = Some(w);
            params.height = Some(h);
        }
    }
    params
}

/// Codec, sample rate and channels: from the AudioSpecificConfig for AAC sequence headers, from the legacy
/// SoundRate/SoundType bits for the formats that have no configuration record.
pub(crate) fn audio_params(payload: &[u8]) -> AudioParams {
    let Ok(info) = AudioTagInfo::parse(payload) else {
        return AudioParams::default();
    };
    let mut params = AudioParams {
        codec: Some(audio_codec_name(info.format)),
        ..AudioParams::default()
    };
    match info.format {
        SoundFormat::Aac if info.is_sequence_header => {
            let config = payload.get(info.header_len..).unwrap_or_default();
            if let Ok(asc) = AudioSpecificConfig::parse(config) {
                params.sample_rate = Some(asc.sample_rate);
                params.channels = Some(asc.channels);
            }
        }
        // The real rate of AAC is only in its configuration.
        SoundFormat::Aac => {}
        SoundFormat::G711A | SoundFormat::G711U => {
            params.sample_rate = Some(8000);
            params.channels = Some(1);
        }
        SoundFormat::Opus => params.sample_rate = Some(48000),
        // A one-byte header is the legacy format byte, whose rate and type bits are meaningful here (Enhanced
        // RTMP headers are longer and carry no such bits).
        _ if info.header_len == 1 => {
            params.sample_rate = Some(match info.rate_index {
                0 => 5512,
                1 => 11025,
                2 => 22050,
                _ => 44100,
            });
            params.channels = Some(if info.stereo { 2 } else { 1 });
        }
        _ => {}
    }
    params
}

fn video_codec_name(codec: VideoCodec) -> &'static str {
    match codec {
        VideoCodec::Avc => "H264",
        VideoCodec::Hevc => "H265",
        VideoCodec::Av1 => "AV1",
        VideoCodec::Vp9 => "VP9",
        VideoCodec::Other(2) => "H263",
        VideoCodec::Other(3) => "ScreenVideo",
        VideoCodec::Other(4) => "VP6",
        VideoCodec::Other(5) => "VP6A",
        VideoCodec::Other(6) => "ScreenVideo2",
        VideoCodec::Other(_) => "Unknown",
    }
}

fn audio_codec_name(format: SoundFormat) -> &'static str {
    match format {
        SoundFormat::Aac => "AAC",
        SoundFormat::Mp3 => "MP3",
        SoundFormat::G711A => "G711A",
        SoundFormat::G711U => "G711U",
        SoundFormat::Speex => "Speex",
        SoundFormat::Opus => "Opus",
        SoundFormat::Other(0 | 3) => "PCM",
        SoundFormat::Other(1) => "ADPCM",
        SoundFormat::Other(4..=6) => "Nellymoser",
        SoundFormat::Other(_) => "Unknown",
    }
}
