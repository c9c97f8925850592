//! The soak's and the churn's reports: a table for people, JSON for scripts, and the verdicts.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::publish::PubReport;
use super::SoakArgs;

/// The server's figures at one moment.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Sample {
    /// Seconds from the start of the load (the baseline and the final sample: from the tool's start).
    pub at_s: f64,
    pub rss_kib: Option<u64>,
    pub open_fds: Option<u64>,
    /// Of the open descriptors, sockets.
    pub open_sockets: Option<u64>,
    pub tokio_tasks: Option<u64>,
    /// The server's heap in use (`mplive_heap_in_use_bytes`), KiB: what RSS would be without the allocator's
    /// free pages; a leak grows it.
    pub heap_kib: Option<u64>,
    /// `players.total` of stream A (or the churn's stream) in the API; `None` when not live.
    pub api_players: Option<u64>,
    /// Players of the tool that were playing.
    pub tool_playing: u64,
    /// Webhook bodies received so far.
    pub webhooks: u64,
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| v.to_string())
}

impl Sample {
    /// One progress line.
    pub(super) fn line(&self) -> String {
        format!(
            "[{:>6.0} s] RSS {} KiB  heap {} KiB  fds {} (sockets {})  tasks {}  API players {}  playing {}  webhooks {}",
            self.at_s,
            opt(self.rss_kib),
            opt(self.heap_kib),
            opt(self.open_fds),
            opt(self.open_sockets),
            opt(self.tokio_tasks),
            opt(self.api_players),
            self.tool_playing,
            self.webhooks
        )
    }
}

/// One protocol's players.
#[derive(Debug, Clone, Serialize)]
pub(super) struct KindReport {
    pub protocol: &'static str,
    pub sessions: u64,
    pub played: u64,
    pub left: u64,
    pub stopped: u64,
    pub dropped_by_server: u64,
    pub never_played: u64,
    /// Frames (RTMP, FLV), segments (HLS) or parts (LL-HLS).
    pub media: u64,
    pub bytes: u64,
    pub ts_backwards: u64,
    pub ts_backwards_headers: u64,
    pub ts_max_back_ms: u64,
    pub sessions_with_backwards: u64,
    pub msn_backwards: u64,
    pub backwards_at_discontinuity: u64,
    pub discontinuities: u64,
    pub fetch_errors: u64,
    pub blocking_timeouts: u64,
    pub errors: BTreeMap<String, u64>,
}

/// Expected against received webhooks of one stream and event.
#[derive(Debug, Clone, Serialize)]
pub(super) struct HookRow {
    pub stream: String,
    pub event: String,
    pub expected: u64,
    pub raw: u64,
    pub dedup: u64,
    pub ok: bool,
}

/// One check and its outcome.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Verdict {
    pub check: String,
    pub ok: bool,
    pub detail: String,
}

/// First and last load sample of one figure, and its largest value.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Trend {
    pub first: Option<u64>,
    pub last: Option<u64>,
    pub max: Option<u64>,
}

impl Trend {
    fn of(samples: &[Sample], f: impl Fn(&Sample) -> Option<u64>) -> Self {
        Trend {
            first: samples.first().and_then(&f),
            last: samples.last().and_then(&f),
            max: samples.iter().filter_map(&f).max(),
        }
    }

    /// Flat when the last is at most `first + slack(first)`.
    fn verdict(&self, check: &str, rule: &str, slack: impl Fn(u64) -> u64) -> Verdict {
        match (self.first, self.last) {
            (Some(first), Some(last)) => Verdict {
                check: check.to_owned(),
                ok: last <= first + slack(first),
                detail: format!("first {first}, last {last}, max {} ({rule})", opt(self.max)),
            },
            _ => Verdict {
                check: check.to_owned(),
                ok: false,
                detail: "not measured (fewer than one sample)".into(),
            },
        }
    }
}

/// The soak's report.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Soak {
    pub url: String,
    pub stream_b: String,
    pub minutes: u32,
    pub players: u32,
    pub churn_percent: f64,
    pub churned: u64,
    pub drop_every_secs: u64,
    pub b_every_secs: u64,
    /// Before the publishers started.
    pub baseline: Sample,
    /// Every `sample_secs` during the load.
    pub samples: Vec<Sample>,
    /// After everything stopped and settled.
    pub after: Sample,
    pub rss_kib: Trend,
    pub heap_kib: Trend,
    pub open_fds: Trend,
    pub tokio_tasks: Trend,
    pub players_by_protocol: Vec<KindReport>,
    pub publisher_a: PubReport,
    pub publisher_b: PubReport,
    pub webhooks: Vec<HookRow>,
    pub webhooks_unreadable: u64,
    pub verdicts: Vec<Verdict>,
}

