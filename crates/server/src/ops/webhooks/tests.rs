use std::collections::HashSet;

use control::{Catalog, Store, WebhookState};

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
