//! Checks that need the core's private state.

use std::time::Instant;

use super::*;
use crate::store::{Added, AdmitRefused, MemoryStore, ReplayCheck};
use crate::{sign, SignedFields};

struct Urls;
impl MediaUrls for Urls {
    fn push_url(&self, stream: &str) -> String {
        format!("rtmp://h/room/{stream}")
    }
    fn play_urls(&self, stream: &str) -> PlayUrls {
        PlayUrls {
            rtmp: format!("rtmp://h/room/{stream}"),
            flv: format!("http://h/room/{stream}.flv"),
        }
    }
}

const UNIX: u64 = 1_559_129_714;

fn core(seed: u64) -> Rooms {
    let config = Config {
        rng_seed: Some(seed),
        ..Config::default()
    };
    Rooms::new(config, Box::new(Urls))
}

fn room(group: &str) -> RoomKey {
    RoomKey {
        app: "wx1".into(),
        group: group.into(),
    }
}

/// Opens `conn`, sends a join signed with "key" (nonce `n{conn}`, or `nonce`), answers the key lookup, and returns
/// what came out after that, untouched (the `Admit` when the signature passed).
fn start_join(
    rooms: &mut Rooms,
    conn: ConnId,
    group: &str,
    open_id: &str,
    nonce: Option<&str>,
    now: Instant,
) -> Vec<Output> {
    rooms.handle_input(Input::Open { conn }, now);
    let ts = UNIX.to_string();
    let nonce = nonce.map_or_else(|| format!("n{conn}"), str::to_string);
    let signature = sign(
        &SignedFields {
            app_id: "wx1",
            group_id: group,
            nonce_str: &nonce,
            time_stamp: &ts,
        },
        "key",
    );
    let text = format!(
        r#"{{"type":"join","appId":"wx1","groupId":"{group}","openId":"{open_id}","nonceStr":"{nonce}","timeStamp":"{ts}","signature":"{signature}"}}"#
    );
    let input = Input::Text {
        conn,
        text: &text,
        unix_secs: UNIX,
    };
    rooms.handle_input(input, now);
    let mut after = Vec::new();
    while let Some(out) = rooms.poll_output() {
        match out {
            Output::LookupSessionKey { conn, .. } => {
                let key = SessionKey::Found("key".into());
                rooms.handle_input(Input::SessionKey { conn, key }, now)
            }
            other => after.push(other),
        }
    }
    after
}

/// Drains the core, answering store work with `store` in order and closing what it closes; returns every output.
fn drain(rooms: &mut Rooms, store: &mut MemoryStore, now: Instant) -> Vec<Output> {
    let mut all = Vec::new();
    while let Some(out) = rooms.poll_output() {
        if let Some(answer) = store.apply(&out) {
            rooms.handle_input(answer, now);
        }
        if let Output::Close { conn, .. } = out {
            rooms.handle_input(Input::Closed { conn }, now);
        }
        all.push(out);
    }
    all
}

/// Feeds `outputs` (what `start_join` returned) through `drain`'s treatment, then drains.
fn finish(
    rooms: &mut Rooms,
    store: &mut MemoryStore,
    outputs: Vec<Output>,
    now: Instant,
) -> Vec<Output> {
    let mut all = Vec::new();
    for out in outputs {
        if let Some(answer) = store.apply(&out) {
            rooms.handle_input(answer, now);
        }
        all.push(out);
    }
    all.extend(drain(rooms, store, now));
    all
}

/// The messages `conn` got, as JSON.
fn to(conn: ConnId, outputs: &[Output]) -> Vec<String> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { conn: c, message } if *c == conn => Some(message.to_json()),
            _ => None,
        })
        .collect()
}

/// The store work among `outputs`.
fn store_work(outputs: &[Output]) -> Vec<Output> {
    outputs
        .iter()
        .filter(|o| {
            matches!(
                o,
                Output::Admit { .. } | Output::RemoveMember { .. } | Output::EndRoom { .. }
            )
        })
        .cloned()
        .collect()
}

/// Joins all the way; returns the first message `conn` got.
fn join(
    rooms: &mut Rooms,
    store: &mut MemoryStore,
    conn: ConnId,
    group: &str,
    open_id: &str,
    now: Instant,
) -> String {
    let started = start_join(rooms, conn, group, open_id, None, now);
    let outputs = finish(rooms, store, started, now);
    to(conn, &outputs).into_iter().next().unwrap_or_default()
}