impl Soak {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        args: &SoakArgs,
        baseline: Sample,
        samples: Vec<Sample>,
        after: Sample,
        churned: u64,
        kinds: Vec<KindReport>,
        a: PubReport,
        b: PubReport,
        webhooks: Vec<HookRow>,
        unreadable: u64,
    ) -> Self {
        let rss = Trend::of(&samples, |s| s.rss_kib);
        let heap = Trend::of(&samples, |s| s.heap_kib);
        let fds = Trend::of(&samples, |s| s.open_fds);
        let tasks = Trend::of(&samples, |s| s.tokio_tasks);
        let pct = args.rss_growth_percent;
        let mut v = vec![
            rss.verdict("RSS flat", &format!("growth at most {pct}%"), |f| {
                (f as f64 * pct / 100.0) as u64
            }),
            heap.verdict("heap in use flat", &format!("growth at most {pct}%"), |f| {
                (f as f64 * pct / 100.0) as u64
            }),
            // Descriptors and tasks move with the churn's sessions in flight: 10% or 20, whichever is more.
            fds.verdict("open fds flat", "growth at most 10% or 20", |f| {
                (f / 10).max(20)
            }),
            tasks.verdict("tokio tasks flat", "growth at most 10% or 20", |f| {
                (f / 10).max(20)
            }),
        ];
        let sum = |f: fn(&KindReport) -> u64| kinds.iter().map(f).sum::<u64>();
        let dropped = sum(|k| k.dropped_by_server);
        v.push(Verdict {
            check: "no player dropped by the server".into(),
            ok: dropped == 0,
            detail: kinds
                .iter()
                .map(|k| format!("{} {}", k.protocol, k.dropped_by_server))
                .collect::<Vec<_>>()
                .join(", "),
        });
        let never = sum(|k| k.never_played);
        v.push(Verdict {
            check: "every player session played".into(),
            ok: never == 0,
            detail: format!("{never} of {} sessions never played", sum(|k| k.sessions)),
        });
        let backwards = sum(|k| k.ts_backwards);
        v.push(Verdict {
            check: "timestamps monotonic for every player".into(),
            ok: backwards == 0,
            detail: kinds
                .iter()
                .map(|k| {
                    format!(
                        "{} {} backwards in {} sessions{}",
                        k.protocol,
                        k.ts_backwards,
                        k.sessions_with_backwards,
                        if k.ts_backwards_headers > 0 {
                            format!(" ({} sequence headers)", k.ts_backwards_headers)
                        } else {
                            String::new()
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        });
        let msn = sum(|k| k.msn_backwards);
        v.push(Verdict {
            check: "HLS media sequence never backwards".into(),
            ok: msn == 0,
            detail: format!("{msn}"),
        });
        let bad_hooks: Vec<&HookRow> = webhooks.iter().filter(|r| !r.ok).collect();
        v.push(Verdict {
            check: "webhook counts exact".into(),
            ok: bad_hooks.is_empty() && unreadable == 0,
            detail: if bad_hooks.is_empty() {
                format!("{} rows equal", webhooks.len())
            } else {
                bad_hooks
                    .iter()
                    .map(|r| {
                        format!(
                            "{} {}: expected {}, got {} raw / {} dedup",
                            r.stream, r.event, r.expected, r.raw, r.dedup
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            },
        });
        v.push(Verdict {
            check: "stream A never closed by the server".into(),
            ok: a.closed_by_server == 0 && a.failures == 0,
            detail: format!(
                "{} closed, {} failures{}",
                a.closed_by_server,
                a.failures,
                a.last_error
                    .as_ref()
                    .map(|e| format!(" (last: {e})"))
                    .unwrap_or_default()
            ),
        });
        v.push(Verdict {
            check: "stream B kicks and forbids carried out".into(),
            ok: b.failures == 0 && b.accepted_while_forbidden == 0 && b.closed_by_server == 0,
            detail: format!(
                "{} kicks, {} forbids, {} refused while forbidden, {} accepted while forbidden, {} failures{}",
                b.kicks, b.forbids, b.refused_while_forbidden, b.accepted_while_forbidden, b.failures,
                b.last_error.as_ref().map(|e| format!(" (last: {e})")).unwrap_or_default()
            ),
        });
        v.push(left_behind(&baseline, &after));
        Soak {
            url: args.url.clone(),
            stream_b: args.stream_b.clone(),
            minutes: args.minutes,
            players: args.players,
            churn_percent: args.churn_percent,
            churned,
            drop_every_secs: args.drop_every_secs,
            b_every_secs: args.b_every_secs,
            baseline,
            samples,
            after,
            rss_kib: rss,
            heap_kib: heap,
            open_fds: fds,
            tokio_tasks: tasks,
            players_by_protocol: kinds,
            publisher_a: a,
            publisher_b: b,
            webhooks,
            webhooks_unreadable: unreadable,
            verdicts: v,
        }
    }

    pub(super) fn passed(&self) -> bool {
        self.verdicts.iter().all(|v| v.ok)
    }

    pub(super) fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "soak of {} for {} min: {} players, {}% churn/s ({} leaves), A drops every {} s, B kicked/forbidden every {} s\n",
            self.url, self.minutes, self.players, self.churn_percent, self.churned, self.drop_every_secs, self.b_every_secs
        );
        samples_table(&mut out, &self.baseline, &self.samples, &self.after);
        let _ = writeln!(out, "\n| protocol | sessions | played | left (churn) | dropped by server | never played | media | ts backwards | seq. backwards | disc. crossed | backwards at disc. | fetch errors | 503 |");
        let _ = writeln!(
            out,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for k in &self.players_by_protocol {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                k.protocol,
                k.sessions,
                k.played,
                k.left,
                k.dropped_by_server,
                k.never_played,
                k.media,
                k.ts_backwards,
                k.msn_backwards,
                k.discontinuities,
                k.backwards_at_discontinuity,
                k.fetch_errors,
                k.blocking_timeouts
            );
        }
        for k in &self.players_by_protocol {
            for (e, n) in &k.errors {
                let _ = writeln!(out, "  {} error x{n}: {e}", k.protocol);
            }
        }
        let _ = writeln!(
            out,
            "\npublisher A: {:?}\npublisher B: {:?}",
            self.publisher_a, self.publisher_b
        );
        let _ = writeln!(
            out,
            "\n| stream | webhook | expected | received (raw / dedup) | |\n|---|---|---:|---:|---|"
        );
        for r in &self.webhooks {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} / {} | {} |",
                r.stream,
                r.event,
                r.expected,
                r.raw,
                r.dedup,
                if r.ok { "ok" } else { "MISMATCH" }
            );
        }
        verdicts_table(&mut out, &self.verdicts);
        out
    }
}

/// After everything stopped: sockets and tasks back at the baseline (tasks: 2 of slack for timers that are
/// finishing), no players left in the API. All descriptors are reported, not judged: the database pool may hold
/// more connections (files) after the webhook load than before it, up to its bound.
fn left_behind(baseline: &Sample, after: &Sample) -> Verdict {
    let back = |b: Option<u64>, a: Option<u64>, slack: u64| matches!((b, a), (Some(b), Some(a)) if a <= b + slack);
    Verdict {
        check: "nothing left behind".into(),
        ok: back(baseline.open_sockets, after.open_sockets, 0)
            && back(baseline.tokio_tasks, after.tokio_tasks, 2)
            && after.api_players.unwrap_or(0) <= baseline.api_players.unwrap_or(0),
        detail: format!(
            "sockets {} -> {}, all fds {} -> {}, tasks {} -> {}, API players {} -> {}, RSS {} -> {} KiB",
            opt(baseline.open_sockets),
            opt(after.open_sockets),
            opt(baseline.open_fds),
            opt(after.open_fds),
            opt(baseline.tokio_tasks),
            opt(after.tokio_tasks),
            opt(baseline.api_players),
            opt(after.api_players),
            opt(baseline.rss_kib),
            opt(after.rss_kib)
        ),
    }
}

fn samples_table(out: &mut String, baseline: &Sample, samples: &[Sample], after: &Sample) {
    let _ = writeln!(out, "| when | RSS MiB | heap in use MiB | open fds | of which sockets | tokio tasks | API players | tool playing | webhooks |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mib =
        |v: Option<u64>| v.map_or_else(|| "n/a".into(), |k| format!("{:.1}", k as f64 / 1024.0));
    let mut row = |label: String, s: &Sample| {
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {} | {} | {} | {} | {} | {} |",
            mib(s.rss_kib),
            mib(s.heap_kib),
            opt(s.open_fds),
            opt(s.open_sockets),
            opt(s.tokio_tasks),
            opt(s.api_players),
            s.tool_playing,
            s.webhooks
        );
    };
    row("baseline".into(), baseline);
    for s in samples {
        row(format!("{:.0} s", s.at_s), s);
    }
    row("after".into(), after);
}

fn verdicts_table(out: &mut String, verdicts: &[Verdict]) {
    let _ = writeln!(out, "\n| verdict | | detail |\n|---|---|---|");
    for v in verdicts {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            v.check,
            if v.ok { "PASS" } else { "FAIL" },
            v.detail
        );
    }
}

/// The churn's report.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Churn {
    pub url: String,
    pub cycles: u64,
    pub concurrency: u32,
    pub seconds: f64,
    pub ok: u64,
    pub failed: u64,
    pub rtmp: u64,
    pub flv: u64,
    pub errors: BTreeMap<String, u64>,
    /// With the tool's publisher up, before the first cycle.
    pub baseline: Sample,
    /// Every 10% of the cycles.
    pub samples: Vec<Sample>,
    /// Once the server came back to the baseline, or the settle time ran out.
    pub after: Sample,
    pub rss_bound_mib: u64,
    pub verdicts: Vec<Verdict>,
}

