//! Fragmented MP4 (CMAF) muxing and stream recording.
//!
//! [`fmp4`] builds ISO BMFF (ISO/IEC 14496-12) fragmented MP4 with H.264 (`avc1`/`avcC`), H.265 (`hvc1`/`hvcC`)
//! and AAC (`mp4a`/`esds`) tracks: an init segment (`ftyp` + `moov`) and movie fragments (`moof` + `mdat`),
//! ready for files, HLS/LL-HLS parts or DASH. [`record`] writes recordings of a live stream to any
//! [`std::io::Write`]: FLV as it arrives, or fragmented MP4, each readable up to its last complete unit at any
//! moment and rotatable at keyframes. See `docs/recording.md` for the file formats and crash guarantees.
//!
//! # I/O and clock
//!
//! The muxer is sans-IO: frames in, bytes out. The recorders only call `write_all` and `flush` on the sink
//! they are given. No clock is read: timestamps are those of the frames (the hub's milliseconds), and file
//! names take the start time as an argument.
//!
//! # Entry types
//!
//! - [`fmp4::Mp4Writer`]: hub frames (FLV tag bodies) in, [`fmp4::Mp4Output`] (init segments, fragments) out.
//! - [`fmp4::init_segment`], [`fmp4::Fragmenter`]: the two halves underneath, for callers with their own samples.
//! - [`record::Fmp4Recorder`], [`record::FlvRecorder`]: files; [`record::format_path`]: their names.
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use flv::MediaKind;
//! use mp4::fmp4::WriterConfig;
//! use mp4::record::Fmp4Recorder;
//!
//! let mut rec = Fmp4Recorder::new(Vec::new(), WriterConfig::default());
//! // An AAC sequence header (AAC LC, 44.1 kHz, stereo), then one raw AAC frame.
//! rec.write_frame(MediaKind::Audio, 0, &Bytes::from_static(&[0xAF, 0x00, 0x12, 0x10]))?;
//! rec.write_frame(MediaKind::Audio, 23, &Bytes::from_static(&[0xAF, 0x01, 0x21, 0x10]))?;
//! let file = rec.finish()?;
//! assert_eq!(&file[4..8], b"ftyp");
//! # Ok::<(), mp4::RecordError>(())
//! ```
//!
//! # Errors and panics
//!
//! Malformed input (tag headers, configuration records, samples for unknown tracks) is an [`Mp4Error`] that
//! names what was being read; the muxer skips the frame and stays usable. Recorders add the sink's I/O errors
//! in [`RecordError`]. Nothing here panics on input: box sizes are bounded before they are written.

#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub)]

mod error;
pub mod fmp4;
pub mod record;

pub use error::{Mp4Error, RecordError, TemplateError};
