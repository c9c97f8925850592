//! Prometheus metrics at `GET /metrics`, in the text exposition format (version 0.0.4).
//!
//! Stream, player and byte figures come from the hub's totals when scraped (nothing is counted twice on the
//! media path); refusals and webhook deliveries are counted here as they happen, which is rare.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use media::Totals;
use parking_lot::Mutex;

/// Counters the hub does not keep.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// Refused publishes and plays by (action, reason).
    refusals: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Connections closed at their accept, by (listener, reason).
    connections_refused: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    webhooks_delivered: AtomicU64,
    webhook_attempts_failed: AtomicU64,
    webhooks_given_up: AtomicU64,
    webhooks_suppressed: AtomicU64,
    /// Transactions that stored webhook events in the outbox (one per group commit).
    webhook_outbox_commits: AtomicU64,
    /// Durable events (`push_start`, `record_done`, ...) acknowledged before they were stored.
    webhook_durable_timeouts: AtomicU64,
    /// Cluster mode is on: the cluster families are rendered.
    cluster: AtomicBool,
    /// Live nodes as this node last read them from Redis.
    cluster_nodes: AtomicU64,
    /// Whether Redis answered this node's last request.
    cluster_up: AtomicBool,
    /// Relays this node runs now (streams pulled from another node).
    cluster_relays: AtomicU64,
    /// Health rule episodes started, by rule index (`media::health::Rule::index`).
    anomalies: [AtomicU64; media::health::RULES],
}

impl Metrics {
    /// Counts one refusal; `action` is `publish` or `play`, `reason` a stable reason name.
    pub(crate) fn refused(&self, action: &'static str, reason: &'static str) {
        *self.refusals.lock().entry((action, reason)).or_default() += 1;
    }

    /// Counts one connection refused at its accept; `listener` is `rtmp` or `http`, `reason` `per_address`
    /// (`max_connections_per_address`) or `listener_full` (`max_rtmp_connections`, `max_http_connections`).
    pub(crate) fn connection_refused(&self, listener: &'static str, reason: &'static str) {
        *self
            .connections_refused
            .lock()
            .entry((listener, reason))
            .or_default() += 1;
    }

