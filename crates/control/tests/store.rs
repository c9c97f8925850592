//! The store, catalog and bootstrap against real databases: every scenario runs on SQLite and, when
//! `MPLIVE_TEST_POSTGRES_URL` is set, on PostgreSQL (see `common`).

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::TestDb;
use control::bootstrap::{bootstrap, ADMIN_TOKEN_FILE};
use control::{
    now_ms, AppPatch, AppPolicy, Catalog, KeyKind, NewApp, NewWebhook, OpenSession, OutboxWrite,
    OutboxWritten, RecordFormat, Store, StoreError, WebhookState,
};
use tokio_util::sync::CancellationToken;

scenarios!(
    migrations_are_idempotent,
    apps_crud,
    app_validation,
    rotate_key_changes_only_that_key,
    revision_bumps_on_every_change_only,
    channels,
    channel_ensure_is_race_safe,
    delete_app_cascades,
    forbids_expire,
    outbox,
    outbox_claim_race,
    outbox_prune,
    open_sessions_recover,
    admin_token_bootstrap,
    admin_token_from_env,
    concurrent_bootstrap,
    two_handles,
    catalog_sees_other_handles,
    record_policy_round_trips,
);

fn new_app(name: &str) -> NewApp {
    NewApp {
        name: name.into(),
        ..NewApp::default()
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

async fn migrations_are_idempotent(db: &TestDb) {
    let store = db.open().await;
    let app = store.create_app(&new_app("live")).await.unwrap();
    let rev = store.revision().await.unwrap();
    store.close().await;

    // Opening again (twice at once, too) applies nothing and loses nothing.
    let (a, b) = tokio::join!(Store::open(&db.url), Store::open(&db.url));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.app("live").await.unwrap(), Some(app));
    assert_eq!(b.revision().await.unwrap(), rev);
    a.close().await;
    b.close().await;
}

async fn apps_crud(db: &TestDb) {
    let store = db.open().await;
    assert!(store.apps().await.unwrap().is_empty());

    let before = now_ms();
    let live = store
        .create_app(&NewApp {
            name: "live".into(),
            policy: AppPolicy {
                max_players: Some(100),
                ..AppPolicy::default()
            },
            callback_urls: vec!["https://hooks.example/a".into()],
        })
        .await
        .unwrap();
    assert!(
        live.id.starts_with("app_") && is_hex(&live.id[4..], 16),
        "{}",
        live.id
    );
    for key in [
        &live.push_key,
        &live.play_key,
        &live.secret,
        &live.callback_key,
    ] {
        assert!(is_hex(key, 32), "{key}");
    }
    let keys: HashSet<_> = [
        &live.push_key,
        &live.play_key,
        &live.secret,
        &live.callback_key,
    ]
    .into_iter()
    .collect();
    assert_eq!(keys.len(), 4, "keys are independent");
    assert!(live.created_ms >= before && live.updated_ms == live.created_ms);
    assert_eq!(live.policy.max_players, Some(100));
    assert!(live.policy.push_auth && !live.policy.play_auth && live.policy.gop_cache);

    // Read back by name and by id, exactly as created.
    assert_eq!(store.app("live").await.unwrap().as_ref(), Some(&live));
    assert_eq!(store.app(&live.id).await.unwrap().as_ref(), Some(&live));
    assert_eq!(store.app("nope").await.unwrap(), None);

    // Names are unique.
    let err = store.create_app(&new_app("live")).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::AppExists { name } if name == "live"),
        "{err}"
    );

    // Sorted by name.
    store.create_app(&new_app("zoo")).await.unwrap();
    store.create_app(&new_app("edu")).await.unwrap();
    let names: Vec<_> = store
        .apps()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["edu", "live", "zoo"]);

    // A patch changes what it names and nothing else.
    let patch = AppPatch {
        play_auth: Some(true),
        max_players: Some(None),
        republish_grace_ms: Some(Some(3000)),
        callback_urls: Some(vec![
            "http://a.example/x".into(),
            "https://b.example/y".into(),
        ]),
        ..AppPatch::default()
    };
    let updated = store.update_app("live", &patch).await.unwrap();
    assert!(updated.policy.play_auth && updated.policy.push_auth);
    assert_eq!(updated.policy.max_players, None);
    assert_eq!(updated.policy.republish_grace_ms, Some(3000));
    assert_eq!(
        updated.callback_urls,
        ["http://a.example/x", "https://b.example/y"]
    );
    assert_eq!(
        (&updated.push_key, &updated.id, updated.created_ms),
        (&live.push_key, &live.id, live.created_ms)
    );
    assert!(updated.updated_ms >= live.updated_ms);
    assert_eq!(store.app(&live.id).await.unwrap(), Some(updated.clone()));

    let err = store
        .update_app("nope", &AppPatch::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::AppNotFound { name } if name == "nope"),
        "{err}"
    );

    // Delete by id, then by name; a second delete finds nothing.
    assert!(store.delete_app(&live.id).await.unwrap());
    assert!(!store.delete_app(&live.id).await.unwrap());
    assert!(store.delete_app("zoo").await.unwrap());
    assert_eq!(store.apps().await.unwrap().len(), 1);
    store.close().await;
}

