//! Room session keys: per (app, openId), the key that member's join signature is made with.

use base64::Engine;
use rand::RngCore;
use sqlx::Row;

use super::apps::require_app;
use super::{validate, Store, StoreError};
use crate::clock::now_ms;

/// Longest session key accepted from an app's backend (WeChat's are 24 characters of base64).
const SESSION_KEY_MAX: usize = 256;

/// A member's session key. Its `Debug` hides the key, so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct RoomSession {
    /// The app's id.
    pub app_id: String,
    /// The member.
    pub open_id: String,
    /// The key (the literal string is the HMAC key).
    pub session_key: String,
    /// When it was set, Unix milliseconds.
    pub created_ms: i64,
}

impl std::fmt::Debug for RoomSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoomSession")
            .field("app_id", &self.app_id)
            .field("open_id", &self.open_id)
            .field("session_key", &"***")
            .field("created_ms", &self.created_ms)
            .finish()
    }
}

/// Checks a session key given by an app's backend, without echoing it: 1-256 printable ASCII characters.
fn check_session_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() || key.len() > SESSION_KEY_MAX {
        return Err(StoreError::InvalidSessionKey {
            why: format!(
                "it must have 1 to {SESSION_KEY_MAX} characters, not {}",
                key.len()
            ),
        });
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(StoreError::InvalidSessionKey {
            why: "only printable ASCII without spaces is allowed".into(),
        });
    }
    Ok(())
}

impl Store {
    /// Gives `open_id` of the app a fresh random key (16 bytes, base64, like WeChat's), replacing any old one.
    pub async fn create_room_session(
        &self,
        app_id: &str,
        open_id: &str,
    ) -> Result<RoomSession, StoreError> {
        let mut raw = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut raw);
        let key = base64::engine::general_purpose::STANDARD.encode(raw);
        self.put_room_session(app_id, open_id, &key).await
    }

    /// Sets the key of `open_id` in the app (chosen by the app's backend), replacing any old one.
    pub async fn put_room_session(
        &self,
        app_id: &str,
        open_id: &str,
        session_key: &str,
    ) -> Result<RoomSession, StoreError> {
        validate::stream_name("openId", open_id)?;
        check_session_key(session_key)?;
        let mut tx = self.begin_write().await?;
        require_app(&mut tx, app_id).await?;
        let session = RoomSession {
            app_id: app_id.to_owned(),
            open_id: open_id.to_owned(),
            session_key: session_key.to_owned(),
            created_ms: now_ms(),
        };
        sqlx::query(
            "INSERT INTO room_sessions (app, open_id, session_key, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (app, open_id) DO UPDATE SET session_key = excluded.session_key, created_at = excluded.created_at",
        )
        .bind(&session.app_id)
        .bind(&session.open_id)
        .bind(&session.session_key)
        .bind(session.created_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(session)
    }

    /// The key of `open_id` in the app, if it has one.
    pub async fn room_session(
        &self,
        app_id: &str,
        open_id: &str,
    ) -> Result<Option<RoomSession>, StoreError> {
        let row = sqlx::query(
            "SELECT app, open_id, session_key, created_at FROM room_sessions WHERE app = $1 AND open_id = $2",
        )
        .bind(app_id)
        .bind(open_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(RoomSession {
                app_id: r.try_get("app")?,
                open_id: r.try_get("open_id")?,
                session_key: r.try_get("session_key")?,
                created_ms: r.try_get("created_at")?,
            })
        })
        .transpose()
    }
}
