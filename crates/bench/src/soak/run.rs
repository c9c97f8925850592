//! One soak: publishers, player slots, churn, samples every `sample_secs`, then the stop, the settle, the
//! webhook tally and the verdicts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use client::http_flv;
use client::url::{HttpUrl, RtmpUrl};
use indicatif::ProgressBar;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tokio::time::{sleep, Instant};

use super::api::Api;
use super::hooks::{self, Received};
use super::players::{run_slot, Ctx, Kind, KindStats, Slot};
use super::publish::{self, Plan, PubStats, Target};
use super::report::{HookRow, KindReport, Sample, Soak};
use super::SoakArgs;
use crate::clock::mono_ns;
use crate::fixture::Fixture;
use crate::parent::resolve;
use crate::procfs::{read_open_fds, read_open_sockets, read_rss_kib};

/// Time publisher A has to be publishing before the players start.
const PUBLISH_WAIT: Duration = Duration::from_secs(15);
/// After A publishes: the GOP cache and the first HLS segment fill.
const WARMUP: Duration = Duration::from_secs(4);
/// Longest wait for the player tasks to end after the stop.
const STOP_WAIT: Duration = Duration::from_secs(30);
/// Webhooks are taken as all delivered after this long without a new one.
const HOOKS_QUIET: Duration = Duration::from_secs(3);
/// Longest wait for webhooks and for the server's figures to come back to the baseline.
const FINAL_WAIT: Duration = Duration::from_secs(40);
/// What the HTTP-FLV players say they are.
const USER_AGENT: &str = "mplive-soak";

/// A small xorshift: which slots the churn picks need no cryptographic quality.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// Reads the server's figures now.
pub(super) async fn sample(
    api: &Api,
    pid: u32,
    start: Instant,
    playing: u64,
    received: Option<&Received>,
    app: &str,
    stream: &str,
) -> Sample {
    let metrics = api.metrics().await.ok();
    Sample {
        at_s: start.elapsed().as_secs_f64(),
        rss_kib: read_rss_kib(Some(pid)),
        open_fds: read_open_fds(Some(pid)).or(metrics.and_then(|m| m.open_fds)),
        open_sockets: read_open_sockets(Some(pid)),
        tokio_tasks: metrics.and_then(|m| m.tokio_tasks),
        heap_kib: metrics.and_then(|m| m.heap_in_use).map(|b| b / 1024),
        api_players: api.players(app, stream).await.ok().flatten(),
        tool_playing: playing,
        webhooks: received.map_or(0, Received::total),
    }
}

/// A line on stderr: the per-sample progress of a run whose output is redirected (the bar is hidden then).
pub(super) fn note(bar: &ProgressBar, line: &str) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

