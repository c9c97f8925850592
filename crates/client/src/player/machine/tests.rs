//! Unit tests of the player machine: what the JSON vectors cannot see (counters, state), and edge cases.

use super::*;
use crate::status::StatusEvent;

/// A machine with a clock in milliseconds from `base`, collecting `(ms, output)`.
struct Sim {
    m: PlayerMachine,
    base: Instant,
    out: Vec<(u64, Output)>,
}

impl Sim {
    fn new(config: PlayerConfig) -> Self {
        Self {
            m: PlayerMachine::new(config),
            base: Instant::now(),
            out: Vec::new(),
        }
    }

    fn t(&self, ms: u64) -> Instant {
        self.base + Duration::from_millis(ms)
    }

    fn input(&mut self, ms: u64, input: Input) {
        self.m.handle_input(input, self.t(ms));
        self.drain(ms);
    }

    fn tick(&mut self, ms: u64) {
        self.m.handle_timeout(self.t(ms));
        self.drain(ms);
    }

    fn drain(&mut self, ms: u64) {
        while let Some(o) = self.m.poll_output() {
            self.out.push((ms, o));
        }
    }

    fn video(&mut self, ms: u64, ts: u32, keyframe: bool) {
        self.input(
            ms,
            Input::Frame(Frame {
                kind: MediaKind::Video,
                keyframe,
                timestamp_ms: ts,
                width: keyframe.then_some(540),
                height: keyframe.then_some(960),
            }),
        );
    }

    /// Starts and gets the play going at 0/10/20 ms.
    fn started(config: PlayerConfig) -> Self {
        let mut s = Self::new(config);
        s.input(0, Input::Start);
        s.input(10, Input::TcpConnected);
        s.input(20, Input::PlayStarted);
        s.out.clear();
        s
    }

    fn codes(&self) -> Vec<i32> {
        self.out
            .iter()
            .filter_map(|(_, o)| match o {
                Output::Status(s) => Some(s.code),
                Output::Action(_) => None,
            })
            .collect()
    }

    fn take(&mut self) -> Vec<(u64, Output)> {
        std::mem::take(&mut self.out)
    }
}

fn status(ms: u64, c: i32) -> (u64, Output) {
    (ms, Output::Status(StatusEvent::new(c, "")))
}

fn act(ms: u64, a: Action) -> (u64, Output) {
    (ms, Output::Action(a))
}

/// Compares outputs ignoring status messages.
fn same(got: &[(u64, Output)], want: &[(u64, Output)]) {
    let strip = |v: &[(u64, Output)]| -> Vec<(u64, String)> {
        v.iter()
            .map(|(t, o)| match o {
                Output::Status(s) => (*t, s.code.to_string()),
                Output::Action(a) => (*t, format!("{a:?}")),
            })
            .collect()
    };
    assert_eq!(strip(got), strip(want));
}

#[test]
fn happy_path_reports_connect_begin_keyframe_play_in_order() {
    let mut s = Sim::new(PlayerConfig::default());
    s.input(0, Input::Start);
    s.input(10, Input::TcpConnected);
    s.input(20, Input::PlayStarted);
    for ts in (0..=1000).step_by(100) {
        s.video(30 + u64::from(ts), ts, ts == 0);
    }
    same(
        &s.take(),
        &[
            act(0, Action::Connect),
            status(10, code::CONNECTED),
            status(20, code::STREAM_BEGIN),
            status(30, code::FIRST_I_FRAME),
            status(1030, code::PLAY_BEGIN),
        ],
    );
    assert_eq!(s.m.state(), PlayerState::Playing);
    assert_eq!(s.m.buffered(s.t(1030)), Duration::from_millis(1000));
    assert_eq!(s.m.resolution(), Some((540, 960)));
    s.input(1100, Input::Stop);
    same(&s.take(), &[act(1100, Action::Close)]);
    assert!(s.m.is_finished());
}

#[test]
fn catch_up_drops_down_to_min_cache_and_counts() {
    let mut s = Sim::started(PlayerConfig::default());
    for ts in (0..=1000).step_by(100) {
        s.video(30, ts, ts == 0);
    }
    assert_eq!(s.codes(), [code::FIRST_I_FRAME, code::PLAY_BEGIN]);
    // At 530 the clock shows 500; 3 s more arrive at once: 4000 - 500 > max-cache.
    for ts in (1100..=4000).step_by(100) {
        s.video(530, ts, false);
    }
    // With 3600 the level passes max-cache (3100 ms): 600..2500 are skipped, 2600..3600 (min-cache) stay;
    // 3700..4000 follow.
    assert_eq!(s.m.dropped_frames(), 20);
    assert_eq!(s.m.buffered(s.t(530)), Duration::from_millis(1400));
    s.out.clear();
    s.tick(1929);
    assert!(s.out.is_empty());
    s.tick(1930);
    assert_eq!(s.codes(), [code::LOADING]);
}

#[test]
fn underrun_counts_a_stall_and_its_length() {
    let mut s = Sim::started(PlayerConfig::default());
    for ts in (0..=1000).step_by(100) {
        s.video(30, ts, ts == 0);
    }
    assert_eq!(s.m.poll_timeout(), Some(s.t(1030)));
    s.tick(1030);
    assert_eq!(s.m.stalls(), 1);
    assert_eq!(s.m.state(), PlayerState::Loading);
    // Frames come back at 2000: 1 s of media later playback resumes.
    for (i, ts) in (1100..=2100).step_by(100).enumerate() {
        s.video(2000 + 100 * i as u64, ts, false);
    }
    assert_eq!(
        s.codes(),
        [
            code::FIRST_I_FRAME,
            code::PLAY_BEGIN,
            code::LOADING,
            code::PLAY_BEGIN
        ]
    );
    // Stalled from 1030 (the buffer ran out) to 2900 (timestamp 2000 arrives: min-cache again).
    assert_eq!(s.m.stalled(s.t(3000)), Duration::from_millis(1870));
}

