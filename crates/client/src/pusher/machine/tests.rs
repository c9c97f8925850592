use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Drives a machine from a fixed origin and collects (ms, output) pairs.
struct Run {
    m: PusherMachine,
    t0: Instant,
    now: Instant,
    seen: Vec<(u64, Output)>,
}

impl Run {
    fn new(config: MachineConfig) -> Self {
        let t0 = Instant::now();
        Self {
            m: PusherMachine::new(config),
            t0,
            now: t0,
            seen: Vec::new(),
        }
    }

    fn at(&mut self, t: u64) -> &mut Self {
        let target = self.t0 + ms(t);
        while let Some(d) = self.m.poll_timeout().filter(|d| *d <= target) {
            self.now = d;
            self.m.handle_timeout(d);
            self.drain();
        }
        self.now = target;
        self
    }

    fn input(&mut self, input: Input) -> &mut Self {
        self.m.handle_input(input, self.now);
        self.drain();
        self
    }

    fn drain(&mut self) {
        let t = (self.now - self.t0).as_millis() as u64;
        while let Some(o) = self.m.poll_output() {
            self.seen.push((t, o));
        }
    }

    /// Codes and actions in order, as short strings: "1001", "connect".
    fn trace(&self) -> Vec<String> {
        self.seen
            .iter()
            .map(|(_, o)| match o {
                Output::Event(e) => e.code.to_string(),
                Output::Action(Action::Connect) => "connect".into(),
                Output::Action(Action::Close) => "close".into(),
                Output::Action(Action::GiveUp) => "give_up".into(),
            })
            .collect()
    }
}

fn failed(detail: &str) -> Input {
    Input::ConnectFailed {
        detail: detail.into(),
    }
}

fn connected() -> Input {
    Input::TcpConnected { peer: None }
}

#[test]
fn happy_path_then_stop() {
    let mut r = Run::new(MachineConfig::default());
    r.input(Input::Start)
        .at(5)
        .input(connected())
        .at(20)
        .input(Input::Publishing)
        .at(1000)
        .input(Input::Stop);
    assert_eq!(r.trace(), ["connect", "1001", "1002", "close"]);
    assert_eq!(r.m.state(), PusherState::Stopped);
    assert_eq!(r.m.poll_timeout(), None);
}

#[test]
fn gives_up_after_max_retries_with_the_last_failure_in_the_message() {
    let mut r = Run::new(MachineConfig::default());
    r.input(Input::Start);
    for i in 0..4u64 {
        r.at(i * 1000 + 10).input(failed("connection refused"));
    }
    r.at(60_000);
    assert_eq!(
        r.trace(),
        [
            "connect", "3002", "1102", "connect", "3002", "1102", "connect", "3002", "1102",
            "connect", "3002", "-1307", "give_up"
        ]
    );
    let Some((_, Output::Event(last))) = r.seen.iter().rev().nth(1) else {
        panic!("no -1307");
    };
    assert!(last.message.contains("connection refused"), "{last:?}");
    assert_eq!(r.m.state(), PusherState::GaveUp);
    assert_eq!(r.m.reconnects(), 3);
}

#[test]
fn retry_fires_at_the_interval_not_before() {
    let mut r = Run::new(MachineConfig {
        retry_interval: ms(250),
        ..MachineConfig::default()
    });
    r.input(Input::Start).at(10).input(failed("x")).at(259);
    assert_eq!(r.trace(), ["connect", "3002", "1102"]);
    r.m.handle_timeout(r.t0 + ms(100));
    assert_eq!(r.m.poll_output(), None, "an early timeout call is harmless");
    r.at(260);
    assert_eq!(r.seen.last().map(|s| s.0), Some(260));
    assert_eq!(r.trace().last().map(String::as_str), Some("connect"));
}