async fn app_validation(db: &TestDb) {
    let store = db.open().await;
    for bad in ["", "a/b", "a b", "x.y", "app_0123456789abcdef"] {
        let err = store.create_app(&new_app(bad)).await.unwrap_err();
        assert!(
            matches!(
                &err,
                StoreError::InvalidName {
                    what: "app name",
                    ..
                }
            ),
            "{bad:?}: {err}"
        );
    }
    let long = "a".repeat(65);
    let err = store
        .create_app(&new_app(&long))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("65 characters long; the limit is 64"), "{err}");
    assert!(store.create_app(&new_app(&"a".repeat(64))).await.is_ok());

    let err = store
        .create_app(&NewApp {
            name: "hooks".into(),
            callback_urls: vec!["ftp://x".into()],
            ..NewApp::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::InvalidUrl { url, .. } if url == "ftp://x"),
        "{err}"
    );
    let err = store
        .create_app(&NewApp {
            name: "neg".into(),
            policy: AppPolicy {
                max_streams: Some(-1),
                ..AppPolicy::default()
            },
            ..NewApp::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::InvalidPolicy {
                field: "max_streams",
                value: -1,
                ..
            }
        ),
        "{err}"
    );

    let live = store.create_app(&new_app("live")).await.unwrap();
    let bad_patch = AppPatch {
        callback_urls: Some(vec!["hooks.example".into()]),
        ..AppPatch::default()
    };
    assert!(matches!(
        store.update_app("live", &bad_patch).await,
        Err(StoreError::InvalidUrl { .. })
    ));
    let bad_patch = AppPatch {
        republish_grace_ms: Some(Some(-5)),
        ..AppPatch::default()
    };
    assert!(matches!(
        store.update_app("live", &bad_patch).await,
        Err(StoreError::InvalidPolicy { .. })
    ));
    // Failed updates change nothing.
    assert_eq!(store.app("live").await.unwrap(), Some(live.clone()));

    let err = store.ensure_channel(&live.id, "a/b").await.unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::InvalidName {
                what: "channel name",
                ..
            }
        ),
        "{err}"
    );
    let err = store
        .forbid(&live.id, "", now_ms() + 1000, None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            StoreError::InvalidName {
                what: "stream name",
                ..
            }
        ),
        "{err}"
    );
    let err = store
        .set_admin_token_hash("mpl_plaintext")
        .await
        .unwrap_err();
    assert!(matches!(&err, StoreError::InvalidTokenHash { .. }), "{err}");
    assert!(
        !err.to_string().contains("mpl_plaintext"),
        "the value is not echoed: {err}"
    );
    store.close().await;
}

async fn rotate_key_changes_only_that_key(db: &TestDb) {
    let store = db.open().await;
    let mut app = store.create_app(&new_app("live")).await.unwrap();
    for kind in KeyKind::ALL {
        let rotated = store.rotate_key("live", kind).await.unwrap();
        let pick = |a: &control::App| match kind {
            KeyKind::Push => a.push_key.clone(),
            KeyKind::Play => a.play_key.clone(),
            KeyKind::Callback => a.callback_key.clone(),
            KeyKind::Secret => a.secret.clone(),
        };
        assert_ne!(pick(&rotated), pick(&app), "{kind} changed");
        assert!(is_hex(&pick(&rotated), 32));
        let mut expected = app.clone();
        match kind {
            KeyKind::Push => expected.push_key = rotated.push_key.clone(),
            KeyKind::Play => expected.play_key = rotated.play_key.clone(),
            KeyKind::Callback => expected.callback_key = rotated.callback_key.clone(),
            KeyKind::Secret => expected.secret = rotated.secret.clone(),
        }
        expected.updated_ms = rotated.updated_ms;
        assert_eq!(rotated, expected, "only {kind} changed");
        assert_eq!(
            store.app(&app.id).await.unwrap(),
            Some(rotated.clone()),
            "{kind} stored"
        );
        app = rotated;
    }
    let err = store.rotate_key("nope", KeyKind::Push).await.unwrap_err();
    assert!(matches!(err, StoreError::AppNotFound { .. }));
    store.close().await;
}

async fn revision_bumps_on_every_change_only(db: &TestDb) {
    let store = db.open().await;
    let mut last = store.revision().await.unwrap();
    let mut changed = |now: i64, what: &str| {
        assert!(now > last, "{what} bumps the revision ({last} -> {now})");
        last = now;
    };
    let app = store.create_app(&new_app("live")).await.unwrap();
    changed(store.revision().await.unwrap(), "create_app");
    store
        .update_app(
            "live",
            &AppPatch {
                gop_cache: Some(false),
                ..AppPatch::default()
            },
        )
        .await
        .unwrap();
    changed(store.revision().await.unwrap(), "update_app");
    store.rotate_key("live", KeyKind::Play).await.unwrap();
    changed(store.revision().await.unwrap(), "rotate_key");
    store.ensure_channel(&app.id, "room1").await.unwrap();
    changed(store.revision().await.unwrap(), "ensure_channel (new)");
    store
        .create_channel(&app.id, "room2", Some("Room 2"))
        .await
        .unwrap();
    changed(store.revision().await.unwrap(), "create_channel");
    store.delete_channel(&app.id, "room2").await.unwrap();
    changed(store.revision().await.unwrap(), "delete_channel");
    store
        .forbid(&app.id, "s", now_ms() + 60_000, Some("spam"))
        .await
        .unwrap();
    changed(store.revision().await.unwrap(), "forbid");
    store.unforbid(&app.id, "s").await.unwrap();
    changed(store.revision().await.unwrap(), "unforbid");
    store.create_app(&new_app("other")).await.unwrap();
    store.delete_app("other").await.unwrap();
    let now = store.revision().await.unwrap();
    assert!(now >= last + 2, "create + delete app");
    last = now;

    // What changes nothing leaves it alone.
    store.ensure_channel(&app.id, "room1").await.unwrap();
    assert!(!store.delete_channel(&app.id, "nope").await.unwrap());
    assert!(!store.unforbid(&app.id, "nope").await.unwrap());
    assert!(!store.delete_app("nope").await.unwrap());
    assert!(store.create_app(&new_app("live")).await.is_err());
    assert!(store.create_channel(&app.id, "room1", None).await.is_err());
    store
        .enqueue_webhooks(&[webhook(&app.id, "e", now_ms())])
        .await
        .unwrap();
    store.set_admin_token_hash(&"0".repeat(64)).await.unwrap();
    assert_eq!(store.revision().await.unwrap(), last);
    store.close().await;
}

