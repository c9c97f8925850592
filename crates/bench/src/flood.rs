//! `--offer-flood N`: N WHEP offers `POST`ed as fast as a few connections allow, while the players play, to see
//! the server answer each one cleanly (201 up to `webrtc.max_sessions`, then 503) without the players noticing
//! (their frame gaps are in the report). The sessions made are `DELETE`d at the end of the flood.
//!
//! Every offer is the same SDP (one made by `client::whep::WhepSession`, its candidate a local port that never
//! answers), so the flood costs the bench a string clone per request; the sessions it makes never connect.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use client::whep::signal::{delete, post_offer};
use client::whep::{WhepError, WhepSession, WhepSetup};
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Requests in flight at once: as many HTTP/1.1 connections.
const CONCURRENCY: usize = 32;

/// What the flood saw.
#[derive(Debug, Default, Serialize)]
pub(super) struct FloodReport {
    /// Offers asked for.
    pub offers: u32,
    /// Offers sent before the deadline.
    pub sent: u32,
    /// Answered `201 Created`.
    pub created: u64,
    /// Refused, by HTTP status.
    pub refused: BTreeMap<u16, u64>,
    /// The first refusal's body (the server's reason).
    pub first_refusal: Option<String>,
    /// Requests that got no HTTP response (connection refused or reset, timed out).
    pub failed: u64,
    pub first_failure: Option<String>,
    /// From the first request to the last response.
    pub seconds: f64,
    pub offers_per_second: f64,
    /// Sessions made by the flood and `DELETE`d after it (200), of `created`.
    pub deleted: u64,
}

#[derive(Default)]
struct Tally {
    report: FloodReport,
    resources: Vec<reqwest::Url>,
}

/// Sends `offers` offers to `url` until `deadline`, then deletes the sessions they made.
pub(super) async fn run(url: String, offers: u32, deadline: Instant) -> Result<FloodReport> {
    let setup = WhepSetup::new()?;
    // The discard port: the server's checks to it go nowhere, as a flood's sessions should.
    let nowhere = SocketAddr::from(([127, 0, 0, 1], 9));
    let (_session, offer) = WhepSession::new(&setup, nowhere, std::time::Instant::now())?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()?;
    let (url, offer) = (Arc::new(url), Arc::new(offer));
    let next = Arc::new(AtomicU32::new(0));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..CONCURRENCY.min(offers as usize) {
        let (url, offer, next, tally, http) = (
            url.clone(),
            offer.clone(),
            next.clone(),
            tally.clone(),
            http.clone(),
        );
        tasks.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < offers && Instant::now() < deadline {
                let outcome =
                    tokio::time::timeout_at(deadline, post_offer(&http, &url, (*offer).clone()))
                        .await;
                let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
                t.report.sent += 1;
                match outcome {
                    Ok(Ok(answer)) => {
                        t.report.created += 1;
                        t.resources.extend(answer.resource);
                    }
                    Ok(Err(WhepError::Refused { status, body })) => {
                        *t.report.refused.entry(status).or_default() += 1;
                        t.report.first_refusal.get_or_insert(body);
                    }
                    Ok(Err(e)) => {
                        t.report.failed += 1;
                        t.report.first_failure.get_or_insert(e.to_string());
                    }
                    Err(_) => {
                        t.report.failed += 1;
                        t.report
                            .first_failure
                            .get_or_insert("no answer before the end of the window".into());
                    }
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let seconds = started.elapsed().as_secs_f64().max(0.001);
    let resources = {
        let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
        t.report.offers = offers;
        t.report.seconds = seconds;
        t.report.offers_per_second = f64::from(t.report.sent) / seconds;
        std::mem::take(&mut t.resources)
    };
    // Clean up: the flood's sessions would otherwise hold their places until the server's connect timeout.
    let resources = Arc::new(Mutex::new(resources));
    let deleted = Arc::new(AtomicU32::new(0));
    for _ in 0..CONCURRENCY {
        let (resources, deleted, http) = (resources.clone(), deleted.clone(), http.clone());
        tasks.spawn(async move {
            loop {
                let next = resources.lock().unwrap_or_else(|e| e.into_inner()).pop();
                let Some(resource) = next else { return };
                if let Ok(200) = delete(&http, &resource).await {
                    deleted.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let mut t = tally.lock().unwrap_or_else(|e| e.into_inner());
    t.report.deleted = u64::from(deleted.load(Ordering::Relaxed));
    Ok(std::mem::take(&mut t.report))
}
