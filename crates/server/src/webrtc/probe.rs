//! What an offer needs to know of the stream before it is answered: its H.264 profile (to choose the payload
//! type, [`super::offer`]) and whether it reorders pictures (B-frames, refused: [`super::bframes`]). Read from the
//! stream's start snapshot, its sequence headers and cached GOP, by a short-lived internal reader.

use flv::avc::AvcDecoderConfig;
use flv::video::{VideoCodec, VideoTagInfo};
use media::{MediaKind, Registry, StartPolicy, StreamKey, SubscribeOptions};

use super::bframes::video_tag_reorders;
use super::profile::ProfileLevel;

/// Frames of the stream's start snapshot (its headers and cached GOP) looked at, at most.
const PROBED_FRAMES: usize = 512;

/// What the snapshot showed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Probe {
    /// The profile-level-id of the stream's last AVC sequence header.
    pub(crate) profile: Option<ProfileLevel>,
    /// Why the stream looks reordered, if it does (and `b_frames` was asked): its sequence header declares
    /// picture reordering (`max_num_reorder_frames` > 0), or a picture of its cached GOP has a composition time
    /// offset.
    pub(crate) reordered: Option<String>,
}

/// Reads the stream's snapshot; with `b_frames`, through its whole cached GOP looking for reordering, else up to
/// the sequence header.
pub(crate) fn probe(registry: &Registry, key: &StreamKey, b_frames: bool) -> Probe {
    let mut found = Probe::default();
    // A short-lived internal reader (counted as `other`, never listed as a viewer): the cached GOP is read
    // without disturbing the session's own subscriber, which starts from the same snapshot.
    let Ok(mut reader) = registry.subscribe(
        key,
        SubscribeOptions {
            start: StartPolicy::Gop,
            protocol: "internal",
        },
    ) else {
        return found;
    };
    for _ in 0..PROBED_FRAMES {
        // `Ok(None)`: the snapshot is read and nothing newer is there yet.
        let Ok(Some(frame)) = reader.try_recv() else {
            break;
        };
        let f = frame.frame();
        if f.kind != MediaKind::Video {
            continue;
        }
        if f.sequence_header {
            if let Some(profile) = avc_profile(&f.payload) {
                found.profile = Some(profile);
            }
        }
        if !b_frames {
            if found.profile.is_some() {
                break;
            }
            continue;
        }
        if let Some(why) = video_tag_reorders(&f.payload) {
            found.reordered = Some(why);
            break;
        }
    }
    found
}

/// The profile of an AVC sequence header tag; `None` for anything else.
fn avc_profile(body: &[u8]) -> Option<ProfileLevel> {
    let info = VideoTagInfo::parse(body).ok()?;
    if info.codec != VideoCodec::Avc || !info.is_sequence_header {
        return None;
    }
    let config = AvcDecoderConfig::parse(body.get(info.header_len..)?).ok()?;
    Some(ProfileLevel::from_avcc(&config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_of_a_sequence_header() {
        // x264 High 3.1 (bframes' test SPS), as an AVC sequence header tag.
        let sps = [
            0x67, 0x64, 0x00, 0x1f, 0xac, 0xb4, 0x04, 0x40, 0xf3, 0xdf, 0x80, 0x88,
        ];
        let mut tag = vec![
            0x17,
            0,
            0,
            0,
            0,
            1,
            0x64,
            0x00,
            0x1f,
            0xff,
            0xe1,
            0,
            sps.len() as u8,
        ];
        tag.extend_from_slice(&sps);
        tag.extend_from_slice(&[1, 0, 4, 0x68, 0xce, 0x3c, 0x80]);
        let p = avc_profile(&tag).expect("a profile");
        assert_eq!(p.to_string(), "64001f");
        assert_eq!(avc_profile(&[0x27, 1, 0, 0, 0, 0, 0, 0, 2, 0x41, 0]), None);
        assert_eq!(avc_profile(&[]), None);
    }
}
