//! Interruption records on both databases (see `common` for PostgreSQL): written with a push's end in the
//! outbox transaction, once per push, filtered and pruned.

#[allow(dead_code)] // the shared helpers include some this file does not use
mod common;

use common::TestDb;
use control::store::{InterruptReason, Interruption, InterruptionFilter, OpenSession, OutboxWrite};

scenarios!(
    records_ride_with_the_end_once_per_push,
    records_are_filtered_newest_first,
    old_records_are_pruned_in_batches
);

const T0: i64 = 1_700_000_000_000;

fn record(session: &str, stream: &str, ended_ms: i64, reason: InterruptReason) -> Interruption {
    Interruption {
        id: 0,
        session: session.into(),
        node: "n1".into(),
        app: "live".into(),
        stream: stream.into(),
        publisher: "203.0.113.7:50122".into(),
        started_ms: ended_ms - 1000,
        ended_ms,
        duration_ms: Some(1000),
        errcode: 0,
        reason,
        message: String::new(),
    }
}

fn all(limit: i64) -> InterruptionFilter {
    InterruptionFilter {
        limit,
        ..InterruptionFilter::default()
    }
}

/// The end that closes a push's session writes its record; a second end of the same push (another node, a
/// restart) writes none; a record without a publisher takes the address from the closed session's end body.
async fn records_ride_with_the_end_once_per_push(db: &TestDb) {
    let store = db.open().await;
    let open = |id: &str| OpenSession {
        id: format!("push:{id}"),
        node: "n1".into(),
        app_id: "app_a".into(),
        event: "push_end".into(),
        body: r#"{"event":"push_end","user_ip":"198.51.100.9"}"#.into(),
        started_ms: T0,
    };
    let end = |id: &str, r: Interruption| OutboxWrite {
        close: Some(format!("push:{id}")),
        only_if_open: true,
        interruption: Some(r),
        ..OutboxWrite::default()
    };
    store
        .write_outbox(&[
            OutboxWrite {
                open: Some(open("a")),
                ..OutboxWrite::default()
            },
            OutboxWrite {
                open: Some(open("b")),
                ..OutboxWrite::default()
            },
        ])
        .await
        .unwrap();
    let mut lost = record("b", "cam", T0 + 20, InterruptReason::NodeLost);
    lost.publisher.clear();
    lost.duration_ms = None;
    let written = store
        .write_outbox(&[
            end("a", record("a", "cam", T0 + 10, InterruptReason::Closed)),
            end("b", lost),
            // The same push ended again: nothing more.
            end("a", record("a", "cam", T0 + 30, InterruptReason::Restart)),
        ])
        .await
        .unwrap();
    assert_eq!(written.skipped, 1);
    let got = store.interruptions(&all(10)).await.unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].session, "b");
    assert_eq!(got[0].reason, InterruptReason::NodeLost);
    assert_eq!(got[0].publisher, "198.51.100.9", "from the end body");
    assert_eq!(got[0].duration_ms, None);
    assert_eq!(got[1].session, "a");
    assert_eq!(got[1].reason, InterruptReason::Closed);
    assert_eq!(got[1].publisher, "203.0.113.7:50122");
    assert_eq!(got[1].duration_ms, Some(1000));
    assert!(got[0].id > got[1].id);
    // A push whose session row was never written (no only_if_open) is recorded; written twice, kept once.
    let plain = OutboxWrite {
        interruption: Some(record("c", "cam", T0 + 40, InterruptReason::Kicked)),
        ..OutboxWrite::default()
    };
    store.write_outbox(&[plain.clone(), plain]).await.unwrap();
    assert_eq!(store.interruptions(&all(10)).await.unwrap().len(), 3);
    store.close().await;
}

async fn records_are_filtered_newest_first(db: &TestDb) {
    let store = db.open().await;
    let writes: Vec<OutboxWrite> = InterruptReason::ALL
        .into_iter()
        .enumerate()
        .map(|(i, reason)| OutboxWrite {
            interruption: Some(record(
                &format!("s{i}"),
                if i % 2 == 0 { "even" } else { "odd" },
                T0 + i64::try_from(i).unwrap() * 1000,
                reason,
            )),
            ..OutboxWrite::default()
        })
        .collect();
    store.write_outbox(&writes).await.unwrap();
    let got = store.interruptions(&all(100)).await.unwrap();
    let reasons: Vec<_> = got.iter().rev().map(|r| r.reason).collect();
    assert_eq!(
        reasons,
        InterruptReason::ALL,
        "every reason stored and read back"
    );
    let filter = InterruptionFilter {
        app: Some("live".into()),
        stream: Some("odd".into()),
        from_ms: Some(T0 + 2000),
        to_ms: Some(T0 + 5000),
        limit: 100,
    };
    let sessions: Vec<_> = store
        .interruptions(&filter)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.session)
        .collect();
    assert_eq!(
        sessions,
        ["s5", "s3"],
        "ends within [from, to], newest first"
    );
    assert_eq!(store.interruptions(&all(2)).await.unwrap().len(), 2);
    let other_app = InterruptionFilter {
        app: Some("shop".into()),
        ..all(100)
    };
    assert!(store.interruptions(&other_app).await.unwrap().is_empty());
    store.close().await;
}

async fn old_records_are_pruned_in_batches(db: &TestDb) {
    let store = db.open().await;
    // More than one delete batch (1000) of old records, and a few recent ones.
    let mut writes: Vec<OutboxWrite> = (0..1203)
        .map(|i| OutboxWrite {
            interruption: Some(record(
                &format!("old{i}"),
                "cam",
                T0 + i,
                InterruptReason::Closed,
            )),
            ..OutboxWrite::default()
        })
        .collect();
    writes.extend((0..3).map(|i| OutboxWrite {
        interruption: Some(record(
            &format!("new{i}"),
            "cam",
            T0 + 10_000 + i,
            InterruptReason::Closed,
        )),
        ..OutboxWrite::default()
    }));
    store.write_outbox(&writes).await.unwrap();
    assert_eq!(store.prune_interruptions(T0 + 10_000).await.unwrap(), 1203);
    let left = store.interruptions(&all(5000)).await.unwrap();
    assert_eq!(left.len(), 3);
    assert!(left.iter().all(|r| r.session.starts_with("new")));
    assert_eq!(store.prune_interruptions(T0 + 10_000).await.unwrap(), 0);
    store.close().await;
}
