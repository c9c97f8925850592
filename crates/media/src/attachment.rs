//! Per-stream state kept by the user of the hub next to the hub's own: a server's fan-out group, HLS segmenter
//! and recorder of a stream hang off the stream here, so they are found without a second map and go away with
//! the stream when it leaves the hub.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// One value of any type, set once per stream on first use.
#[derive(Default)]
pub(crate) struct Slot(OnceLock<Arc<dyn Any + Send + Sync>>);

impl Slot {
    /// The value, created by `init` on first use. `None` only if a value of another type was attached first.
    pub(crate) fn get_or_init<T: Any + Send + Sync>(
        &self,
        init: impl FnOnce() -> T,
    ) -> Option<Arc<T>> {
        let any = self.0.get_or_init(|| Arc::new(init()));
        Arc::clone(any).downcast::<T>().ok()
    }

    /// The value if one of type `T` was attached.
    pub(crate) fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        Arc::clone(self.0.get()?).downcast::<T>().ok()
    }
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "Slot(attached)"
        } else {
            "Slot(empty)"
        })
    }
}
