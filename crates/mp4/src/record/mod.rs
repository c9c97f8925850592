//! Recorders: FLV and fMP4 files written as frames arrive, readable up to the last complete unit at any moment,
//! and rotated onto a new sink at a keyframe when the caller asks.

mod flv_file;
mod fmp4_file;
mod naming;
pub mod repair;

pub use flv_file::FlvRecorder;
pub use fmp4_file::Fmp4Recorder;
pub use naming::{format_path, utc_from_unix, NameVars, UtcTime};
