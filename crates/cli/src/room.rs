//! `mplive room`: join signatures for testing, and session keys straight from the database.

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use control::now_unix;
use rand::Rng;
use serde::Serialize;

use crate::admin::{find_app, print_json, runtime, StoreArgs};

/// `mplive room ...`
#[derive(Debug, Args)]
pub struct RoomArgs {
    #[command(subcommand)]
    command: RoomCommand,
}

#[derive(Debug, Subcommand)]
enum RoomCommand {
    /// Print the fields of a join message with its signature, as an app's backend computes it (JSON).
    Sign {
        /// The app name (the WeChat appid)
        #[arg(long)]
        app: String,
        /// The room's group id
        #[arg(long)]
        group: String,
        /// The member's openId
        #[arg(long)]
        open_id: String,
        /// The member's session key (from `mplive room session`)
        #[arg(long)]
        session_key: String,
        /// nonceStr: letters, digits, '_', '-', up to rooms.max_nonce_chars (32) [default: 16 random letters and digits]
        #[arg(long)]
        nonce: Option<String>,
        /// timeStamp in Unix seconds [default: now]
        #[arg(long)]
        time: Option<String>,
    },
    /// Create a random session key for a member (or register KEY), print {openId, sessionKey}.
    Session {
        /// App name or id
        app: String,
        /// The member's openId
        open_id: String,
        /// Register this key instead of a random one
        #[arg(long)]
        key: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Load test: many rooms of many members over WebSockets on loopback; prints event latency and memory per room.
    Bench(RoomBenchCommand),
}

/// Flags of `mplive room bench`: the load tool's, then where the database is (members' session keys are
/// written straight into it).
#[derive(Debug, Args)]
struct RoomBenchCommand {
    #[command(flatten)]
    bench: bench::room::RoomBenchArgs,
    #[command(flatten)]
    store: StoreArgs,
}

/// The room bench's way into the database named by the store flags.
struct StoreKeys<'a>(&'a StoreArgs);

impl bench::room::MemberKeys for StoreKeys<'_> {
    async fn register(&self, app: &str, open_ids: &[String], key: &str) -> Result<()> {
        let (store, _) = self.0.open().await?;
        let app = match store.app(app).await? {
            Some(app) => app,
            None => {
                store
                    .create_app(&control::NewApp {
                        name: app.to_string(),
                        ..control::NewApp::default()
                    })
                    .await?
            }
        };
        for open_id in open_ids {
            store.put_room_session(&app.id, open_id, key).await?;
        }
        store.close().await;
        Ok(())
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Signed {
    app_id: String,
    group_id: String,
    open_id: String,
    nonce_str: String,
    time_stamp: String,
    signature: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Session {
    open_id: String,
    session_key: String,
}

/// Runs `mplive room ...`.
pub fn run(args: RoomArgs) -> Result<()> {
    match args.command {
        RoomCommand::Sign {
            app,
            group,
            open_id,
            session_key,
            nonce,
            time,
        } => {
            let nonce = nonce.unwrap_or_else(|| {
                let mut rng = rand::thread_rng();
                (0..16)
                    .map(|_| char::from(rng.sample(rand::distributions::Alphanumeric)))
                    .collect()
            });
            let time = time.unwrap_or_else(|| now_unix().to_string());
            // The server takes one spelling only (docs/rooms-protocol.md): say so here rather than sign a join
            // it will refuse.
            if time.is_empty()
                || !time.bytes().all(|b| b.is_ascii_digit())
                || (time.len() > 1 && time.starts_with('0'))
            {
                bail!("--time {time:?}: expected Unix seconds as decimal digits (no sign or leading zeros)");
            }
            if nonce.is_empty()
                || !nonce
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
            {
                bail!("--nonce {nonce:?}: expected letters, digits, '_' and '-' (at most rooms.max_nonce_chars, 32 by default)");
            }
            let signature = rooms::sign(
                &rooms::SignedFields {
                    app_id: &app,
                    group_id: &group,
                    nonce_str: &nonce,
                    time_stamp: &time,
                },
                &session_key,
            );
            print_json(&Signed {
                app_id: app,
                group_id: group,
                open_id,
                nonce_str: nonce,
                time_stamp: time,
                signature,
            })
        }
        RoomCommand::Session {
            app,
            open_id,
            key,
            store,
        } => runtime()?.block_on(async move {
            let (store, _) = store.open().await?;
            let app = find_app(&store, &app).await?;
            let session = match key {
                Some(k) => store.put_room_session(&app.id, &open_id, &k).await?,
                None => store.create_room_session(&app.id, &open_id).await?,
            };
            store.close().await;
            print_json(&Session {
                open_id: session.open_id,
                session_key: session.session_key,
            })
        }),
        RoomCommand::Bench(args) => bench::room::run(args.bench, StoreKeys(&args.store)),
    }
}
