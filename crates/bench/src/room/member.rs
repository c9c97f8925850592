//! One room of the room bench: its members (each a `client::room::RoomClient`), the joins one after another,
//! then the exits, with the delay of every `membersChanged` each of them causes.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use client::room::{
    JoinParams, MuteConfig, Notice, RoomClient, RoomEvent, RoomOptions, RoomType, RoomUpdate,
};
use hdrhistogram::Histogram;
use tokio::sync::{mpsc, Mutex, Semaphore};

/// How long one expected message may take before the run fails.
const WAIT: Duration = Duration::from_secs(20);

/// The openId of member `member` of room `room`.
pub(super) fn open_id(room: u32, member: u32) -> String {
    format!("b{room}m{member}")
}

/// What one room task needs.
pub(super) struct RoomCtx {
    pub addr: String,
    pub app: String,
    /// The members' session key.
    pub key: &'static str,
    pub room: u32,
    pub members: u32,
    pub joins: Arc<Mutex<Histogram<u64>>>,
    pub leaves: Arc<Mutex<Histogram<u64>>>,
    /// Limits the rooms joining (or leaving) at the same time.
    pub gate: Arc<Semaphore>,
    pub all_joined: Arc<tokio::sync::Barrier>,
    pub go_leave: Arc<tokio::sync::Notify>,
}

struct Member {
    open_id: String,
    client: RoomClient,
    updates: mpsc::Receiver<RoomUpdate>,
}

impl Member {
    /// Starts a member's client (no socket before it joins). Small buffers: ten thousand sockets with
    /// tungstenite's default 128 KiB read buffers would cost 1.3 GB here.
    fn start(addr: &str, open_id: String) -> Result<Member> {
        let options = RoomOptions {
            read_buffer_bytes: 4096,
            write_buffer_bytes: 0,
            ..RoomOptions::default()
        };
        let (client, updates) = RoomClient::start(&format!("http://{addr}"), options)
            .with_context(|| format!("room client for {addr}"))?;
        Ok(Member {
            open_id,
            client,
            updates,
        })
    }

    /// Waits for the next event satisfying `want` (`what` names it for errors); returns when it happened (a
    /// server frame: when it was read). A refusal, an error or a lost membership fails the run.
    async fn wait(&mut self, what: &str, want: impl Fn(&RoomEvent) -> bool) -> Result<Instant> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let update = tokio::time::timeout_at(deadline, self.updates.recv())
                .await
                .with_context(|| {
                    format!("{}: no {what} within {} s", self.open_id, WAIT.as_secs())
                })?
                .with_context(|| {
                    format!("{}: client gone while waiting for {what}", self.open_id)
                })?;
            let Notice::Event(event) = update.notice else {
                continue;
            };
            match &event {
                RoomEvent::JoinFailed { err_code, err_msg }
                | RoomEvent::Interrupted { err_code, err_msg }
                | RoomEvent::ServerError { err_code, err_msg }
                | RoomEvent::Reply {
                    ok: false,
                    err_code,
                    err_msg,
                    ..
                } => bail!("{}: server error {err_code}: {err_msg}", self.open_id),
                e if want(e) => return Ok(update.at),
                _ => {}
            }
        }
    }
}

/// Joins the room's members one by one, waits for the signal, makes them exit one by one.
pub(super) async fn room(ctx: RoomCtx) -> Result<()> {
    let leave = ctx.go_leave.notified();
    tokio::pin!(leave);
    let (members, join_delays) = {
        let _place = ctx.gate.acquire().await.context("gate closed")?;
        join_all(&ctx).await?
    };
    record(&ctx.joins, &join_delays).await;
    // Register for the signal before arriving, so it cannot be missed.
    leave.as_mut().enable();
    ctx.all_joined.wait().await;
    leave.await;
    let _place = ctx.gate.acquire().await.context("gate closed")?;
    exit_all(&ctx, members).await
}

/// Joins the members one after another; returns them and the delay of each join's `membersChanged` at every
/// member already in.
async fn join_all(ctx: &RoomCtx) -> Result<(Vec<Member>, Vec<Duration>)> {
    let group = format!("bench{}", ctx.room);
    let mut members: Vec<Member> = Vec::new();
    let mut delays = Vec::new();
    for m in 0..ctx.members {
        let mut member = Member::start(&ctx.addr, open_id(ctx.room, m))?;
        let nonce = format!("{}-{}", member.open_id, now_unix());
        let ts = now_unix().to_string();
        let signature = rooms::sign(
            &rooms::SignedFields {
                app_id: &ctx.app,
                group_id: &group,
                nonce_str: &nonce,
                time_stamp: &ts,
            },
            ctx.key,
        );
        member.client.join(JoinParams {
            app_id: ctx.app.clone(),
            group_id: group.clone(),
            open_id: member.open_id.clone(),
            nonce_str: nonce,
            time_stamp: ts,
            signature,
            room_type: RoomType::Voice,
            mute_config: MuteConfig::default(),
        });
        // The delay counts from the join frame, as before the bench used the client: not the connect.
        let sent = member
            .wait("join sent", |e| matches!(e, RoomEvent::JoinSent))
            .await?;
        member
            .wait("joined", |e| matches!(e, RoomEvent::Joined { .. }))
            .await?;
        let newcomer = member.open_id.clone();
        for other in members.iter_mut() {
            let at = other
                .wait("membersChanged", |e| {
                    matches!(e, RoomEvent::MembersChanged { open_id_list, .. }
                        if open_id_list.contains(&newcomer))
                })
                .await?;
            delays.push(at.saturating_duration_since(sent));
        }
        members.push(member);
    }
    Ok((members, delays))
}

/// Makes the members exit one after another; each exit's `membersChanged` delay at every member still in goes
/// to `ctx.leaves`.
async fn exit_all(ctx: &RoomCtx, mut members: Vec<Member>) -> Result<()> {
    let mut delays = Vec::new();
    while let Some(mut leaving) = (!members.is_empty()).then(|| members.remove(0)) {
        let sent = Instant::now();
        leaving.client.exit();
        leaving
            .wait("exited", |e| matches!(e, RoomEvent::Exited))
            .await?;
        let gone = leaving.open_id.clone();
        for other in members.iter_mut() {
            let at = other
                .wait("membersChanged", |e| {
                    matches!(e, RoomEvent::MembersChanged { open_id_list, .. }
                        if !open_id_list.contains(&gone))
                })
                .await?;
            delays.push(at.saturating_duration_since(sent));
        }
    }
    record(&ctx.leaves, &delays).await;
    Ok(())
}

async fn record(h: &Mutex<Histogram<u64>>, delays: &[Duration]) {
    let mut h = h.lock().await;
    for d in delays {
        // Saturates at the histogram's top rather than failing the run.
        let _ = h.record((d.as_micros() as u64).clamp(1, 60_000_000));
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
