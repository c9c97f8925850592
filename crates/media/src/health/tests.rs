use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;

use super::*;

static ZEROS: [u8; 8192] = [0; 8192];

fn frame(kind: MediaKind, ts: u32, size: usize, keyframe: bool) -> Frame {
    Frame {
        timestamp: ts,
        kind,
        keyframe,
        sequence_header: false,
        payload: Bytes::from_static(&ZEROS[..size.min(ZEROS.len())]),
    }
}

/// A publisher driven by a simulated clock: frames arrive when their timestamp says, unless told otherwise.
struct Sim {
    health: Health,
    t0: Instant,
    /// Offset of arrival against the timestamps, ms (a stall pushes it up).
    lag_ms: u64,
    video_ts: u32,
    audio_ts: u32,
    out: Vec<Episode>,
}

impl Sim {
    fn new(config: HealthConfig) -> Sim {
        let t0 = Instant::now();
        Sim {
            health: Health::new(config, t0),
            t0,
            lag_ms: 0,
            video_ts: 0,
            audio_ts: 0,
            out: Vec::new(),
        }
    }

    fn at(&self, ts: u32) -> Instant {
        self.t0 + Duration::from_millis(u64::from(ts) + self.lag_ms)
    }

    fn drain(&mut self) {
        while let Some(e) = self.health.poll_episode() {
            self.out.push(e);
        }
    }

    fn feed(&mut self, kind: MediaKind, ts: u32, size: usize, keyframe: bool) {
        let now = self.at(ts);
        self.health
            .handle_frame(now, &frame(kind, ts, size, keyframe));
        self.drain();
    }

    /// `secs` seconds of video at `fps` (a keyframe every `gop_ms`) and AAC audio every 23 ms, ticked every 500 ms.
    fn run(&mut self, secs: u32, fps: u32, gop_ms: u32, video_bytes: usize) {
        let end = self.video_ts + secs * 1000;
        let step = 1000 / fps;
        let mut next_tick = self.video_ts;
        while self.video_ts < end {
            while self.audio_ts <= self.video_ts {
                self.feed(MediaKind::Audio, self.audio_ts, 300, false);
                self.audio_ts += 23;
            }
            let key = self.video_ts % gop_ms < step;
            self.feed(MediaKind::Video, self.video_ts, video_bytes, key);
            if self.video_ts >= next_tick {
                let now = self.at(self.video_ts);
                self.health.handle_tick(now);
                self.drain();
                next_tick += 500;
            }
            self.video_ts += step;
        }
    }

    fn rules(&self, phase: Phase) -> Vec<Rule> {
        self.out
            .iter()
            .filter(|e| e.phase == phase)
            .map(|e| e.rule)
            .collect()
    }

    /// The only start so far is one of `rule`.
    fn assert_started(&self, rule: Rule) {
        assert_eq!(self.rules(Phase::Started), [rule], "{:?}", self.out);
    }

    /// The only end so far is one of `rule`.
    fn assert_ended(&self, rule: Rule) {
        assert_eq!(self.rules(Phase::Ended), [rule], "{:?}", self.out);
    }

    /// Everything reported is one episode of `rule`: its start, then its end.
    fn assert_one_episode(&self, rule: Rule) {
        let got: Vec<_> = self.out.iter().map(|e| (e.rule, e.phase)).collect();
        assert_eq!(got, [(rule, Phase::Started), (rule, Phase::Ended)]);
    }

    fn finish(&mut self) {
        let now = self.at(self.video_ts);
        self.health.finish(now);
        self.drain();
    }
}

#[test]
fn a_steady_stream_raises_nothing() {
    let mut sim = Sim::new(HealthConfig::default());
    sim.run(60, 25, 2000, 5000);
    sim.finish();
    assert_eq!(sim.out, vec![]);
}

#[test]
fn a_paused_encoder_is_one_video_gap_seen_by_the_tick() {
    let mut sim = Sim::new(HealthConfig::default());
    sim.run(5, 25, 1000, 5000);
    let last = sim.at(sim.video_ts - 40);
    for ms in (500..4500).step_by(500) {
        sim.health.handle_tick(last + Duration::from_millis(ms));
        sim.drain();
    }
    assert_eq!(
        sim.rules(Phase::Started),
        vec![Rule::VideoGap],
        "once, by the tick"
    );
    assert_eq!(sim.health.active().count(), 1);
    // The encoder resumes: its timestamps go on where they were, late by the pause.
    sim.lag_ms = 4500;
    sim.run(3, 25, 1000, 5000);
    sim.assert_ended(Rule::VideoGap);
    let end = sim.out[1];
    let Detail::VideoGap { gap_ms } = end.detail else {
        panic!("{end:?}")
    };
    assert!((4500..4600).contains(&gap_ms), "{gap_ms}");
    assert!(end.duration >= Duration::from_millis(1400), "{end:?}");
    assert_eq!(
        sim.out.len(),
        2,
        "nothing else: the timestamps did not move"
    );
}