async fn channels(db: &TestDb) {
    let store = db.open().await;
    let app = store.create_app(&new_app("live")).await.unwrap();
    assert!(store.channels(&app.id).await.unwrap().is_empty());

    let c = store
        .create_channel(&app.id, "room-1.hd", Some("Room one"))
        .await
        .unwrap();
    assert_eq!(c.title.as_deref(), Some("Room one"));
    assert_eq!(
        store.channel(&app.id, "room-1.hd").await.unwrap(),
        Some(c.clone())
    );
    let err = store
        .create_channel(&app.id, "room-1.hd", None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::ChannelExists { channel, .. } if channel == "room-1.hd"),
        "{err}"
    );

    // ensure returns the existing channel untouched, or creates one without a title.
    assert_eq!(store.ensure_channel(&app.id, "room-1.hd").await.unwrap(), c);
    let a = store.ensure_channel(&app.id, "a").await.unwrap();
    assert_eq!(a.title, None);
    let names: Vec<_> = store
        .channels(&app.id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.channel)
        .collect();
    assert_eq!(names, ["a", "room-1.hd"]);

    // Channels belong to an app id; a name or an unknown id is AppNotFound.
    for missing in ["live", "app_ffffffffffffffff"] {
        assert!(
            matches!(
                store.ensure_channel(missing, "x").await,
                Err(StoreError::AppNotFound { .. })
            ),
            "{missing}"
        );
        assert!(matches!(
            store.create_channel(missing, "x", None).await,
            Err(StoreError::AppNotFound { .. })
        ));
        assert!(matches!(
            store.channels(missing).await,
            Err(StoreError::AppNotFound { .. })
        ));
    }
    let long_title = "t".repeat(300);
    assert!(matches!(
        store.create_channel(&app.id, "b", Some(&long_title)).await,
        Err(StoreError::InvalidName {
            what: "channel title",
            ..
        })
    ));

    assert!(store.delete_channel(&app.id, "a").await.unwrap());
    assert!(!store.delete_channel(&app.id, "a").await.unwrap());
    assert_eq!(store.channel(&app.id, "a").await.unwrap(), None);
    store.close().await;
}

async fn channel_ensure_is_race_safe(db: &TestDb) {
    let (s1, s2) = (db.open().await, db.open().await);
    let app = s1.create_app(&new_app("live")).await.unwrap();
    let rev = s1.revision().await.unwrap();
    // Sixteen callers on two handles (two "processes") race to create the same channel.
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let store = if i % 2 == 0 { s1.clone() } else { s2.clone() };
            let app_id = app.id.clone();
            tokio::spawn(async move { store.ensure_channel(&app_id, "race").await })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap().unwrap());
    }
    assert!(
        got.windows(2).all(|w| w[0] == w[1]),
        "everyone gets the same channel: {got:?}"
    );
    assert_eq!(s2.channels(&app.id).await.unwrap(), vec![got[0].clone()]);
    assert_eq!(
        s2.revision().await.unwrap(),
        rev + 1,
        "exactly one creation"
    );
    s1.close().await;
    s2.close().await;
}

async fn delete_app_cascades(db: &TestDb) {
    let store = db.open().await;
    let app = store.create_app(&new_app("live")).await.unwrap();
    let other = store.create_app(&new_app("other")).await.unwrap();
    let until = now_ms() + 60_000;
    for a in [&app, &other] {
        store.ensure_channel(&a.id, "c").await.unwrap();
        store.forbid(&a.id, "s", until, None).await.unwrap();
    }
    store
        .enqueue_webhooks(&[webhook(&app.id, "push_start", now_ms())])
        .await
        .unwrap();
    assert!(store.delete_app("live").await.unwrap());
    assert_eq!(store.channel(&app.id, "c").await.unwrap(), None);
    let forbids = store.forbids(now_ms()).await.unwrap();
    assert_eq!(forbids.len(), 1);
    assert_eq!(forbids[0].app_id, other.id);
    assert_eq!(store.channels(&other.id).await.unwrap().len(), 1);
    // The webhook log outlives the app.
    assert_eq!(store.webhook_log(Some(&app.id), 10).await.unwrap().len(), 1);
    // A new app of the same name is a new app: nothing of the old one comes back.
    let again = store.create_app(&new_app("live")).await.unwrap();
    assert_ne!(again.id, app.id);
    assert!(store.channels(&again.id).await.unwrap().is_empty());
    store.close().await;
}