pub(super) async fn soak(args: &SoakArgs) -> Result<Soak> {
    let url = RtmpUrl::parse(&args.url)?;
    let addr = resolve(&url.host, url.port).await?;
    let fixture = Arc::new(Fixture::load(&args.fixture)?);
    let api = Api::new(&args.http_url, &args.admin_token)?;
    let base = args.http_url.trim_end_matches('/').to_owned();
    api.metrics()
        .await
        .context("the admin API does not answer /metrics")?;
    let received = hooks::start(args.webhook_listen).await?;
    let bar = crate::parent::spinner(args.json);
    let start = Instant::now();
    let baseline = sample(&api, args.server_pid, start, 0, None, &url.app, &url.stream).await;

    let target = |stream: &str| Target {
        addr,
        app: url.app.clone(),
        tc_url: url.tc_url(),
        stream: stream.to_owned(),
    };
    let pub_stop = Arc::new(AtomicBool::new(false));
    let (a, b) = (Arc::new(PubStats::default()), Arc::new(PubStats::default()));
    let a_thread = publish::spawn(
        target(&url.stream),
        fixture.clone(),
        Plan::Drops {
            every: Duration::from_secs(args.drop_every_secs),
            reconnect_delay: Duration::from_millis(args.reconnect_delay_ms),
        },
        a.clone(),
        pub_stop.clone(),
    )?;
    let b_thread = publish::spawn(
        target(&args.stream_b),
        fixture.clone(),
        Plan::Kicks {
            every: Duration::from_secs(args.b_every_secs),
            forbid_for: Duration::from_secs(args.forbid_secs),
            api: api.clone(),
        },
        b.clone(),
        pub_stop.clone(),
    )?;
    bar.set_message("waiting for stream A to publish");
    let deadline = Instant::now() + PUBLISH_WAIT;
    while !a.live.load(Ordering::Relaxed) {
        if Instant::now() >= deadline {
            pub_stop.store(true, Ordering::Relaxed);
            bail!(
                "stream A is not publishing after {PUBLISH_WAIT:?}: {}",
                a.report().last_error.unwrap_or_default()
            );
        }
        sleep(Duration::from_millis(100)).await;
    }
    sleep(WARMUP).await;

    // The players.
    let (stop_tx, stop_rx) = watch::channel(false);
    let flv_url = HttpUrl::parse(&format!("{base}/{}/{}.flv", url.app, url.stream))?;
    let http = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(5))
        .build()
        .context("cannot build the HLS viewers' HTTP client")?;
    let ctx = Arc::new(Ctx {
        rtmp: target(&url.stream),
        flv_addr: resolve(&flv_url.host, flv_url.port).await?,
        flv_request: http_flv::request(&flv_url, USER_AGENT),
        hls_url: format!("{base}/{}/{}.m3u8", url.app, url.stream),
        ll_url: format!("{base}/{}/{}/ll.m3u8", url.app, url.stream),
        http,
        stop: stop_rx,
        connect_timeout: Duration::from_millis(args.connect_timeout_ms),
        stats: Default::default(),
    });
    let slots: Vec<Arc<Slot>> = (0..args.players as usize)
        .map(|i| {
            Arc::new(Slot {
                kind: Kind::ALL[i % 4],
                playing: AtomicBool::new(false),
                leave: Notify::new(),
            })
        })
        .collect();
    let mut tasks = JoinSet::new();
    for (i, slot) in slots.iter().enumerate() {
        tasks.spawn(run_slot(ctx.clone(), slot.clone(), i));
    }
    let load_start = Instant::now();
    let load_end = load_start + Duration::from_secs(u64::from(args.minutes) * 60);
    let per_second =
        ((f64::from(args.players) * args.churn_percent / 100.0).round() as usize).min(slots.len());
    let mut rng = Rng(mono_ns() | 1);
    let mut churned = 0u64;
    let mut samples = Vec::new();
    let mut next_sample = load_start + Duration::from_secs(args.sample_secs);
    let mut tick = load_start;
    let playing = |slots: &[Arc<Slot>]| {
        slots
            .iter()
            .filter(|s| s.playing.load(Ordering::Relaxed))
            .count() as u64
    };
    note(
        &bar,
        &format!(
            "soak: {} players on {}, {} min, churn {per_second}/s",
            args.players, args.url, args.minutes
        ),
    );
    while Instant::now() < load_end {
        tick += Duration::from_secs(1);
        tokio::time::sleep_until(tick.min(load_end)).await;
        // The churn: a few playing players leave; their slots start new ones at once.
        let candidates: Vec<&Arc<Slot>> = slots
            .iter()
            .filter(|s| s.playing.load(Ordering::Relaxed))
            .collect();
        for _ in 0..per_second.min(candidates.len()) {
            let slot = candidates[rng.next(candidates.len())];
            if slot.playing.swap(false, Ordering::Relaxed) {
                slot.leave.notify_one();
                churned += 1;
            }
        }
        let dropped: u64 = Kind::ALL
            .iter()
            .map(|k| ctx.stats(*k).dropped.load(Ordering::Relaxed))
            .sum();
        bar.set_message(format!(
            "{:>4}/{} s  playing {}/{}  churned {churned}  dropped {dropped}  A publishes {}  B kicks {} forbids {}  webhooks {}",
            load_start.elapsed().as_secs(),
            u64::from(args.minutes) * 60,
            playing(&slots),
            args.players,
            a.publishes.load(Ordering::Relaxed),
            b.kicks.load(Ordering::Relaxed),
            b.forbids.load(Ordering::Relaxed),
            received.total(),
        ));
        if Instant::now() >= next_sample {
            next_sample += Duration::from_secs(args.sample_secs);
            let s = sample(
                &api,
                args.server_pid,
                load_start,
                playing(&slots),
                Some(&received),
                &url.app,
                &url.stream,
            )
            .await;
            note(&bar, &s.line());
            samples.push(s);
        }
    }

    // The stop: players first (their play_stop), then, once HLS viewers have expired, the publishers.
    bar.set_message("stopping the players");
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(STOP_WAIT, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tasks.abort_all();
    }
    let kinds: Vec<KindReport> = Kind::ALL
        .iter()
        .map(|k| KindReport::of(*k, ctx.stats(*k)))
        .collect();
    drop(ctx);
    bar.set_message(format!(
        "settling {} s: HLS viewers expire, webhooks arrive",
        args.settle_secs
    ));
    sleep(Duration::from_secs(args.settle_secs)).await;
    bar.set_message("stopping the publishers");
    pub_stop.store(true, Ordering::Relaxed);
    for thread in [a_thread, b_thread] {
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }

    // Webhooks until quiet, and the server back at its baseline.
    bar.set_message("waiting for the last webhooks and for the server to settle");
    let final_deadline = Instant::now() + FINAL_WAIT;
    let (mut last_total, mut quiet_since) = (received.total(), Instant::now());
    let after = loop {
        sleep(Duration::from_millis(500)).await;
        let total = received.total();
        if total != last_total {
            (last_total, quiet_since) = (total, Instant::now());
        }
        let s = sample(
            &api,
            args.server_pid,
            start,
            0,
            Some(&received),
            &url.app,
            &url.stream,
        )
        .await;
        let settled = s.open_sockets <= baseline.open_sockets
            && s.tokio_tasks <= baseline.tokio_tasks.map(|b| b + 2);
        if (quiet_since.elapsed() >= HOOKS_QUIET && settled) || Instant::now() >= final_deadline {
            break s;
        }
    };
    bar.finish_and_clear();

    let (a_report, b_report) = (a.report(), b.report());
    let hooks = expected_hooks(
        &url.stream,
        &args.stream_b,
        &a_report,
        &b_report,
        &kinds,
        &received,
    );
    Ok(Soak::new(
        args,
        baseline,
        samples,
        after,
        churned,
        kinds,
        a_report,
        b_report,
        hooks,
        received.unreadable(),
    ))
}