fn the_admit(outputs: &[Output]) -> Output {
    let admits: Vec<_> = outputs
        .iter()
        .filter(|o| matches!(o, Output::Admit { .. }))
        .cloned()
        .collect();
    assert_eq!(admits.len(), 1, "{outputs:?}");
    admits[0].clone()
}

/// Names are unique by construction; should two identities ever derive one name (a bug, a hash collision), the
/// second join is refused instead of being handed the first one's stream.
#[test]
fn a_join_whose_stream_belongs_to_another_identity_is_refused() {
    let now = Instant::now();
    let (mut rooms, mut store) = (core(1), MemoryStore::new());
    assert!(join(&mut rooms, &mut store, 1, "g", "a", now).starts_with(r#"{"type":"joined""#));
    // Pretend b's stream collides with a's.
    let taken = rooms.owners[&stream_name("wx1", "g", "a")].clone();
    rooms.owners.insert(stream_name("wx1", "g", "b"), taken);
    let reply = join(&mut rooms, &mut store, 2, "g", "b", now);
    assert!(
        reply.contains(&format!(r#""errCode":{}"#, codes::SYSTEM_ERROR)),
        "{reply}"
    );
    assert!(reply.contains("already belongs to openId a"), "{reply}");
    assert_eq!(rooms.members("wx1", "g"), ["a"]);
    assert_eq!(store.members(&room("g")).unwrap(), ["a"]);
    // The owner itself rejoining (a takeover from another socket) is not a conflict.
    assert!(join(&mut rooms, &mut store, 3, "g", "a", now).starts_with(r#"{"type":"joined""#));
}

/// The randomness rule of the sans-IO contract: the core's one random value (the secret that keys resume tokens)
/// comes from `Config::rng_seed`, so the same seed and inputs give the same outputs, tokens included.
#[test]
fn the_same_seed_gives_the_same_resume_tokens() {
    let now = Instant::now();
    let joined = |seed| join(&mut core(seed), &mut MemoryStore::new(), 1, "g", "a", now);
    let first = joined(7);
    assert!(first.contains(r#""resumeToken":""#), "{first}");
    assert_eq!(first, joined(7));
    assert_ne!(first, joined(8));
}

/// The store's yes for a socket that closed meanwhile is undone: nobody holds that membership here.
#[test]
fn an_admit_answered_after_the_socket_closed_is_undone() {
    let now = Instant::now();
    let (mut rooms, mut store) = (core(1), MemoryStore::new());
    let admit = the_admit(&start_join(&mut rooms, 1, "g", "a", None, now));
    let answer = store.apply(&admit).expect("an admit is answered");
    assert_eq!(store.room_of("wx1", "a"), Some("g"));
    rooms.handle_input(Input::Closed { conn: 1 }, now);
    rooms.handle_input(answer, now);
    let outputs = drain(&mut rooms, &mut store, now);
    assert_eq!(
        store_work(&outputs),
        [
            Output::RemoveMember {
                room: room("g"),
                open_id: "a".into()
            },
            Output::EndRoom { room: room("g") }
        ]
    );
    assert_eq!((store.room_count(), store.room_of("wx1", "a")), (0, None));
    assert_eq!(rooms.room_count(), 0);

    // Same with an exit while admitting: the join fails with -3, the store's add is undone.
    let admit = the_admit(&start_join(&mut rooms, 2, "g", "b", None, now));
    rooms.handle_input(
        Input::Text {
            conn: 2,
            text: r#"{"type":"exit","reqId":9}"#,
            unix_secs: UNIX,
        },
        now,
    );
    let outputs = finish(&mut rooms, &mut store, vec![admit], now);
    let got = to(2, &outputs);
    assert!(
        got[0].contains(&format!(r#""errCode":{}"#, codes::LEFT_WHILE_JOINING)),
        "{got:?}"
    );
    assert!(got[1].starts_with(r#"{"type":"exited""#), "{got:?}");
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(store.room_count(), 0);
    assert_eq!(rooms.room_count(), 0);
}

/// A second join on a socket whose first one waits for the store is refused as busy.
#[test]
fn a_join_while_admitting_is_busy() {
    let now = Instant::now();
    let (mut rooms, mut store) = (core(1), MemoryStore::new());
    let admit = the_admit(&start_join(&mut rooms, 1, "g", "a", None, now));
    let again = start_join(&mut rooms, 1, "g", "a", Some("other"), now);
    let got = to(1, &again);
    assert!(
        got[0].contains(&format!(r#""errCode":{}"#, codes::ALREADY_IN_ROOM)),
        "{got:?}"
    );
    assert!(got[0].contains("already joining group g"), "{got:?}");
    assert!(store_work(&again).is_empty());
    let outputs = finish(&mut rooms, &mut store, vec![admit], now);
    assert!(to(1, &outputs)[0].starts_with(r#"{"type":"joined""#));
}

/// Two sockets of one openId join at once and the store's answers come back in the reverse order: the later
/// answer takes the membership over, and core and store end with one member.
#[test]
fn concurrent_joins_of_one_open_id_answered_in_reverse_end_with_one_member() {
    let now = Instant::now();
    let (mut rooms, mut store) = (core(1), MemoryStore::new());
    let first = the_admit(&start_join(&mut rooms, 1, "g", "a", None, now));
    let second = the_admit(&start_join(&mut rooms, 2, "g", "a", None, now));
    // The store applies them in order...
    let answer1 = store.apply(&first).expect("answered");
    let answer2 = store.apply(&second).expect("answered");
    assert!(matches!(
        answer2,
        Input::Admitted {
            result: Ok(Added {
                already_member: true,
                ..
            }),
            ..
        }
    ));
    // ...the answers arrive the other way round.
    rooms.handle_input(answer2, now);
    let early = drain(&mut rooms, &mut store, now);
    assert!(to(2, &early)[0].starts_with(r#"{"type":"joined""#));
    rooms.handle_input(answer1, now);
    let late = drain(&mut rooms, &mut store, now);
    assert!(to(1, &late)[0].starts_with(r#"{"type":"joined""#));
    let got = to(2, &late);
    assert!(got[0].starts_with(r#"{"type":"interrupted""#), "{got:?}");
    assert!(
        got[0].contains(&format!(r#""errCode":{}"#, codes::REPLACED)),
        "{got:?}"
    );
    assert!(late.contains(&Output::Close {
        conn: 2,
        reason: CloseReason::Replaced
    }));
    assert!(store_work(&late).is_empty(), "{late:?}");
    assert_eq!(rooms.members("wx1", "g"), ["a"]);
    assert_eq!(store.members(&room("g")).unwrap(), ["a"]);
    assert_eq!(rooms.connection_count(), 1);
}

/// A member leaves while another socket's admit of the same openId is in flight: the removal waits for the
/// answer (sent now it would reach the store after the admit and undo it).
#[test]
fn a_removal_waits_for_an_admit_of_the_same_member_in_flight() {
    let now = Instant::now();
    let (mut rooms, mut store) = (core(1), MemoryStore::new());
    assert!(join(&mut rooms, &mut store, 1, "g", "a", now).starts_with(r#"{"type":"joined""#));
    let exit = |rooms: &mut Rooms, conn| {
        let text = r#"{"type":"exit"}"#;
        rooms.handle_input(
            Input::Text {
                conn,
                text,
                unix_secs: UNIX,
            },
            now,
        );
    };

    // Answered yes: the member is back, in core and store alike.
    let admit = the_admit(&start_join(&mut rooms, 2, "g", "a", None, now));
    exit(&mut rooms, 1);
    let answer = store.apply(&admit).expect("answered");
    let left = drain(&mut rooms, &mut store, now);
    assert!(store_work(&left).is_empty(), "{left:?}");
    rooms.handle_input(answer, now);
    let outputs = drain(&mut rooms, &mut store, now);
    assert!(to(2, &outputs)[0].starts_with(r#"{"type":"joined""#));
    assert_eq!(rooms.members("wx1", "g"), ["a"]);
    assert_eq!(store.members(&room("g")).unwrap(), ["a"]);

    // Answered no (say the replay memory refused it): then the deferred removal goes out, and the room ends.
    let admit = the_admit(&start_join(&mut rooms, 3, "g", "a", None, now));
    exit(&mut rooms, 2);
    assert!(store_work(&drain(&mut rooms, &mut store, now)).is_empty());
    drop(admit);
    let refused = Input::Admitted {
        conn: 3,
        result: Err(AdmitRefused::Replay(ReplayCheck::NonceReused)),
    };
    rooms.handle_input(refused, now);
    let outputs = drain(&mut rooms, &mut store, now);
    assert!(to(3, &outputs)[0].contains(&format!(r#""errCode":{}"#, codes::BAD_NONCE)));
    assert_eq!(
        store_work(&outputs),
        [
            Output::RemoveMember {
                room: room("g"),
                open_id: "a".into()
            },
            Output::EndRoom { room: room("g") }
        ]
    );
    assert_eq!((rooms.room_count(), store.room_count()), (0, 0));
    // An answer nobody asked for changes nothing.
    rooms.handle_input(
        Input::Admitted {
            conn: 3,
            result: Ok(Added {
                opened: true,
                already_member: false,
            }),
        },
        now,
    );
    assert!(drain(&mut rooms, &mut store, now).is_empty());
}

/// Leaving tells the store; the last member's leaving ends the room there too, after its removal.
#[test]
fn a_room_ending_removes_then_ends() {
    let now = Instant::now();
    let (mut rooms, mut store) = (core(1), MemoryStore::new());
    join(&mut rooms, &mut store, 1, "g", "a", now);
    join(&mut rooms, &mut store, 2, "g", "b", now);
    let exit = |rooms: &mut Rooms, store: &mut MemoryStore, conn| {
        let text = r#"{"type":"exit"}"#;
        let input = Input::Text {
            conn,
            text,
            unix_secs: UNIX,
        };
        rooms.handle_input(input, now);
        store_work(&drain(rooms, store, now))
    };
    let remove = |open_id: &str| Output::RemoveMember {
        room: room("g"),
        open_id: open_id.into(),
    };
    assert_eq!(exit(&mut rooms, &mut store, 1), [remove("a")]);
    assert_eq!(
        exit(&mut rooms, &mut store, 2),
        [remove("b"), Output::EndRoom { room: room("g") }]
    );
    assert_eq!(store.room_count(), 0);
}

#[test]
fn resume_tokens_name_their_room() {
    let now = Instant::now();
    let (mut rooms, mut store) = (core(1), MemoryStore::new());
    let joined = join(&mut rooms, &mut store, 1, "g-1.x", "a", now);
    let joined: serde_json::Value = serde_json::from_str(&joined).expect("json");
    let token = joined["resumeToken"].as_str().expect("a token");
    assert!(token.starts_with("wx1/g-1.x/"), "{token}");
    assert_eq!(token_room(token), Some(room("g-1.x")));

    let hex = "0123456789abcdef0123456789abcdef";
    assert_eq!(
        token_room(&format!("a/b/{hex}")).map(|k| k.group),
        Some("b".into())
    );
    for bad in [
        String::new(),
        hex.to_string(),
        format!("a/{hex}"),
        format!("/b/{hex}"),
        format!("a//{hex}"),
        format!("a/b/{hex}/"),
        format!("a/b/c/{hex}"),
        format!("a/b/{}", hex.to_uppercase()),
        format!("a/b/{}", &hex[1..]),
        format!("a/b/{hex}0"),
        "a/b/0123456789abcdef0123456789abcdeg".to_string(),
        "a/b/é123456789abcdef0123456789abcd".to_string(),
    ] {
        assert_eq!(token_room(&bad), None, "{bad:?}");
    }
}

mod delayed_store {
    //! The store answers late and out of order across connections (in order per connection, as a store applying
    //! requests in order answers them); sockets join, exit and close meanwhile. Once everything is answered, core
    //! and store hold the same members.

    use std::collections::VecDeque;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Step {
        Join {
            conn: ConnId,
            group: u8,
            user: u8,
        },
        Exit {
            conn: ConnId,
        },
        Close {
            conn: ConnId,
        },
        /// The store applies its oldest request.
        Apply,
        /// One held answer (the oldest of its connection) reaches the core.
        Answer {
            pick: usize,
        },
    }

    fn step() -> impl Strategy<Value = Step> {
        let conn = 0u64..6;
        prop_oneof![
            3 => (conn.clone(), 0u8..2, 0u8..3).prop_map(|(conn, group, user)| Step::Join { conn, group, user }),
            1 => conn.clone().prop_map(|conn| Step::Exit { conn }),
            1 => conn.prop_map(|conn| Step::Close { conn }),
            3 => Just(Step::Apply),
            3 => any::<usize>().prop_map(|pick| Step::Answer { pick }),
        ]
    }

    struct World {
        rooms: Rooms,
        store: MemoryStore,
        to_store: VecDeque<Output>,
        answers: Vec<Input<'static>>,
        nonce: u64,
        now: Instant,
    }

    impl World {
        /// Handles the core's outputs: lookups and closes at once, store work queued for the store.
        fn pump(&mut self) {
            while let Some(out) = self.rooms.poll_output() {
                match out {
                    Output::LookupSessionKey { conn, .. } => {
                        let key = SessionKey::Found("key".into());
                        self.rooms
                            .handle_input(Input::SessionKey { conn, key }, self.now);
                    }
                    Output::Close { conn, .. } => {
                        self.rooms.handle_input(Input::Closed { conn }, self.now)
                    }
                    Output::Send { .. } => {}
                    work => self.to_store.push_back(work),
                }
            }
        }

        fn apply(&mut self) {
            if let Some(work) = self.to_store.pop_front() {
                self.answers.extend(self.store.apply(&work));
            }
        }

        fn answer(&mut self, pick: usize) {
            if self.answers.is_empty() {
                return;
            }
            let conn_of = |i: &Input<'_>| match i {
                Input::Admitted { conn, .. } => *conn,
                _ => u64::MAX,
            };
            let conn = conn_of(&self.answers[pick % self.answers.len()]);
            let first = self
                .answers
                .iter()
                .position(|a| conn_of(a) == conn)
                .unwrap_or(0);
            let answer = self.answers.remove(first);
            self.rooms.handle_input(answer, self.now);
        }

        fn text(&mut self, conn: ConnId, text: &str) {
            self.rooms.handle_input(Input::Open { conn }, self.now);
            let input = Input::Text {
                conn,
                text,
                unix_secs: UNIX,
            };
            self.rooms.handle_input(input, self.now);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn core_and_store_agree_once_everything_is_answered(steps in prop::collection::vec(step(), 1..80)) {
            let mut w = World {
                rooms: core(3),
                store: MemoryStore::new(),
                to_store: VecDeque::new(),
                answers: Vec::new(),
                nonce: 0,
                now: Instant::now(),
            };
            for step in steps {
                match step {
                    Step::Join { conn, group, user } => {
                        w.nonce += 1;
                        let (group, nonce, ts) = (format!("g{group}"), format!("n{}", w.nonce), UNIX.to_string());
                        let signature = sign(
                            &SignedFields { app_id: "wx1", group_id: &group, nonce_str: &nonce, time_stamp: &ts },
                            "key",
                        );
                        let text = format!(
                            r#"{{"type":"join","appId":"wx1","groupId":"{group}","openId":"u{user}","nonceStr":"{nonce}","timeStamp":"{ts}","signature":"{signature}"}}"#
                        );
                        w.text(conn, &text);
                    }
                    Step::Exit { conn } => w.text(conn, r#"{"type":"exit"}"#),
                    Step::Close { conn } => w.rooms.handle_input(Input::Closed { conn }, w.now),
                    Step::Apply => w.apply(),
                    Step::Answer { pick } => w.answer(pick),
                }
                w.pump();
            }
            // Everything answered, in whatever state the sockets are.
            while !w.to_store.is_empty() || !w.answers.is_empty() {
                while !w.to_store.is_empty() {
                    w.apply();
                }
                w.answer(0);
                w.pump();
            }
            let mut in_store = 0;
            for (key, members) in w.store.rooms() {
                let mut members = members.to_vec();
                let mut here = w.rooms.members(&key.app, &key.group);
                members.sort();
                here.sort();
                prop_assert_eq!(&here, &members, "core and store disagree on {:?}", key);
                for m in &members {
                    prop_assert_eq!(w.store.room_of(&key.app, m), Some(key.group.as_str()));
                }
                in_store += 1;
            }
            prop_assert_eq!(in_store, w.rooms.room_count());
            prop_assert!(w.rooms.admits.is_empty() && w.rooms.unremoved.is_empty());
        }
    }
}