async fn forbids_expire(db: &TestDb) {
    let store = db.open().await;
    let app = store.create_app(&new_app("live")).await.unwrap();
    let now = now_ms();
    let f = store
        .forbid(&app.id, "s1", now + 10_000, Some("abuse"))
        .await
        .unwrap();
    assert_eq!(
        (f.until_ms, f.reason.as_deref()),
        (now + 10_000, Some("abuse"))
    );
    store
        .forbid(&app.id, "s2", now + 20_000, None)
        .await
        .unwrap();

    assert_eq!(store.forbids(now).await.unwrap().len(), 2);
    let later: Vec<_> = store
        .forbids(now + 15_000)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.stream)
        .collect();
    assert_eq!(later, ["s2"], "s1 expired");
    assert!(
        store.forbids(now + 20_000).await.unwrap().is_empty(),
        "until is exclusive"
    );

    // Forbidding again replaces the time and reason.
    let f = store
        .forbid(&app.id, "s1", now + 30_000, None)
        .await
        .unwrap();
    let stored = store.forbids(now + 25_000).await.unwrap();
    assert_eq!(stored, vec![f]);

    assert!(store.unforbid(&app.id, "s1").await.unwrap());
    assert!(!store.unforbid(&app.id, "s1").await.unwrap());
    assert_eq!(store.forbids(now).await.unwrap().len(), 1);
    assert!(matches!(
        store
            .forbid("app_ffffffffffffffff", "s", now + 1, None)
            .await,
        Err(StoreError::AppNotFound { .. })
    ));
    store.close().await;
}

/// Pruning deletes delivered and given-up rows that ended before the cut-off, in batches, and never a pending one,
/// however old.
async fn outbox_prune(db: &TestDb) {
    let store = db.open().await;
    let t0 = 1_700_000_000_000;
    let old: Vec<NewWebhook> = (0..1010).map(|_| webhook("app_p", "e", t0)).collect();
    let ids = store.enqueue_webhooks(&old).await.unwrap();
    // 1 001 delivered long ago (more than one delete batch), one given up long ago, one given up recently,
    // one pending retry and the rest never attempted: the last two stay whatever their age.
    for id in &ids[..1001] {
        store.webhook_delivered(*id, 200, t0 + 1).await.unwrap();
    }
    let failed_old = ids[1001];
    store
        .webhook_failed(failed_old, "HTTP 500", Some(500), t0 + 2, None)
        .await
        .unwrap();
    let failed_new = ids[1002];
    store
        .webhook_failed(failed_new, "HTTP 500", Some(500), t0 + 10_000, None)
        .await
        .unwrap();
    let retrying = ids[1003];
    store
        .webhook_failed(retrying, "refused", None, t0 + 3, Some(t0 + 60_000))
        .await
        .unwrap();
    let cutoff = t0 + 5_000;
    assert_eq!(store.prune_webhooks(cutoff).await.unwrap(), 1002);
    let left = store.webhook_log(Some("app_p"), 2000).await.unwrap();
    assert_eq!(
        left.len(),
        8,
        "the recent failure, the retry and the untried"
    );
    assert!(left.iter().all(|w| w.state != WebhookState::Delivered));
    let kept: HashSet<i64> = left.iter().map(|w| w.id).collect();
    assert!(kept.contains(&failed_new) && kept.contains(&retrying));
    assert!(!kept.contains(&failed_old));
    // Pending rows are never pruned, even with a cut-off far in the future.
    assert_eq!(store.prune_webhooks(i64::MAX).await.unwrap(), 1);
    let left = store.webhook_log(Some("app_p"), 2000).await.unwrap();
    assert_eq!(left.len(), 7);
    assert!(left.iter().all(|w| w.state == WebhookState::Pending));
    assert_eq!(store.prune_webhooks(i64::MAX).await.unwrap(), 0);
    store.close().await;
}