#[test]
fn a_gap_no_tick_saw_starts_and_ends_with_the_next_frame() {
    let mut sim = Sim::new(HealthConfig::default());
    sim.run(2, 25, 1000, 5000);
    sim.lag_ms = 5000;
    sim.run(1, 25, 1000, 5000);
    sim.assert_one_episode(Rule::VideoGap);
}

#[test]
fn a_frame_rate_drop_is_one_episode_ended_when_it_recovers() {
    let mut sim = Sim::new(HealthConfig::default());
    sim.run(12, 25, 1000, 4000);
    sim.run(6, 5, 1000, 4000 * 5);
    sim.assert_started(Rule::LowFps);
    let Detail::LowFps { fps, baseline_fps } = sim.out[0].detail else {
        panic!()
    };
    assert!(
        fps < 12.5 && (20.0..=25.0).contains(&baseline_fps),
        "{fps} {baseline_fps}"
    );
    sim.run(6, 25, 1000, 4000);
    sim.assert_ended(Rule::LowFps);
    let Detail::LowFps { fps, .. } = sim.out[1].detail else {
        panic!()
    };
    assert!((4.0..=5.0).contains(&fps), "the worst rate: {fps}");
}

#[test]
fn a_bitrate_collapse_is_one_episode() {
    let mut sim = Sim::new(HealthConfig::default());
    sim.run(12, 25, 1000, 6000);
    sim.run(5, 25, 1000, 500);
    sim.assert_started(Rule::BitrateDrop);
    sim.run(5, 25, 1000, 6000);
    sim.assert_ended(Rule::BitrateDrop);
}

#[test]
fn rates_are_not_judged_before_half_the_baseline_window() {
    let mut sim = Sim::new(HealthConfig::default());
    sim.run(3, 25, 1000, 4000);
    sim.run(3, 2, 1000, 4000);
    assert_eq!(sim.out, vec![]);
}

#[test]
fn a_long_gop_at_the_default_is_one_episode_while_gops_stay_long() {
    let mut sim = Sim::new(HealthConfig::default());
    sim.run(36, 25, 12_000, 5000);
    sim.assert_started(Rule::LongGop);
    let started = sim.out[0].started.saturating_duration_since(sim.t0);
    assert!(
        (10_000..10_100).contains(&started.as_millis()),
        "10 s into the first GOP: {started:?}"
    );
    sim.finish();
    assert_eq!(
        sim.rules(Phase::Ended),
        vec![Rule::LongGop],
        "closed by the end of the push"
    );
    let Detail::LongGop { gop_ms } = sim.out[1].detail else {
        panic!()
    };
    assert!((11_900..=12_000).contains(&gop_ms), "{gop_ms}");
}

#[test]
fn a_long_gop_ends_at_the_first_short_one() {
    let mut sim = Sim::new(HealthConfig::default());
    sim.run(12, 25, 12_000, 5000);
    sim.run(4, 25, 2000, 5000);
    sim.assert_one_episode(Rule::LongGop);
}

#[test]
fn audio_drifting_from_video_is_one_episode() {
    let mut sim = Sim::new(HealthConfig::default());
    // The audio clock runs 1.5 s ahead of the video's on the same arrival times, then slows until they agree.
    let mut audio_ts = 1500;
    for _ in 0..200 {
        let video_ts = sim.video_ts;
        let at = sim.at(video_ts);
        sim.health
            .handle_frame(at, &frame(MediaKind::Audio, audio_ts, 300, false));
        sim.health.handle_frame(
            at,
            &frame(
                MediaKind::Video,
                video_ts,
                5000,
                video_ts.is_multiple_of(1000),
            ),
        );
        sim.drain();
        sim.video_ts += 40;
        audio_ts += if sim.video_ts < 4000 { 40 } else { 20 };
        if audio_ts <= sim.video_ts {
            break;
        }
    }
    sim.assert_started(Rule::AvDrift);
    let Detail::AvDrift { drift_ms } = sim.out[0].detail else {
        panic!()
    };
    assert!((1400..=1600).contains(&drift_ms), "{drift_ms}");
    sim.assert_ended(Rule::AvDrift);
    let ended = sim.out[1];
    assert!(
        ended.duration >= Duration::from_millis(2500),
        "from 1.5 s back to 0.5 s at 20 ms a frame: {ended:?}"
    );
}