#[test]
fn a_late_timeout_call_stalls_from_when_the_buffer_ran_out() {
    let mut s = Sim::started(PlayerConfig::default());
    for ts in (0..=1000).step_by(100) {
        s.video(30, ts, ts == 0);
    }
    s.tick(1500);
    assert_eq!(s.m.stalled(s.t(1500)), Duration::from_millis(470));
}

#[test]
fn rtc_plays_at_the_first_keyframe_and_reports_a_frozen_picture() {
    let mut s = Sim::started(PlayerConfig {
        mode: PlayMode::Rtc,
        ..PlayerConfig::default()
    });
    s.video(30, 0, false); // before any keyframe: cannot be shown
    s.video(40, 40, true);
    assert_eq!(s.codes(), [code::FIRST_I_FRAME, code::PLAY_BEGIN]);
    assert_eq!(s.m.dropped_frames(), 1);
    assert_eq!(s.m.buffered(s.t(40)), Duration::ZERO);
    s.tick(1040);
    s.video(1300, 80, false);
    assert_eq!(
        s.codes(),
        [
            code::FIRST_I_FRAME,
            code::PLAY_BEGIN,
            code::LOADING,
            code::PLAY_BEGIN
        ]
    );
    assert_eq!(s.m.stalled(s.t(2000)), Duration::from_millis(260));
}

#[test]
fn rtc_audio_only_begins_after_a_second_of_audio() {
    let mut s = Sim::started(PlayerConfig {
        mode: PlayMode::Rtc,
        ..PlayerConfig::default()
    });
    for ts in (0..=1000).step_by(100) {
        let frame = Frame {
            kind: MediaKind::Audio,
            keyframe: false,
            timestamp_ms: ts,
            width: None,
            height: None,
        };
        s.input(30 + u64::from(ts), Input::Frame(frame));
    }
    same(&s.take(), &[status(1030, code::PLAY_BEGIN)]);
}

#[test]
fn a_frame_resets_the_failure_count() {
    let mut s = Sim::new(PlayerConfig {
        retries: 1,
        ..PlayerConfig::default()
    });
    s.input(0, Input::Start);
    s.input(
        10,
        Input::ConnectFailed {
            detail: "refused".into(),
        },
    );
    s.tick(1010);
    s.input(1020, Input::TcpConnected);
    s.input(1030, Input::PlayStarted);
    s.video(1040, 0, true);
    s.input(
        1050,
        Input::IoFailed {
            detail: "reset".into(),
        },
    );
    // Without the reset this second failure would give up.
    assert_eq!(s.m.state(), PlayerState::Reconnecting);
    assert_eq!(s.m.reconnects(), 2);
}

#[test]
fn not_found_spends_no_retries_and_max_wait_gives_up() {
    let mut s = Sim::new(PlayerConfig {
        retries: 0,
        max_wait: Some(Duration::from_millis(2500)),
        ..PlayerConfig::default()
    });
    s.input(0, Input::Start);
    // Each ask is answered 20 ms later; the next comes `retry_interval` after the answer.
    for k in 0..4u64 {
        let t = k * 1020;
        if k > 0 {
            s.tick(t);
        }
        s.input(t + 10, Input::TcpConnected);
        s.input(
            t + 20,
            Input::NotFound {
                detail: "404".into(),
            },
        );
    }
    same(
        &s.take(),
        &[
            act(0, Action::Connect),
            status(10, code::CONNECTED),
            act(20, Action::Close),
            status(20, code::LOADING),
            act(1020, Action::Connect),
            act(1040, Action::Close),
            act(2040, Action::Connect),
            act(2060, Action::Close),
            act(3060, Action::Connect),
            act(3080, Action::Close),
            status(3080, code::GAVE_UP),
            act(3080, Action::GiveUp),
        ],
    );
}

#[test]
fn stop_while_waiting_to_reconnect_has_nothing_to_close() {
    let mut s = Sim::new(PlayerConfig::default());
    s.input(0, Input::Start);
    s.input(
        10,
        Input::ConnectFailed {
            detail: "refused".into(),
        },
    );
    s.take();
    s.input(20, Input::Stop);
    assert!(s.out.is_empty());
    assert_eq!(s.m.state(), PlayerState::Stopped);
    // Late reports of the dead attempt are ignored.
    s.input(30, Input::IoFailed { detail: "x".into() });
    assert!(s.out.is_empty());
}

#[test]
fn inputs_out_of_phase_are_ignored() {
    let mut s = Sim::new(PlayerConfig::default());
    s.video(0, 0, true);
    s.input(0, Input::PlayStarted);
    s.input(0, Input::Stop);
    assert!(s.out.is_empty());
    assert_eq!(s.m.state(), PlayerState::Idle);
}

#[test]
fn start_after_the_end_begins_anew() {
    let mut s = Sim::started(PlayerConfig::default());
    s.input(
        30,
        Input::StreamEnded {
            detail: "eof".into(),
        },
    );
    assert_eq!(s.m.state(), PlayerState::Ended);
    s.take();
    s.input(40, Input::Start);
    same(&s.take(), &[act(40, Action::Connect)]);
}

#[test]
fn the_machine_is_send() {
    fn is_send<T: Send + Sync>() {}
    is_send::<PlayerMachine>();
}