fn webhook(app_id: &str, event: &str, created_ms: i64) -> NewWebhook {
    NewWebhook {
        app_id: app_id.into(),
        url: "https://hooks.example/in".into(),
        event: event.into(),
        body: format!(r#"{{"event":"{event}"}}"#),
        created_ms,
    }
}

fn open(id: &str, node: &str, started_ms: i64) -> OpenSession {
    OpenSession {
        id: id.into(),
        node: node.into(),
        app_id: "app_a".into(),
        event: "push_end".into(),
        body: format!(r#"{{"event":"push_end","sequence":"{id}"}}"#),
        started_ms,
    }
}

/// A start opens its session in the transaction of its webhook, an end closes it in the transaction of its own;
/// what is left after a crash is what a restart must end, and ending it twice (two nodes, two restarts) sends
/// nothing the second time.
async fn open_sessions_recover(db: &TestDb) {
    let store = db.open().await;
    let t0 = 1_700_000_000_000;
    let start = |id: &str, node: &str, at: i64| OutboxWrite {
        webhooks: vec![webhook("app_a", "push_start", at)],
        open: Some(open(id, node, at)),
        ..OutboxWrite::default()
    };
    let end = |id: &str, at: i64| OutboxWrite {
        webhooks: vec![webhook("app_a", "push_end", at)],
        close: Some(id.into()),
        only_if_open: true,
        ..OutboxWrite::default()
    };
    // One batch: three starts on two nodes, one of them ended in the same transaction.
    let written = store
        .write_outbox(&[
            start("push:a", "n1", t0),
            start("push:b", "n1", t0 + 1),
            start("push:c", "n2", t0 + 2),
            end("push:a", t0 + 3),
        ])
        .await
        .unwrap();
    assert_eq!(
        written,
        OutboxWritten {
            webhooks: 4,
            skipped: 0
        }
    );
    let left = store.open_sessions(Some("n1")).await.unwrap();
    assert_eq!(left, vec![open("push:b", "n1", t0 + 1)]);
    assert_eq!(store.open_sessions(Some("n2")).await.unwrap().len(), 1);
    assert!(store.open_sessions(Some("n3")).await.unwrap().is_empty());
    assert_eq!(store.open_sessions(None).await.unwrap().len(), 2);

    // The restart of n1 ends b; a second attempt (another node's takeover, a second restart) stores nothing.
    let written = store.write_outbox(&[end("push:b", t0 + 10)]).await.unwrap();
    assert_eq!(
        written,
        OutboxWritten {
            webhooks: 1,
            skipped: 0
        }
    );
    let written = store.write_outbox(&[end("push:b", t0 + 11)]).await.unwrap();
    assert_eq!(
        written,
        OutboxWritten {
            webhooks: 0,
            skipped: 1
        }
    );
    assert!(store.open_sessions(Some("n1")).await.unwrap().is_empty());
    // Without only_if_open the end is stored anyway (a session that never opened a row: an app without URLs).
    let plain = OutboxWrite {
        only_if_open: false,
        ..end("push:zz", t0 + 12)
    };
    assert_eq!(store.write_outbox(&[plain]).await.unwrap().webhooks, 1);
    // An open without a webhook (a recording file opened) and a rotation (close one, open the next) in one write.
    store
        .write_outbox(&[OutboxWrite {
            open: Some(open("record:x.flv", "n1", t0)),
            ..OutboxWrite::default()
        }])
        .await
        .unwrap();
    store
        .write_outbox(&[OutboxWrite {
            webhooks: vec![webhook("app_a", "record_done", t0 + 20)],
            open: Some(open("record:y.flv", "n1", t0 + 20)),
            close: Some("record:x.flv".into()),
            only_if_open: true,
            interruption: None,
        }])
        .await
        .unwrap();
    let left = store.open_sessions(Some("n1")).await.unwrap();
    assert_eq!(
        left.iter().map(|o| o.id.as_str()).collect::<Vec<_>>(),
        ["record:y.flv"]
    );
    let log = store.webhook_log(Some("app_a"), 100).await.unwrap();
    assert_eq!(log.len(), 7, "{log:?}");
    store.close().await;
}

async fn outbox(db: &TestDb) {
    let store = db.open().await;
    let t0 = 1_700_000_000_000;
    assert!(store.enqueue_webhooks(&[]).await.unwrap().is_empty());
    let ids = store
        .enqueue_webhooks(&[
            webhook("app_a", "push_start", t0),
            webhook("app_b", "push_start", t0 + 10),
            webhook("app_a", "push_end", t0 + 20),
        ])
        .await
        .unwrap();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // Due at their creation time, oldest first, limited.
    assert!(store.due_webhooks(t0 - 1, 10).await.unwrap().is_empty());
    let due = store.due_webhooks(t0 + 10, 10).await.unwrap();
    assert_eq!(due.iter().map(|w| w.id).collect::<Vec<_>>(), ids[..2]);
    let first = &due[0];
    assert_eq!(
        (first.state, first.attempts, first.next_attempt_ms),
        (WebhookState::Pending, 0, t0)
    );
    assert_eq!(
        (first.event.as_str(), first.body.as_str()),
        ("push_start", r#"{"event":"push_start"}"#)
    );
    assert_eq!(
        (
            first.last_status,
            first.last_error.as_deref(),
            first.delivered_ms
        ),
        (None, None, None)
    );
    assert_eq!(store.due_webhooks(t0 + 100, 1).await.unwrap().len(), 1);

    // Claiming: the second claim with the same expectation loses; a claimed webhook waits for its lease.
    assert!(store.claim_webhook(ids[0], t0, t0 + 30_000).await.unwrap());
    assert!(!store.claim_webhook(ids[0], t0, t0 + 30_000).await.unwrap());
    let due: Vec<_> = store
        .due_webhooks(t0 + 100, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(due, [ids[1], ids[2]]);
    assert_eq!(
        store.due_webhooks(t0 + 30_000, 10).await.unwrap()[0].id,
        ids[0],
        "due again when the lease ends"
    );

    // Delivered.
    store
        .webhook_delivered(ids[0], 200, t0 + 500)
        .await
        .unwrap();
    // Failed with a retry: pending, due at the retry time.
    assert!(store
        .claim_webhook(ids[1], t0 + 10, t0 + 30_000)
        .await
        .unwrap());
    store
        .webhook_failed(
            ids[1],
            "connection refused",
            None,
            t0 + 600,
            Some(t0 + 5_000),
        )
        .await
        .unwrap();
    // Failed for good.
    assert!(store
        .claim_webhook(ids[2], t0 + 20, t0 + 30_000)
        .await
        .unwrap());
    store
        .webhook_failed(ids[2], "HTTP 500", Some(500), t0 + 700, None)
        .await
        .unwrap();
    assert!(
        !store
            .claim_webhook(ids[2], t0 + 30_000, t0 + 60_000)
            .await
            .unwrap(),
        "failed is not claimable"
    );

    let log = store.webhook_log(None, 10).await.unwrap();
    assert_eq!(
        log.iter().map(|w| w.id).collect::<Vec<_>>(),
        [ids[2], ids[1], ids[0]],
        "newest first"
    );
    let (failed, retry, delivered) = (&log[0], &log[1], &log[2]);
    assert_eq!(
        (delivered.state, delivered.attempts, delivered.last_status),
        (WebhookState::Delivered, 1, Some(200))
    );
    assert_eq!(
        (delivered.delivered_ms, delivered.last_attempt_ms),
        (Some(t0 + 500), Some(t0 + 500))
    );
    assert_eq!(
        (retry.state, retry.attempts, retry.next_attempt_ms),
        (WebhookState::Pending, 1, t0 + 5_000)
    );
    assert_eq!(
        (retry.last_error.as_deref(), retry.last_status),
        (Some("connection refused"), None)
    );
    assert_eq!(
        (failed.state, failed.attempts, failed.last_status),
        (WebhookState::Failed, 1, Some(500))
    );
    assert_eq!(failed.last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(
        store
            .due_webhooks(t0 + 5_000, 10)
            .await
            .unwrap()
            .iter()
            .map(|w| w.id)
            .collect::<Vec<_>>(),
        [ids[1]]
    );

    // Filtered by app, limited.
    let a: Vec<_> = store
        .webhook_log(Some("app_a"), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.id)
        .collect();
    assert_eq!(a, [ids[2], ids[0]]);
    assert_eq!(store.webhook_log(Some("app_a"), 1).await.unwrap().len(), 1);
    assert!(store
        .webhook_log(Some("app_zzz"), 10)
        .await
        .unwrap()
        .is_empty());

    // A retry succeeding clears the error and counts the attempts.
    store
        .webhook_delivered(ids[1], 204, t0 + 5_100)
        .await
        .unwrap();
    let w = &store.webhook_log(Some("app_b"), 1).await.unwrap()[0];
    assert_eq!(
        (w.state, w.attempts, w.last_error.as_deref()),
        (WebhookState::Delivered, 2, None)
    );

    // Long errors are cut.
    let more = store
        .enqueue_webhooks(&[webhook("app_c", "e", t0)])
        .await
        .unwrap();
    store
        .webhook_failed(more[0], &"x".repeat(5000), None, t0, Some(t0 + 1))
        .await
        .unwrap();
    let w = &store.webhook_log(Some("app_c"), 1).await.unwrap()[0];
    assert!(w.last_error.as_ref().unwrap().chars().count() <= 1001);

    assert!(matches!(
        store.webhook_delivered(999_999, 200, t0).await,
        Err(StoreError::WebhookNotFound { id: 999_999 })
    ));
    assert!(matches!(
        store.webhook_failed(999_999, "x", None, t0, None).await,
        Err(StoreError::WebhookNotFound { .. })
    ));
    store.close().await;
}

async fn outbox_claim_race(db: &TestDb) {
    // Two "servers" (two pools) see the same due webhooks and try to claim all of them at once: each webhook
    // goes to exactly one.
    let (s1, s2) = (db.open().await, db.open().await);
    let t0 = 1_700_000_000_000;
    let rows: Vec<_> = (0..20).map(|i| webhook("app_a", "e", t0 + i)).collect();
    let ids = s1.enqueue_webhooks(&rows).await.unwrap();
    let due = s1.due_webhooks(t0 + 100, 100).await.unwrap();
    assert_eq!(due.len(), 20);
    let claim_all = |store: Store, due: Vec<control::Webhook>| {
        tokio::spawn(async move {
            let mut won = Vec::new();
            for w in due {
                if store
                    .claim_webhook(w.id, w.next_attempt_ms, t0 + 60_000)
                    .await
                    .unwrap()
                {
                    won.push(w.id);
                }
            }
            won
        })
    };
    let mut reversed = due.clone();
    reversed.reverse();
    let (a, b) = (claim_all(s1.clone(), due), claim_all(s2.clone(), reversed));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let mut all: Vec<_> = a.iter().chain(&b).copied().collect();
    all.sort_unstable();
    assert_eq!(
        all,
        ids,
        "every webhook claimed exactly once (a: {}, b: {})",
        a.len(),
        b.len()
    );
    assert!(s2.due_webhooks(t0 + 100, 100).await.unwrap().is_empty());
    s1.close().await;
    s2.close().await;
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

async fn admin_token_bootstrap(db: &TestDb) {
    let store = db.open().await;
    let dir = db.dir.path().join("state");
    let first = bootstrap(&store, &dir, None).await.unwrap();
    let token = first
        .new_admin_token
        .clone()
        .expect("a new token on the first start");
    assert!(
        token.starts_with("mpl_") && is_hex(&token[4..], 40),
        "shape of the token"
    );
    assert!(first.admin.verify(&token));
    assert!(!first.admin.verify("mpl_wrong"));
    assert!(
        !format!("{first:?}").contains(&token),
        "Debug redacts the token"
    );
    let live = first.created_app.clone().expect("the default app");
    assert_eq!(live.name, "live");
    assert_eq!(live.policy, AppPolicy::default());

    // Only the hash is stored; the token is in the file, readable by the owner only.
    assert_eq!(
        store.admin_token_hash().await.unwrap(),
        Some(first.admin.hash_hex())
    );
    let path = dir.join(ADMIN_TOKEN_FILE);
    assert_eq!(std::fs::read_to_string(&path).unwrap().trim_end(), token);
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, [ADMIN_TOKEN_FILE], "no staging file left");

    // The next start (another process) reuses it and prints nothing, and does not create another app.
    let other = db.open().await;
    let second = bootstrap(&other, &dir, None).await.unwrap();
    assert_eq!(second.new_admin_token, None);
    assert!(second.created_app.is_none());
    assert!(second.admin.verify(&token));
    assert_eq!(other.apps().await.unwrap(), vec![live]);

    // Without any app, the next start makes `live` again.
    store.delete_app("live").await.unwrap();
    let third = bootstrap(&store, &dir, None).await.unwrap();
    assert_eq!(third.created_app.map(|a| a.name).as_deref(), Some("live"));
    assert_eq!(third.new_admin_token, None);
    store.close().await;
    other.close().await;
}

async fn admin_token_from_env(db: &TestDb) {
    let store = db.open().await;
    let dir = db.dir.path().join("env");
    let generated = bootstrap(&store, &dir, None)
        .await
        .unwrap()
        .new_admin_token
        .unwrap();

    // The environment wins, is not written to the file, and is not "new".
    let boot = bootstrap(&store, &dir, Some("env-token-123"))
        .await
        .unwrap();
    assert_eq!(boot.new_admin_token, None);
    assert!(boot.admin.verify("env-token-123"));
    assert!(!boot.admin.verify(&generated));
    assert_eq!(
        std::fs::read_to_string(dir.join(ADMIN_TOKEN_FILE))
            .unwrap()
            .trim_end(),
        generated
    );

    // ... and is what a later start without it uses.
    let later = bootstrap(&store, &dir, None).await.unwrap();
    assert_eq!(later.new_admin_token, None);
    assert!(later.admin.verify("env-token-123"));

    // On a fresh store with the env token, no file at all.
    let fresh_dir = db.dir.path().join("env-fresh");
    store.set_admin_token_hash(&"0".repeat(64)).await.unwrap();
    let boot = bootstrap(&store, &fresh_dir, Some("another-token"))
        .await
        .unwrap();
    assert!(boot.admin.verify("another-token"));
    assert!(!fresh_dir.join(ADMIN_TOKEN_FILE).exists());

    let err = bootstrap(&store, &dir, Some("tok\n"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("MPLIVE_ADMIN_TOKEN") && !err.contains("tok\n"),
        "{err}"
    );
    store.close().await;
}

async fn concurrent_bootstrap(db: &TestDb) {
    // Two processes start at once on an empty store: one `live`, one token, and both agree on it.
    let (s1, s2) = (db.open().await, db.open().await);
    let dir = db.dir.path().join("race");
    let (a, b) = tokio::join!(bootstrap(&s1, &dir, None), bootstrap(&s2, &dir, None));
    let (a, b) = (a.unwrap(), b.unwrap());
    let apps = s1.apps().await.unwrap();
    assert_eq!(apps.len(), 1);
    assert_eq!(
        a.created_app.is_some() as u8 + b.created_app.is_some() as u8,
        1,
        "exactly one created `live`"
    );
    let tokens: Vec<_> = [&a, &b]
        .iter()
        .filter_map(|x| x.new_admin_token.clone())
        .collect();
    assert_eq!(tokens.len(), 1, "exactly one token is new");
    assert!(a.admin.verify(&tokens[0]) && b.admin.verify(&tokens[0]));
    assert_eq!(
        std::fs::read_to_string(dir.join(ADMIN_TOKEN_FILE))
            .unwrap()
            .trim_end(),
        tokens[0]
    );
    s1.close().await;
    s2.close().await;
}

async fn two_handles(db: &TestDb) {
    // The CLI and the server each have their own pool on the same database.
    let (server, cli) = (db.open().await, db.open().await);
    let app = cli.create_app(&new_app("live")).await.unwrap();
    assert_eq!(server.app("live").await.unwrap(), Some(app.clone()));
    cli.forbid(&app.id, "s", now_ms() + 60_000, None)
        .await
        .unwrap();
    assert_eq!(server.forbids(now_ms()).await.unwrap().len(), 1);

    // Writes from both at once, with reads in between: nothing fails with "database is locked".
    let writer = |store: Store, prefix: &'static str, app_id: String| {
        tokio::spawn(async move {
            for i in 0..25 {
                store
                    .ensure_channel(&app_id, &format!("{prefix}{i}"))
                    .await
                    .unwrap();
                store
                    .forbid(&app_id, &format!("{prefix}{i}"), now_ms() + 60_000, None)
                    .await
                    .unwrap();
                store
                    .enqueue_webhooks(&[webhook(&app_id, prefix, now_ms())])
                    .await
                    .unwrap();
                store.apps().await.unwrap();
            }
        })
    };
    let a = writer(server.clone(), "s", app.id.clone());
    let b = writer(cli.clone(), "c", app.id.clone());
    a.await.unwrap();
    b.await.unwrap();
    assert_eq!(server.channels(&app.id).await.unwrap().len(), 50);
    assert_eq!(cli.webhook_log(Some(&app.id), 100).await.unwrap().len(), 50);
    server.close().await;
    cli.close().await;
}

async fn catalog_sees_other_handles(db: &TestDb) {
    let (server, cli) = (db.open().await, db.open().await);
    let live = cli.create_app(&new_app("live")).await.unwrap();
    let catalog = Catalog::load(server.clone()).await.unwrap();
    assert_eq!(catalog.app("live").as_deref(), Some(&live));
    assert_eq!(catalog.app_by_id_or_name(&live.id).as_deref(), Some(&live));
    assert_eq!(catalog.app_by_id_or_name("live").as_deref(), Some(&live));
    assert!(catalog.app("edu").is_none());
    assert!(
        !catalog.refresh_if_changed().await.unwrap(),
        "nothing changed yet"
    );

    // A change through the other handle shows after a refresh, not before.
    let updated = cli
        .update_app(
            "live",
            &AppPatch {
                play_auth: Some(true),
                ..AppPatch::default()
            },
        )
        .await
        .unwrap();
    let now = now_ms();
    cli.forbid(&live.id, "banned", now + 60_000, Some("tos"))
        .await
        .unwrap();
    assert!(!catalog.app("live").unwrap().policy.play_auth);
    assert!(catalog.refresh_if_changed().await.unwrap());
    assert!(!catalog.refresh_if_changed().await.unwrap());
    assert_eq!(catalog.app("live").as_deref(), Some(&updated));
    let f = catalog
        .forbidden(&live.id, "banned", now)
        .expect("forbidden");
    assert_eq!(f.reason.as_deref(), Some("tos"));
    assert!(
        catalog
            .forbidden(&live.id, "banned", now + 60_000)
            .is_none(),
        "expired"
    );
    assert!(catalog.forbidden(&live.id, "other", now).is_none());

    // The background refresh picks up changes by itself and stops when cancelled.
    let cancel = CancellationToken::new();
    let task = catalog.spawn_refresh(Duration::from_millis(20), cancel.clone());
    let edu = cli.create_app(&new_app("edu")).await.unwrap();
    cli.unforbid(&live.id, "banned").await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while catalog.app("edu").is_none() || catalog.forbidden(&live.id, "banned", now).is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the refresh task did not pick up the change"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(catalog.app_by_id_or_name(&edu.id).as_deref(), Some(&edu));
    assert_eq!(catalog.apps().len(), 2);
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the task ends when cancelled")
        .unwrap();
    assert_eq!(catalog.store().backend(), server.backend());
    server.close().await;
    cli.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_fresh_file_opened_by_two_processes_at_once() {
    // The server and the CLI started together on a data directory that does not exist yet.
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let url = Store::sqlite_url(&dir.path().join("new/data"));
        let (a, b) = tokio::join!(Store::open(&url), Store::open(&url));
        let (a, b) = (a.unwrap(), b.unwrap());
        a.create_app(&new_app("live")).await.unwrap();
        assert_eq!(b.apps().await.unwrap().len(), 1);
        #[cfg(unix)]
        assert_eq!(
            mode(&dir.path().join("new/data/mplive.db")),
            0o600,
            "the keys are for the owner only"
        );
        let mode: String = sqlx::Row::get(
            &sqlx::query("PRAGMA journal_mode")
                .fetch_one(&sqlx_pool(&url).await)
                .await
                .unwrap(),
            0,
        );
        assert_eq!(mode.to_lowercase(), "wal");
        a.close().await;
        b.close().await;
    }
}

async fn sqlx_pool(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(url).await.unwrap()
}

#[tokio::test]
async fn open_errors_are_specific_and_hide_passwords() {
    let err = Store::open("mysql://root:hunter2@localhost/db")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedUrl { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("mysql://root:***@localhost/db") && !msg.contains("hunter2"),
        "{msg}"
    );

    // Nothing listens on port 1.
    let err = Store::open("postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=2")
        .await
        .unwrap_err();
    let full = format!(
        "{err} / {err:?} / {:?}",
        std::error::Error::source(&err).map(|s| s.to_string())
    );
    assert!(matches!(err, StoreError::Connect { .. }), "{full}");
    assert!(!full.contains("hunter2"), "{full}");
    assert!(
        err.to_string().contains("postgres://u:***@127.0.0.1:1/db"),
        "{err}"
    );

    // A data directory that cannot be created.
    let file = tempfile::NamedTempFile::new().unwrap();
    let err = Store::open(&Store::sqlite_url(&file.path().join("sub")))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err}");
}

async fn record_policy_round_trips(db: &TestDb) {
    let store = db.open().await;
    let app = store.create_app(&new_app("rec")).await.unwrap();
    assert!(app.policy.record.is_empty(), "recording is off by default");
    // Given out of order and twice: stored sorted and once.
    let app = store
        .create_app(&NewApp {
            name: "rec2".into(),
            policy: AppPolicy {
                record: vec![RecordFormat::Mp4, RecordFormat::Flv, RecordFormat::Mp4],
                ..AppPolicy::default()
            },
            callback_urls: vec![],
        })
        .await
        .unwrap();
    assert_eq!(app.policy.record, [RecordFormat::Flv, RecordFormat::Mp4]);
    assert_eq!(store.app("rec2").await.unwrap().unwrap(), app);

    let patch = AppPatch {
        record: Some(vec![RecordFormat::Mp4]),
        ..AppPatch::default()
    };
    let changed = store.update_app("rec", &patch).await.unwrap();
    assert_eq!(changed.policy.record, [RecordFormat::Mp4]);
    assert_eq!(store.app("rec").await.unwrap().unwrap(), changed);
    // Other patches leave it alone; an empty set turns it off.
    let other = AppPatch {
        gop_cache: Some(false),
        ..AppPatch::default()
    };
    let changed = store.update_app("rec", &other).await.unwrap();
    assert_eq!(changed.policy.record, [RecordFormat::Mp4]);
    let off = AppPatch {
        record: Some(vec![]),
        ..AppPatch::default()
    };
    let changed = store.update_app("rec", &off).await.unwrap();
    assert!(changed.policy.record.is_empty());
    assert_eq!(store.app("rec").await.unwrap().unwrap(), changed);
}
