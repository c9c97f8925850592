use std::collections::HashSet;

use control::{Catalog, NewApp, Store, WebhookState};

use super::*;

#[test]
fn scrub_url_masks_the_url_and_its_secret_parts() {
    let url = "http://hook:pa55word@127.0.0.1:9/in?apikey=SECRET123";
    let text = format!("error for url ({url}): also pa55word and apikey=SECRET123");
    let scrubbed = scrub_url(&text, url);
    assert!(!scrubbed.contains("pa55word"), "{scrubbed}");
    assert!(!scrubbed.contains("SECRET123"), "{scrubbed}");
    assert!(scrubbed.contains("http://127.0.0.1:9/in"), "{scrubbed}");
}

/// A real failed request to a closed port: the error names the cause, not the URL or its credentials.
#[tokio::test]
async fn request_errors_carry_no_url() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("http://hook:pa55word@127.0.0.1:{port}/in?apikey=SECRET123");
    let e = reqwest::Client::new()
        .post(&url)
        .body("{}")
        .send()
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("SECRET123"),
        "reqwest shows the URL: {e}"
    );
    let text = request_error(e, &url);
    assert!(
        !text.contains("pa55word") && !text.contains("SECRET123"),
        "{text}"
    );
    assert!(!text.contains("/in"), "no URL at all: {text}");
    assert!(text.to_lowercase().contains("connect"), "{text}");
}

fn row(created_ms: i64) -> NewWebhook {
    NewWebhook {
        app_id: "app_x".into(),
        url: "http://127.0.0.1:9/in".into(),
        event: "push_start".into(),
        body: "{}".into(),
        created_ms,
    }
}