impl Churn {
    /// Fills in the verdicts.
    pub(super) fn judge(mut self) -> Self {
        let mut v = vec![Verdict {
            check: "every cycle played".into(),
            ok: self.failed == 0,
            detail: format!("{} of {} ok", self.ok, self.cycles),
        }];
        let back = |b: Option<u64>, a: Option<u64>| matches!((b, a), (Some(b), Some(a)) if a <= b);
        v.push(Verdict {
            check: "server sockets back to the baseline".into(),
            ok: back(self.baseline.open_sockets, self.after.open_sockets),
            detail: format!(
                "{} -> {} (all fds {} -> {})",
                opt(self.baseline.open_sockets),
                opt(self.after.open_sockets),
                opt(self.baseline.open_fds),
                opt(self.after.open_fds)
            ),
        });
        v.push(Verdict {
            check: "tokio tasks back to the baseline".into(),
            ok: back(self.baseline.tokio_tasks, self.after.tokio_tasks),
            detail: format!(
                "{} -> {}",
                opt(self.baseline.tokio_tasks),
                opt(self.after.tokio_tasks)
            ),
        });
        v.push(Verdict {
            check: "API players back to the baseline".into(),
            ok: back(self.baseline.api_players, self.after.api_players),
            detail: format!(
                "{} -> {}",
                opt(self.baseline.api_players),
                opt(self.after.api_players)
            ),
        });
        let bound = self.rss_bound_mib * 1024;
        v.push(Verdict {
            check: "RSS within the bound".into(),
            ok: matches!((self.baseline.rss_kib, self.after.rss_kib), (Some(b), Some(a)) if a <= b + bound),
            detail: format!("{} -> {} KiB (bound +{} MiB)", opt(self.baseline.rss_kib), opt(self.after.rss_kib), self.rss_bound_mib),
        });
        self.verdicts = v;
        self
    }

    pub(super) fn passed(&self) -> bool {
        self.verdicts.iter().all(|v| v.ok)
    }

    pub(super) fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "churn on {}: {} connect / play / disconnect cycles ({} RTMP, {} HTTP-FLV), {} at once, in {:.0} s ({:.0}/s)\n",
            self.url, self.cycles, self.rtmp, self.flv, self.concurrency, self.seconds, self.cycles as f64 / self.seconds.max(0.001)
        );
        samples_table(&mut out, &self.baseline, &self.samples, &self.after);
        for (e, n) in &self.errors {
            let _ = writeln!(out, "  error x{n}: {e}");
        }
        verdicts_table(&mut out, &self.verdicts);
        out
    }
}
