//! HTTP: the connections (`conn`, with TLS in `tls`), HTTP-FLV plays straight from the socket (`flv_direct`) or
//! through the router (`flv_router`), HLS (`hls`), the admin and SDK API (`api`)
//! the operator's web console (`console`) and the signed recording links (`recording_files`).

pub(crate) mod api;
pub(crate) mod conn;
pub(crate) mod console;
pub(crate) mod flv_direct;
pub(crate) mod flv_router;
pub(crate) mod hls;
pub(crate) mod recording_files;
pub(crate) mod tls;