#[test]
fn timestamps_going_back_are_one_episode_until_quiet() {
    let mut sim = Sim::new(HealthConfig::default());
    sim.run(5, 25, 1000, 5000);
    // The encoder restarts its timeline twice in a row on one connection.
    sim.lag_ms += 5000;
    sim.video_ts = 0;
    sim.audio_ts = 0;
    sim.run(1, 25, 1000, 5000);
    sim.lag_ms += 1000;
    sim.video_ts = 0;
    sim.audio_ts = 0;
    sim.run(3, 25, 1000, 5000);
    sim.assert_started(Rule::TimestampBackwards);
    assert_eq!(sim.rules(Phase::Ended), vec![]);
    sim.run(4, 25, 1000, 5000);
    sim.assert_ended(Rule::TimestampBackwards);
    let ended = sim.out.iter().find(|e| e.phase == Phase::Ended).unwrap();
    let Detail::TimestampBackwards {
        from_ms,
        to_ms,
        count,
        ..
    } = ended.detail
    else {
        panic!()
    };
    assert_eq!((to_ms, count), (0, 4), "both kinds, twice: {from_ms}");
    assert!(from_ms > 4900);
}

#[test]
fn finish_closes_open_episodes_and_ignores_later_input() {
    let mut sim = Sim::new(HealthConfig::default());
    sim.run(11, 25, 60_000, 5000);
    sim.assert_started(Rule::LongGop);
    sim.finish();
    sim.assert_ended(Rule::LongGop);
    assert_eq!(sim.health.active().count(), 0);
    let later = sim.at(sim.video_ts + 60_000);
    sim.health.handle_tick(later);
    sim.health
        .handle_frame(later, &frame(MediaKind::Video, 0, 10, true));
    assert!(!sim.health.has_output());
}

#[test]
fn video_the_hub_cannot_classify_has_no_gop_to_judge() {
    let t0 = Instant::now();
    let mut health = Health::new(HealthConfig::default(), t0);
    // An Enhanced RTMP picture of a FourCC nobody knows: no keyframe can be seen in it.
    let picture = Bytes::from_static(b"\xa3xxxx\0\0\0");
    for n in 0..1000u32 {
        let at = t0 + Duration::from_millis(u64::from(n) * 40);
        let frame = Frame::new(MediaKind::Video, n * 40, picture.clone());
        health.handle_frame(at, &frame);
        health.handle_tick(at);
    }
    assert!(!health.has_output());
}

#[test]
fn audio_running_ahead_at_once_is_a_drift_and_nothing_else() {
    let mut sim = Sim::new(HealthConfig::default());
    sim.run(12, 25, 1000, 5000);
    // The audio timestamps jump 1.5 s ahead and stay there.
    sim.audio_ts += 1500;
    for _ in 0..75 {
        let at = sim.at(sim.video_ts);
        while sim.audio_ts <= sim.video_ts + 1500 {
            sim.health
                .handle_frame(at, &frame(MediaKind::Audio, sim.audio_ts, 300, false));
            sim.audio_ts += 23;
        }
        let key = sim.video_ts.is_multiple_of(1000);
        sim.health
            .handle_frame(at, &frame(MediaKind::Video, sim.video_ts, 5000, key));
        sim.drain();
        sim.video_ts += 40;
    }
    sim.finish();
    sim.assert_one_episode(Rule::AvDrift);
}

#[test]
fn audio_only_streams_have_no_video_rules() {
    let mut health = Health::new(HealthConfig::default(), Instant::now());
    let t0 = Instant::now();
    for i in 0..2000u32 {
        let at = t0 + Duration::from_millis(u64::from(i) * 23);
        health.handle_frame(at, &frame(MediaKind::Audio, i * 23, 300, false));
        health.handle_tick(at);
    }
    assert!(!health.has_output());
}

#[test]
fn config_defaults_and_bounds() {
    let c = HealthConfig::default();
    assert_eq!(c.problem(), None);
    assert_eq!((c.video_gap_ms, c.gop_max_ms), (3000, 10_000), "Tencent's");
    let bad = HealthConfig {
        low_fps_ratio: 1.0,
        ..HealthConfig::default()
    };
    assert_eq!(bad.problem().map(|p| p.0), Some("health.low_fps_ratio"));
    let bad = HealthConfig {
        video_gap_ms: 100,
        ..HealthConfig::default()
    };
    assert_eq!(bad.problem().map(|p| p.0), Some("health.video_gap_ms"));
}

