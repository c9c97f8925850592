//! HLS for mplive: FLV audio/video payloads in; MPEG-TS segments and an RFC 8216 media playlist out (classic),
//! or fMP4 parts and segments with an LL-HLS playlist out ([`ll`]).
//!
//! ```text
//! FLV tag bodies ─▶ Segmenter ─▶ annexb (AVCC → Annex B, AAC → ADTS) ─▶ TsMuxer ─▶ window of Segments
//!                                                                                  └─▶ playlist::render
//! ```
//!
//! # I/O and clock
//!
//! None. The wall clock (for `EXT-X-PROGRAM-DATE-TIME`) is an argument of
//! [`Segmenter::handle_frame`]; media time is the frames' timestamps.
//!
//! # Entry types
//!
//! - [`Segmenter`] with [`SegmenterConfig`]: feed sequence headers and frames, read [`Segment`]s.
//! - [`playlist::render`]: the media playlist of a window.
//! - [`ts::TsMuxer`] and [`annexb`]: the MPEG-TS layer on its own.
//! - [`ll::LlSegmenter`], [`ll::LlWindow`] and [`ll::render`]: low-latency HLS over `mp4::fmp4`.
//!
//! # Example
//!
//! ```
//! use flv::MediaKind;
//! use hls::{Segmenter, SegmenterConfig};
//!
//! let mut seg = Segmenter::new(SegmenterConfig::default());
//! // An AAC sequence header (AAC LC, 44.1 kHz, stereo), then one second of frames: audio-only.
//! seg.handle_frame(MediaKind::Audio, 0, &[0xAF, 0, 0x12, 0x10], 0)?;
//! for i in 0..100u32 {
//!     seg.handle_frame(MediaKind::Audio, i * 23, &[0xAF, 1, 0x21, 0x00], 1_700_000_000_000)?;
//! }
//! assert_eq!(seg.segments().len(), 1);
//! let window: Vec<_> = seg.segments().cloned().collect();
//! let text = hls::playlist::render(&window, seg.discontinuity_sequence(), 2000, "cam/", None);
//! assert!(text.contains("#EXTINF:2."));
//! # Ok::<(), hls::HlsError>(())
//! ```
//!
//! # Errors and panics
//!
//! A frame that cannot be used comes back as an [`HlsError`] and is skipped; the segmenter carries on. Nothing
//! here panics on input: every parser is the `flv` crate's, and the property tests feed arbitrary bytes.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

pub mod annexb;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod ll;
pub mod playlist;
mod segmenter;
pub mod ts;

pub use error::HlsError;
pub use segmenter::{Segment, Segmenter, SegmenterConfig};

#[cfg(test)]
mod tests;