/// Expected against received, per stream and event, plus any event received that was not expected.
fn expected_hooks(
    a_name: &str,
    b_name: &str,
    a: &super::publish::PubReport,
    b: &super::publish::PubReport,
    kinds: &[KindReport],
    received: &Received,
) -> Vec<HookRow> {
    let mut rows = Vec::new();
    let mut row = |stream: &str, event: String, expected: u64, raw_counts: bool| {
        let (raw, dedup) = received.count(stream, &event);
        let got = if raw_counts { raw } else { dedup };
        rows.push(HookRow {
            stream: stream.to_owned(),
            event,
            expected,
            raw,
            dedup,
            ok: got == expected,
        });
    };
    // Stream A has players whenever it drops, so each comeback is a republish within the grace.
    row(
        a_name,
        "push_start".into(),
        u64::from(a.publishes > 0),
        false,
    );
    row(
        a_name,
        "republish".into(),
        a.publishes.saturating_sub(1),
        false,
    );
    row(a_name, "push_end".into(), a.publishes, false);
    for k in kinds {
        // Raw counts: nothing is retried while the tool's receiver answers 200 (play events carry a per-play
        // `sequence` now, but the receiver's dedup key is the whole body).
        row(a_name, format!("play_start/{}", k.protocol), k.played, true);
        row(a_name, format!("play_stop/{}", k.protocol), k.played, true);
    }
    // Stream B has no players, but with `[hls] always` (bench/soak.sh) the server's segmenter reads every publish,
    // so the stream is kept through its grace after each kick and forbid, and B's comebacks (well within the
    // grace) are republishes too.
    row(
        b_name,
        "push_start".into(),
        u64::from(b.publishes > 0),
        false,
    );
    row(
        b_name,
        "republish".into(),
        b.publishes.saturating_sub(1),
        false,
    );
    row(b_name, "push_end".into(), b.publishes, false);
    row(b_name, "kick".into(), b.kicks + b.forbids, false);
    row(
        b_name,
        "push_refused".into(),
        b.refused_while_forbidden,
        false,
    );
    let known: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r.stream.clone(), r.event.clone()))
        .collect();
    for c in received.all() {
        if !known.contains(&(c.stream.clone(), c.event.clone())) {
            rows.push(HookRow {
                stream: c.stream,
                event: c.event,
                expected: 0,
                raw: c.raw,
                dedup: c.dedup,
                ok: false,
            });
        }
    }
    rows
}

impl KindReport {
    fn of(kind: Kind, s: &KindStats) -> Self {
        let l = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        KindReport {
            protocol: kind.name(),
            sessions: l(&s.sessions),
            played: l(&s.played),
            left: l(&s.left),
            stopped: l(&s.stopped),
            dropped_by_server: l(&s.dropped),
            never_played: l(&s.not_playing),
            media: l(&s.media),
            bytes: l(&s.bytes),
            ts_backwards: l(&s.ts_backwards),
            ts_backwards_headers: l(&s.ts_backwards_headers),
            ts_max_back_ms: l(&s.ts_max_back_ms),
            sessions_with_backwards: l(&s.sessions_with_backwards),
            msn_backwards: l(&s.msn_backwards),
            backwards_at_discontinuity: l(&s.backwards_at_discontinuity),
            discontinuities: l(&s.discontinuities),
            fetch_errors: l(&s.fetch_errors),
            blocking_timeouts: l(&s.blocking_timeouts),
            errors: s.errors(),
        }
    }
}
