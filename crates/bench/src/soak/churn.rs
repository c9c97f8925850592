//! `mplive bench churn`: many connect / play / disconnect cycles against a live stream (published by the tool),
//! RTMP and HTTP-FLV alternating, half of each closed cleanly (deleteStream, FIN) and half dropped; then checks
//! that the server's descriptors, tasks and API players come back to where they were, and RSS stays bounded.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use client::connection::{close_gracefully, connect, ReadOutcome, RtmpConnection};
use client::http_flv::{self, Event, HttpFlvReader};
use client::url::{HttpUrl, RtmpUrl};
use rtmp::{ClientEvent, MediaKind, SessionConfig};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;
use tokio::time::{sleep, sleep_until, timeout_at, Instant};

use super::api::Api;
use super::publish::{self, Plan, PubStats, Target};
use super::report::Churn;
use super::run::{note, sample};
use super::ChurnArgs;
use crate::fixture::Fixture;
use crate::net::{with_buf, CLOSE_WAIT};
use crate::parent::resolve;

/// Time the publisher has to be publishing.
const PUBLISH_WAIT: Duration = Duration::from_secs(15);
/// After it publishes: the GOP cache fills and the server's figures settle before the baseline.
const WARMUP: Duration = Duration::from_secs(4);
/// Most distinct error texts kept.
const MAX_ERROR_KINDS: usize = 8;

struct Plays {
    rtmp: Target,
    flv_addr: std::net::SocketAddr,
    flv_request: String,
    timeout: Duration,
}

pub(super) async fn run(args: &ChurnArgs) -> Result<Churn> {
    let url = RtmpUrl::parse(&args.url)?;
    let addr = resolve(&url.host, url.port).await?;
    let fixture = Arc::new(Fixture::load(&args.fixture)?);
    let api = Api::new(&args.http_url, &args.admin_token)?;
    api.metrics()
        .await
        .context("the admin API does not answer /metrics")?;
    let base = args.http_url.trim_end_matches('/');
    let flv_url = HttpUrl::parse(&format!("{base}/{}/{}.flv", url.app, url.stream))?;
    let target = Target {
        addr,
        app: url.app.clone(),
        tc_url: url.tc_url(),
        stream: url.stream.clone(),
    };
    let plays = Arc::new(Plays {
        rtmp: target.clone(),
        flv_addr: resolve(&flv_url.host, flv_url.port).await?,
        flv_request: http_flv::request(&flv_url, "mplive-churn"),
        timeout: Duration::from_millis(args.cycle_timeout_ms),
    });
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(PubStats::default());
    let every = Duration::ZERO;
    let thread = publish::spawn(
        target,
        fixture,
        Plan::Drops {
            every,
            reconnect_delay: every,
        },
        stats.clone(),
        stop.clone(),
    )?;
    let deadline = Instant::now() + PUBLISH_WAIT;
    while !stats.live.load(Ordering::Relaxed) {
        if Instant::now() >= deadline {
            stop.store(true, Ordering::Relaxed);
            bail!(
                "not publishing after {PUBLISH_WAIT:?}: {}",
                stats.report().last_error.unwrap_or_default()
            );
        }
        sleep(Duration::from_millis(100)).await;
    }
    sleep(WARMUP).await;
    let bar = crate::parent::spinner(args.json);
    let start = Instant::now();
    let baseline = sample(&api, args.server_pid, start, 0, None, &url.app, &url.stream).await;
    note(
        &bar,
        &format!(
            "churn: {} cycles on {}, {} at once; baseline {}",
            args.cycles,
            args.url,
            args.concurrency,
            baseline.line()
        ),
    );

    let (mut ok, mut failed) = (0u64, 0u64);
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut samples = Vec::new();
    let mut set = JoinSet::new();
    let mut tick = Instant::now();
    let step = (args.cycles / 10).max(1);
    let mut done = 0u64;
    let mut next_sample_at = step;
    let mut record = |r: Result<(), String>, ok: &mut u64, failed: &mut u64| match r {
        Ok(()) => *ok += 1,
        Err(e) => {
            *failed += 1;
            let n = errors.len();
            match errors.get_mut(&e) {
                Some(c) => *c += 1,
                None if n < MAX_ERROR_KINDS => {
                    errors.insert(e, 1);
                }
                None => *errors.entry("(other errors)".into()).or_default() += 1,
            }
        }
    };
    for i in 0..args.cycles {
        while set.len() >= args.concurrency as usize {
            if let Some(r) = set.join_next().await {
                record(
                    r.unwrap_or_else(|e| Err(format!("task: {e}"))),
                    &mut ok,
                    &mut failed,
                );
                done += 1;
                if done >= next_sample_at {
                    next_sample_at += step;
                    let s = sample(
                        &api,
                        args.server_pid,
                        start,
                        set.len() as u64,
                        None,
                        &url.app,
                        &url.stream,
                    )
                    .await;
                    note(&bar, &format!("{done} cycles: {}", s.line()));
                    samples.push(s);
                }
            }
        }
        let plays = plays.clone();
        // Cycle i: RTMP on even, HTTP-FLV on odd; a clean close on every other pair, a dropped socket on the rest.
        let (rtmp, clean) = (i % 2 == 0, (i / 2) % 2 == 0);
        set.spawn(async move { cycle(&plays, rtmp, clean).await });
        if tick.elapsed() >= Duration::from_secs(1) {
            tick = Instant::now();
            let rate = done as f64 / start.elapsed().as_secs_f64().max(0.001);
            bar.set_message(format!(
                "{done}/{} cycles, {failed} failed, {rate:.0}/s",
                args.cycles
            ));
        }
    }
    while let Some(r) = set.join_next().await {
        record(
            r.unwrap_or_else(|e| Err(format!("task: {e}"))),
            &mut ok,
            &mut failed,
        );
    }
    let seconds = start.elapsed().as_secs_f64();

    // Back to the baseline, or the settle time runs out.
    bar.set_message("waiting for the server to come back to its baseline");
    let settle_deadline = Instant::now() + Duration::from_secs(args.settle_secs);
    let after = loop {
        let s = sample(&api, args.server_pid, start, 0, None, &url.app, &url.stream).await;
        let back = s.open_sockets <= baseline.open_sockets
            && s.tokio_tasks <= baseline.tokio_tasks
            && s.api_players <= baseline.api_players;
        if back || Instant::now() >= settle_deadline {
            break s;
        }
        sleep(Duration::from_millis(500)).await;
    };
    bar.finish_and_clear();
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    let report = Churn {
        url: args.url.clone(),
        cycles: args.cycles,
        concurrency: args.concurrency,
        seconds,
        ok,
        failed,
        rtmp: args.cycles.div_ceil(2),
        flv: args.cycles / 2,
        errors,
        baseline,
        samples,
        after,
        rss_bound_mib: args.rss_bound_mib,
        verdicts: Vec::new(),
    };
    Ok(report.judge())
}