/// The worker prunes when it starts (and every `PRUNE_INTERVAL`): old delivered rows go, recent ones and pending
/// ones, however old, stay.
#[tokio::test]
async fn the_worker_prunes_old_finished_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&Store::sqlite_url(dir.path())).await.unwrap();
    let catalog = Catalog::load(store).await.unwrap();
    let s = catalog.store();
    let (now, hour) = (now_ms(), 3_600_000);
    let ids = s
        .enqueue_webhooks(&[
            row(now - 100 * hour),
            row(now - 100 * hour),
            row(now - 2 * hour),
        ])
        .await
        .unwrap();
    s.webhook_delivered(ids[0], 200, now - 99 * hour)
        .await
        .unwrap();
    // Old, but still waiting for a retry (not due during the test).
    s.webhook_failed(
        ids[1],
        "refused",
        None,
        now - 99 * hour,
        Some(now + 10 * hour),
    )
    .await
    .unwrap();
    s.webhook_delivered(ids[2], 200, now - hour).await.unwrap();

    let settings = WebhookSettings {
        retention_hours: 72,
        ..WebhookSettings::default()
    };
    let worker = Worker {
        settings,
        catalog: catalog.clone(),
        metrics: Arc::new(Metrics::default()),
        client: reqwest::Client::new(),
    };
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(worker.run(Arc::new(Notify::new()), shutdown.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let left = loop {
        let left = s.webhook_log(None, 10).await.unwrap();
        if left.len() == 2 || tokio::time::Instant::now() > deadline {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    shutdown.cancel();
    task.await.unwrap();
    let kept: HashSet<i64> = left.iter().map(|w| w.id).collect();
    assert_eq!(kept, HashSet::from([ids[1], ids[2]]), "{left:?}");
    assert!(left
        .iter()
        .any(|w| w.id == ids[1] && w.state == WebhookState::Pending));
}

/// A server with one app whose callback URL is a closed port (nothing is delivered: the rows stay pending).
async fn with_app(dir: &std::path::Path) -> (Catalog, Arc<App>) {
    let store = Store::open(&Store::sqlite_url(dir)).await.unwrap();
    store
        .create_app(&NewApp {
            name: "live".into(),
            callback_urls: vec!["http://127.0.0.1:9/in".into()],
            ..NewApp::default()
        })
        .await
        .unwrap();
    let catalog = Catalog::load(store).await.unwrap();
    let app = catalog.app("live").unwrap();
    (catalog, app)
}

fn start_change(app: &str, n: usize) -> Change {
    let mut event = StreamEvent::new(EventKind::PushStart, app, &format!("s{n}"), now_unix());
    event.sequence = format!("seq{n}");
    let mut end = event.clone();
    end.kind = EventKind::PushEnd;
    Change {
        event: Some(event),
        open: Some(Owed {
            id: format!("push:seq{n}"),
            end,
        }),
        close: None,
        interruption: None,
    }
}

/// Group commit: many durable events at once are stored in a few transactions, each caller released only once
/// its event is in the table, with its open session.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn durable_events_at_once_share_commits() {
    let dir = tempfile::tempdir().unwrap();
    let (catalog, app) = with_app(dir.path()).await;
    let metrics = Arc::new(Metrics::default());
    let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
    let settings = WebhookSettings {
        retry_interval_secs: 3600,
        ..WebhookSettings::default()
    };
    let hooks = Webhooks::start(
        &settings,
        catalog.clone(),
        metrics.clone(),
        "n1",
        shutdown.clone(),
        &tracker,
    );
    const N: usize = 200;
    let started = std::time::Instant::now();
    let waits: Vec<_> = (0..N)
        .map(|n| {
            let (hooks, app) = (hooks.clone(), app.clone());
            tokio::spawn(async move {
                let done = hooks.emit_durable(&app, start_change("live", n)).await;
                assert_eq!(
                    done,
                    Durable {
                        queued: true,
                        stored: true
                    }
                );
            })
        })
        .collect();
    for w in waits {
        w.await.unwrap();
    }
    let commits = metrics.webhook_outbox_commits();
    println!(
        "{N} durable events: {commits} commits, {} ms",
        started.elapsed().as_millis()
    );
    assert!(commits >= 1 && commits <= N as u64 / 4, "{commits} commits");
    let stored = catalog.store().webhook_log(None, 1000).await.unwrap();
    assert_eq!(stored.len(), N);
    assert_eq!(
        catalog
            .store()
            .open_sessions(Some("n1"))
            .await
            .unwrap()
            .len(),
        N
    );

    // Ends close their sessions; an app without callback URLs still stores a push's start with its row (no
    // webhook): its end owes an interruption record.
    for n in 0..N {
        let mut end = StreamEvent::new(EventKind::PushEnd, "live", &format!("s{n}"), now_unix());
        end.sequence = format!("seq{n}");
        assert!(hooks.change(
            &app,
            Change {
                event: Some(end),
                open: None,
                close: Some(format!("push:seq{n}")),
                interruption: None,
            }
        ));
    }
    let quiet = App {
        callback_urls: Vec::new(),
        ..(*app).clone()
    };
    let before = metrics.webhook_outbox_commits();
    let done = hooks.emit_durable(&quiet, start_change("live", N)).await;
    assert_eq!(
        done,
        Durable {
            queued: true,
            stored: true
        }
    );
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    assert!(metrics.webhook_outbox_commits() > before);
    let left = catalog.store().open_sessions(None).await.unwrap();
    assert_eq!(
        left.iter().map(|o| o.id.clone()).collect::<Vec<_>>(),
        [format!("push:seq{N}")]
    );
    assert_eq!(
        catalog.store().webhook_log(None, 1000).await.unwrap().len(),
        2 * N
    );
}

/// A database that does not answer: the durable wait runs out, the caller goes on and it is counted.
#[tokio::test]
async fn a_durable_wait_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (catalog, app) = with_app(dir.path()).await;
    let metrics = Arc::new(Metrics::default());
    let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
    let settings = WebhookSettings {
        durable_wait_ms: 200,
        ..WebhookSettings::default()
    };
    // Closed: every transaction fails ("pool closed"), as with a database that is down.
    catalog.store().close().await;
    let hooks = Webhooks::start(
        &settings,
        catalog,
        metrics.clone(),
        "n1",
        shutdown.clone(),
        &tracker,
    );
    let started = std::time::Instant::now();
    let done = hooks.emit_durable(&app, start_change("live", 1)).await;
    assert_eq!(
        done,
        Durable {
            queued: true,
            stored: false
        }
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(metrics
        .render(&media::Totals::default(), 0)
        .contains("mplive_webhook_durable_timeouts_total 1"));
    shutdown.cancel();
}

/// The restart sends the ends a killed run owed, once: the rows are gone after, and a second recovery sends none.
#[tokio::test]
async fn recovery_sends_each_owed_end_once() {
    let dir = tempfile::tempdir().unwrap();
    let (catalog, app) = with_app(dir.path()).await;
    let metrics = Arc::new(Metrics::default());
    let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
    let hooks = Webhooks::start(
        &WebhookSettings::default(),
        catalog.clone(),
        metrics,
        "n1",
        shutdown.clone(),
        &tracker,
    );
    for n in 0..3 {
        hooks.emit_durable(&app, start_change("live", n)).await;
    }
    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
    let mut finished = Vec::new();
    let sent = recover(&catalog, Some("n1"), |event, body| {
        finished.push(event.to_owned());
        body.insert("extra".into(), 1.into());
    })
    .await
    .unwrap();
    assert_eq!(sent, 3);
    assert_eq!(finished, ["push_end"; 3]);
    assert_eq!(recover(&catalog, None, |_, _| {}).await.unwrap(), 0);
    let log = catalog.store().webhook_log(None, 100).await.unwrap();
    let ends: Vec<_> = log.iter().filter(|w| w.event == "push_end").collect();
    assert_eq!(ends.len(), 3);
    let body: serde_json::Value = serde_json::from_str(&ends[0].body).unwrap();
    assert_eq!(body["extra"], 1);
    assert_eq!(body["event"], "push_end");
    assert!(body["sequence"].as_str().unwrap().starts_with("seq"));
}
