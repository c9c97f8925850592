//! Histograms of microsecond durations that merge across processes, and their percentile summaries.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Largest recorded value: one hour in microseconds (larger values are clamped).
const MAX_US: u64 = 3_600_000_000;

/// A histogram of durations in microseconds, 3 significant digits.
#[derive(Debug, Clone)]
pub(super) struct Hist(Histogram<u64>);

impl Default for Hist {
    fn default() -> Self {
        // The bounds are constants that hdrhistogram accepts (low >= 1, high >= 2 * low, sigfig <= 5).
        Self(Histogram::new_with_bounds(1, MAX_US, 3).expect("valid constant histogram bounds"))
    }
}

impl Hist {
    pub(super) fn record_us(&mut self, us: u64) {
        self.0.saturating_record(us.clamp(1, MAX_US));
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> u64 {
        self.0.len()
    }

    /// The recorded buckets as (value, count) pairs: compact, and exact to merge.
    pub(super) fn to_data(&self) -> HistData {
        HistData(
            self.0
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        )
    }

    pub(super) fn merge(&mut self, data: &HistData) {
        for &(value, count) in &data.0 {
            self.0.saturating_record_n(value.clamp(1, MAX_US), count);
        }
    }

    /// Percentiles in milliseconds, `None` when empty.
    pub(super) fn summary(&self) -> Option<Summary> {
        if self.0.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Summary {
            count: self.0.len(),
            p50_ms: ms(self.0.value_at_quantile(0.50)),
            p95_ms: ms(self.0.value_at_quantile(0.95)),
            p99_ms: ms(self.0.value_at_quantile(0.99)),
            max_ms: ms(self.0.max()),
            mean_ms: self.0.mean() / 1000.0,
        })
    }
}

/// Serialized form of a [`Hist`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct HistData(pub Vec<(u64, u64)>);

/// Percentiles of a duration distribution, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(super) struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= b * 0.002
    }

    #[test]
    fn percentiles_of_a_uniform_run() {
        let mut h = Hist::default();
        for ms in 1..=1000u64 {
            h.record_us(ms * 1000);
        }
        let s = h.summary().unwrap();
        assert_eq!(s.count, 1000);
        assert!(close(s.p50_ms, 500.0), "{s:?}");
        assert!(close(s.p95_ms, 950.0), "{s:?}");
        assert!(close(s.p99_ms, 990.0), "{s:?}");
        assert!(close(s.max_ms, 1000.0), "{s:?}");
        assert!(close(s.mean_ms, 500.5), "{s:?}");
    }

    #[test]
    fn merge_is_exact_and_serializable() {
        let (mut a, mut b, mut all) = (Hist::default(), Hist::default(), Hist::default());
        for us in [3u64, 70, 1_234, 99_999, 5_000_000, u64::MAX] {
            a.record_us(us);
            all.record_us(us);
        }
        for us in [1u64, 0, 42, 1_234, 7_777_777] {
            b.record_us(us);
            all.record_us(us);
        }
        let json = serde_json::to_string(&b.to_data()).unwrap();
        let back: HistData = serde_json::from_str(&json).unwrap();
        a.merge(&back);
        assert_eq!(a.to_data(), all.to_data());
        assert_eq!(a.summary(), all.summary());
        assert_eq!(a.len(), 11);
        assert_eq!(a.summary().unwrap().max_ms, all.summary().unwrap().max_ms);
    }

    #[test]
    fn empty_has_no_summary() {
        assert!(Hist::default().summary().is_none());
    }
}