#[test]
fn the_outbox_keeps_the_newest_when_nobody_polls() {
    let mut outbox = Outbox::new();
    let t0 = Instant::now();
    for i in 0..20u64 {
        outbox.push(Episode {
            rule: Rule::VideoGap,
            phase: Phase::Started,
            detail: Detail::VideoGap { gap_ms: i },
            started: t0,
            duration: Duration::ZERO,
        });
    }
    let kept: Vec<_> = std::iter::from_fn(|| outbox.pop()).collect();
    assert_eq!(kept.len(), 2 * RULES);
    assert_eq!(kept[0].detail, Detail::VideoGap { gap_ms: 8 });
}

/// One input of the property tests.
#[derive(Debug, Clone)]
enum Input {
    Frame {
        after_ms: u16,
        video: bool,
        ts_step: i32,
        size: u16,
        keyframe: bool,
    },
    Tick {
        after_ms: u16,
    },
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        8 => (0u16..200, any::<bool>(), -2000i32..3000, 0u16..8000, any::<bool>()).prop_map(
            |(after_ms, video, ts_step, size, keyframe)| Input::Frame {
                after_ms,
                video,
                ts_step,
                size,
                keyframe,
            }
        ),
        1 => (0u16..6000).prop_map(|after_ms| Input::Tick { after_ms }),
    ]
}

proptest! {
    /// Whatever the publisher sends: no panic, each rule alternates start and end (never two starts or two ends in
    /// a row), the active list agrees, and after `finish` everything is closed.
    #[test]
    fn episodes_alternate_and_all_close(inputs in proptest::collection::vec(input(), 0..400)) {
        let t0 = Instant::now();
        let mut health = Health::new(HealthConfig::default(), t0);
        let mut now = t0;
        let mut ts: i64 = 0;
        let mut open = [false; RULES];
        let check = |health: &mut Health, open: &mut [bool; RULES]| -> Result<(), TestCaseError> {
            let mut n = 0;
            while let Some(e) = health.poll_episode() {
                n += 1;
                let was_open = open[e.rule.index()];
                prop_assert_eq!(was_open, e.phase == Phase::Ended, "{:?}", e);
                prop_assert_eq!(e.detail.rule(), e.rule);
                open[e.rule.index()] = e.phase == Phase::Started;
            }
            prop_assert!(n <= 2 * RULES);
            let active: Vec<Rule> = health.active().map(|(r, _)| r).collect();
            let expected: Vec<Rule> = Rule::ALL.into_iter().filter(|r| open[r.index()]).collect();
            prop_assert_eq!(active, expected);
            Ok(())
        };
        for i in inputs {
            match i {
                Input::Frame { after_ms, video, ts_step, size, keyframe } => {
                    now += Duration::from_millis(u64::from(after_ms));
                    ts = (ts + i64::from(ts_step)).clamp(0, i64::from(u32::MAX));
                    let kind = if video { MediaKind::Video } else { MediaKind::Audio };
                    health.handle_frame(now, &frame(kind, ts as u32, usize::from(size), keyframe));
                }
                Input::Tick { after_ms } => {
                    now += Duration::from_millis(u64::from(after_ms));
                    health.handle_tick(now);
                }
            }
            check(&mut health, &mut open)?;
        }
        health.finish(now);
        check(&mut health, &mut open)?;
        prop_assert_eq!(open, [false; RULES]);
    }

    /// A healthy stream whose frames arrive with network jitter (and any frame rate, GOP within the limit and
    /// bitrate) raises nothing.
    #[test]
    fn jitter_alone_raises_nothing(
        fps in 5u32..60,
        gop_frames in 1u32..200,
        bytes in 200usize..8000,
        jitter in proptest::collection::vec(0u64..300, 64),
    ) {
        let t0 = Instant::now();
        let mut health = Health::new(HealthConfig::default(), t0);
        let step = 1000 / fps;
        let gop_frames = gop_frames.min(9000 / step);
        let mut audio_ts = 0;
        for n in 0..(40 * fps) {
            let ts = n * step;
            let at = t0 + Duration::from_millis(u64::from(ts) + jitter[n as usize % jitter.len()]);
            while audio_ts <= ts {
                health.handle_frame(at, &frame(MediaKind::Audio, audio_ts, 200, false));
                audio_ts += 21;
            }
            health.handle_frame(at, &frame(MediaKind::Video, ts, bytes, n % gop_frames == 0));
            health.handle_tick(at);
            prop_assert!(health.poll_episode().is_none(), "at frame {}", n);
        }
    }
}