    /// Counts one health rule episode started.
    pub(crate) fn anomaly(&self, rule: media::health::Rule) {
        self.anomalies[rule.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one webhook delivered (2xx).
    pub(crate) fn webhook_delivered(&self) {
        self.webhooks_delivered.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one failed delivery attempt; `gave_up` when it was the last one.
    pub(crate) fn webhook_failed(&self, gave_up: bool) {
        self.webhook_attempts_failed.fetch_add(1, Ordering::Relaxed);
        if gave_up {
            self.webhooks_given_up.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one webhook event not stored because its address was over its budget.
    pub(crate) fn webhook_suppressed(&self) {
        self.webhooks_suppressed.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one outbox transaction (a group commit of queued events).
    pub(crate) fn webhook_outbox_commit(&self) {
        self.webhook_outbox_commits.fetch_add(1, Ordering::Relaxed);
    }

    /// Outbox transactions so far.
    #[cfg(test)]
    pub(crate) fn webhook_outbox_commits(&self) -> u64 {
        self.webhook_outbox_commits.load(Ordering::Relaxed)
    }

    /// Counts one durable event whose action went ahead unstored (`webhooks.durable_wait_ms` ran out).
    pub(crate) fn webhook_durable_timeout(&self) {
        self.webhook_durable_timeouts
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Sets whether Redis answers (and turns the cluster families on).
    pub(crate) fn set_cluster_up(&self, up: bool) {
        self.cluster.store(true, Ordering::Relaxed);
        self.cluster_up.store(up, Ordering::Relaxed);
    }

    /// Sets the number of live nodes read from Redis.
    pub(crate) fn set_cluster_nodes(&self, nodes: u64) {
        self.cluster_nodes.store(nodes, Ordering::Relaxed);
    }

    /// Counts a relay starting (`+1`) or ending (`-1`).
    pub(crate) fn relay_running(&self, running: bool) {
        if running {
            self.cluster_relays.fetch_add(1, Ordering::Relaxed);
        } else {
            let _ = self
                .cluster_relays
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    Some(n.saturating_sub(1))
                });
        }
    }

    /// The exposition text.
    // Long on purpose: one metric family after another, in the order `/metrics` shows them.
    pub(crate) fn render(&self, totals: &Totals, hls_viewers: u64) -> String {
        let mut out = String::with_capacity(2048);
        let mut gauge = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        };
        gauge(
            "mplive_streams",
            "Streams now, live or waiting for their publisher to come back.",
            totals.streams,
        );
        gauge(
            "mplive_publishers",
            "Streams with a publisher now.",
            totals.publishers,
        );
        if self.cluster.load(Ordering::Relaxed) {
            gauge(
                "mplive_nodes",
                "Live nodes of the cluster, as this node last read them from Redis.",
                self.cluster_nodes.load(Ordering::Relaxed),
            );
            gauge(
                "mplive_cluster_redis_up",
                "1 when Redis answered this node's last request, 0 when it did not.",
                u64::from(self.cluster_up.load(Ordering::Relaxed)),
            );
            gauge(
                "mplive_relays",
                "Streams this node pulls from the node that holds them, for its own players.",
                self.cluster_relays.load(Ordering::Relaxed),
            );
        }
        let _ = writeln!(
            out,
            "# HELP mplive_players Players now, by protocol.\n# TYPE mplive_players gauge"
        );
        for (protocol, n) in [
            ("rtmp", totals.players.rtmp),
            ("flv", totals.players.flv),
            ("hls", hls_viewers),
            ("other", totals.players.other),
        ] {
            let _ = writeln!(out, "mplive_players{{protocol=\"{protocol}\"}} {n}");
        }
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            "mplive_bytes_in_total",
            "Media payload bytes received from publishers.",
            totals.bytes_in,
        );
        counter(
            "mplive_bytes_out_total",
            "Bytes written to players.",
            totals.bytes_out,
        );
        counter(
            "mplive_frames_in_total",
            "Frames received from publishers.",
            totals.frames_in,
        );
        counter(
            "mplive_dropped_frames_total",
            "Frames skipped by players that fell behind.",
            totals.dropped_frames,
        );
        counter(
            "mplive_webhooks_delivered_total",
            "Webhooks delivered (answered 2xx).",
            self.webhooks_delivered.load(Ordering::Relaxed),
        );
        counter(
            "mplive_webhook_attempts_failed_total",
            "Webhook delivery attempts that failed (error or non-2xx).",
            self.webhook_attempts_failed.load(Ordering::Relaxed),
        );
        counter(
            "mplive_webhooks_given_up_total",
            "Webhooks abandoned after their last attempt.",
            self.webhooks_given_up.load(Ordering::Relaxed),
        );
        counter(
            "mplive_webhooks_suppressed_total",
            "push_refused webhooks not stored: their address was over webhooks.refused_per_address_per_minute.",
            self.webhooks_suppressed.load(Ordering::Relaxed),
        );
        counter(
            "mplive_webhook_outbox_commits_total",
            "Transactions that stored webhook events in the outbox; many events at once share one (group commit).",
            self.webhook_outbox_commits.load(Ordering::Relaxed),
        );
        counter(
            "mplive_webhook_durable_timeouts_total",
            "push_start, republish and record_done events whose action went ahead before they were stored \
             (webhooks.durable_wait_ms ran out: the database is slow or down).",
            self.webhook_durable_timeouts.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP mplive_refusals_total Publishes and plays refused, by action and reason.\n\
             # TYPE mplive_refusals_total counter"
        );
        for ((action, reason), n) in self.refusals.lock().iter() {
            let _ = writeln!(
                out,
                "mplive_refusals_total{{action=\"{action}\",reason=\"{reason}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP mplive_connections_refused_total Connections closed at their accept, by listener and reason \
             (per_address: max_connections_per_address; listener_full: max_rtmp_connections or \
             max_http_connections).\n# TYPE mplive_connections_refused_total counter"
        );
        for ((listener, reason), n) in self.connections_refused.lock().iter() {
            let _ = writeln!(
                out,
                "mplive_connections_refused_total{{listener=\"{listener}\",reason=\"{reason}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP mplive_stream_anomalies_total Health rule episodes started on live streams, by rule \
             ([health] settings; each also sends a stream_anomaly webhook).\n\
             # TYPE mplive_stream_anomalies_total counter"
        );
        for rule in media::health::Rule::ALL {
            let n = self.anomalies[rule.index()].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "mplive_stream_anomalies_total{{rule=\"{}\"}} {n}",
                rule.as_str()
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_help_and_type() {
        let m = Metrics::default();
        m.refused("publish", "signature_expired");
        m.refused("publish", "signature_expired");
        m.refused("play", "unknown_app");
        m.webhook_failed(true);
        m.connection_refused("http", "per_address");
        let text = m.render(&Totals::default(), 0);
        assert!(text.contains(
            "mplive_connections_refused_total{listener=\"http\",reason=\"per_address\"} 1"
        ));
        assert!(text
            .contains("mplive_refusals_total{action=\"publish\",reason=\"signature_expired\"} 2"));
        assert!(text.contains("mplive_refusals_total{action=\"play\",reason=\"unknown_app\"} 1"));
        assert!(text.contains("mplive_webhooks_given_up_total 1"));
        assert!(text.contains("mplive_players{protocol=\"flv\"} 0"));
        m.anomaly(media::health::Rule::LongGop);
        let text = m.render(&Totals::default(), 0);
        assert!(text.contains("mplive_stream_anomalies_total{rule=\"long_gop\"} 1"));
        assert!(text.contains("mplive_stream_anomalies_total{rule=\"video_gap\"} 0"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "{name} has a TYPE line"
            );
        }
    }
}