#[test]
fn publishing_resets_the_retry_count() {
    let mut r = Run::new(MachineConfig {
        max_retries: 1,
        ..MachineConfig::default()
    });
    r.input(Input::Start).input(failed("a")).at(1000);
    r.input(connected()).input(Input::Publishing);
    r.input(Input::IoFailed {
        detail: "reset".into(),
    })
    .at(2000);
    r.input(failed("b"));
    assert_eq!(
        r.trace(),
        [
            "connect", "3002", "1102", "connect", "1001", "1002", "3005", "1102", "connect",
            "3002", "-1307", "give_up"
        ]
    );
}

#[test]
fn stale_inputs_are_ignored() {
    let mut r = Run::new(MachineConfig::default());
    r.input(Input::Publishing).input(failed("before start"));
    assert!(r.trace().is_empty());
    r.input(Input::Start).input(Input::Publishing);
    assert_eq!(r.trace(), ["connect"], "publishing before tcp_connected");
    r.input(failed("x")).input(Input::IoFailed {
        detail: "late".into(),
    });
    assert_eq!(
        r.trace(),
        ["connect", "3002", "1102"],
        "a failure while waiting"
    );
    r.input(Input::Start);
    assert_eq!(r.trace().len(), 3, "start while running");
}

#[test]
fn congestion_is_reported_once_per_repeat_interval() {
    let mut r = Run::new(MachineConfig::default());
    r.input(Input::Start).input(connected());
    r.input(Input::Congested { queued_ms: 1500 });
    assert_eq!(r.trace(), ["connect", "1001"], "1101 only while publishing");
    r.input(Input::Publishing);
    r.at(1000).input(Input::Congested { queued_ms: 1200 });
    r.at(2000).input(Input::Congested { queued_ms: 2200 });
    r.at(6000).input(Input::Congested { queued_ms: 2200 });
    r.at(7000).input(Input::Uncongested);
    r.at(8000).input(Input::Congested { queued_ms: 1100 });
    let busy: Vec<u64> = r
        .seen
        .iter()
        .filter(|(_, o)| matches!(o, Output::Event(e) if e.code == 1101))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(busy, [1000, 6000, 8000]);
}

#[test]
fn stop_while_waiting_cancels_the_retry_and_start_begins_again() {
    let mut r = Run::new(MachineConfig::default());
    r.input(Input::Start)
        .input(failed("x"))
        .at(500)
        .input(Input::Stop)
        .at(5000);
    assert_eq!(r.trace(), ["connect", "3002", "1102"]);
    assert_eq!(r.m.poll_timeout(), None);
    r.input(Input::Start);
    assert_eq!(r.trace().last().map(String::as_str), Some("connect"));
    assert_eq!(r.m.state(), PusherState::Connecting);
}

#[test]
fn pause_keeps_the_connection() {
    let mut r = Run::new(MachineConfig::default());
    r.input(Input::Start)
        .input(connected())
        .input(Input::Publishing);
    r.input(Input::Pause);
    assert!(r.m.is_paused());
    assert_eq!(r.m.state(), PusherState::Publishing);
    r.input(Input::Resume);
    assert!(!r.m.is_paused());
    assert_eq!(r.trace(), ["connect", "1001", "1002"]);
}

#[test]
fn refusal_message_is_the_servers_description() {
    let mut r = Run::new(MachineConfig::default());
    r.input(Input::Start)
        .input(connected())
        .input(Input::Refused {
            description: "signature_bad: txSecret does not match".into(),
        });
    let Some((_, Output::Event(e))) = r.seen.get(2) else {
        panic!("{:?}", r.seen);
    };
    assert_eq!(
        (e.code, e.message.as_str()),
        (3004, "signature_bad: txSecret does not match")
    );
}

#[test]
fn inputs_and_actions_use_the_vector_names() {
    let input: Input =
        serde_json::from_str(r#"{"type":"congested","queued_ms":1200}"#).expect("valid input");
    assert_eq!(input, Input::Congested { queued_ms: 1200 });
    let input: Input = serde_json::from_str(r#"{"type":"tcp_connected"}"#).expect("valid input");
    assert_eq!(input, Input::TcpConnected { peer: None });
    assert_eq!(
        serde_json::to_string(&Action::GiveUp).expect("serializable"),
        r#"{"type":"give_up"}"#
    );
}