/// One connect / play (until the first audio or video frame) / disconnect.
async fn cycle(p: &Plays, rtmp: bool, clean: bool) -> Result<(), String> {
    let deadline = Instant::now() + p.timeout;
    let what = if rtmp { "rtmp" } else { "flv" };
    timeout_at(deadline, async {
        if rtmp {
            rtmp_cycle(p, deadline, clean).await
        } else {
            flv_cycle(p, deadline, clean).await
        }
    })
    .await
    .unwrap_or_else(|_| Err("no frame before the cycle timeout".into()))
    .map_err(|e| format!("{what}: {e}"))
}

async fn rtmp_cycle(p: &Plays, deadline: Instant, clean: bool) -> Result<(), String> {
    let t = &p.rtmp;
    let stream = connect(t.addr, deadline).await.map_err(|e| e.to_string())?;
    let mut conn = RtmpConnection::start(
        stream,
        &t.app,
        &t.tc_url,
        SessionConfig::default(),
        std::time::Instant::now(),
    );
    loop {
        conn.flush().await.map_err(|e| e.to_string())?;
        let timer = conn
            .session()
            .poll_timeout()
            .map(Instant::from_std)
            .map_or(deadline, |x| x.min(deadline));
        tokio::select! {
            ready = conn.readable() => {
                ready.map_err(|e| e.to_string())?;
                with_buf(|buf| match conn.try_read(buf) {
                    Ok(ReadOutcome::Data(n)) => conn.handle_input(&buf[..n], std::time::Instant::now()).map_err(|e| e.to_string()),
                    Ok(ReadOutcome::Closed) => Err("the server closed the connection".to_string()),
                    Ok(ReadOutcome::WouldBlock) => Ok(()),
                    Err(e) => Err(e.to_string()),
                })?;
                let mut got_frame = false;
                while let Some(event) = conn.session().poll_output() {
                    match event {
                        ClientEvent::Connected => conn.session().play(&t.stream),
                        ClientEvent::Media { kind: MediaKind::Audio | MediaKind::Video, .. } => got_frame = true,
                        other => {
                            if let Some(e) = client::connection::ConnectionError::from_event(other, "play") {
                                return Err(e.to_string());
                            }
                        }
                    }
                }
                if got_frame {
                    if clean {
                        conn.close(CLOSE_WAIT).await;
                    }
                    return Ok(());
                }
            }
            _ = sleep_until(timer) => {
                conn.session().handle_timeout(std::time::Instant::now()).map_err(|e| e.to_string())?;
            }
        }
    }
}

async fn flv_cycle(p: &Plays, deadline: Instant, clean: bool) -> Result<(), String> {
    let mut stream = connect(p.flv_addr, deadline)
        .await
        .map_err(|e| e.to_string())?;
    stream
        .write_all(p.flv_request.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut reader = HttpFlvReader::new(16 << 20);
    loop {
        stream.readable().await.map_err(|e| format!("read: {e}"))?;
        let got = crate::net::read_now(&stream, |data| {
            reader.handle_input(data).map_err(|e| e.to_string())?;
            while let Some(event) = reader.poll_output() {
                match event {
                    Event::Tag(tag) if tag.tag_type != MediaKind::Script => return Ok(true),
                    Event::Refused { head, .. } => return Err(head.status_line),
                    Event::Ended => return Err("the server ended the response".to_string()),
                    _ => {}
                }
            }
            Ok(false)
        })
        .map_err(|e| format!("read: {e}"))?;
        match got {
            crate::net::ReadOutcome::Data(Ok(true)) => {
                if clean {
                    close_gracefully(stream, None, CLOSE_WAIT).await;
                }
                return Ok(());
            }
            crate::net::ReadOutcome::Data(Ok(false)) | crate::net::ReadOutcome::WouldBlock => {}
            crate::net::ReadOutcome::Data(Err(e)) => return Err(e),
            crate::net::ReadOutcome::Closed => {
                return Err("the server closed the connection".into())
            }
        }
    }
}
