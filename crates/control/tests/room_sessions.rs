//! Room session keys on both databases (see `common` for PostgreSQL).

#[allow(dead_code)] // the shared helpers include some this file does not use
mod common;

use common::TestDb;
use control::{NewApp, StoreError};

scenarios!(
    room_sessions_round_trip,
    room_sessions_validation_hides_the_key
);

async fn room_sessions_round_trip(db: &TestDb) {
    let store = db.open().await;
    let app = store
        .create_app(&NewApp {
            name: "wx20afc706a711eefc".into(),
            ..NewApp::default()
        })
        .await
        .unwrap();
    assert_eq!(store.room_session(&app.id, "o1").await.unwrap(), None);
    let created = store.create_room_session(&app.id, "o1").await.unwrap();
    // 16 random bytes in standard base64: 24 characters ending in "==".
    assert_eq!(created.session_key.len(), 24);
    assert!(created.session_key.ends_with("=="));
    assert_eq!(
        store.room_session(&app.id, "o1").await.unwrap(),
        Some(created.clone())
    );
    let again = store.create_room_session(&app.id, "o1").await.unwrap();
    assert_ne!(
        again.session_key, created.session_key,
        "a new key replaces the old one"
    );
    let chosen = store
        .put_room_session(&app.id, "o1", "gDyVgzwa0mFz9uUP7M6GQQ==")
        .await
        .unwrap();
    let found = store.room_session(&app.id, "o1").await.unwrap().unwrap();
    assert_eq!(found.session_key, "gDyVgzwa0mFz9uUP7M6GQQ==");
    assert_eq!(found, chosen);
    assert!(
        !format!("{found:?}").contains("gDyV"),
        "Debug hides the key"
    );
    // Keys go with their app.
    assert!(store.delete_app(&app.id).await.unwrap());
    assert_eq!(store.room_session(&app.id, "o1").await.unwrap(), None);
    store.close().await;
}

async fn room_sessions_validation_hides_the_key(db: &TestDb) {
    let store = db.open().await;
    let app = store
        .create_app(&NewApp {
            name: "rooms".into(),
            ..NewApp::default()
        })
        .await
        .unwrap();
    let e = store
        .put_room_session(&app.id, "o1", "has space secret")
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidSessionKey { .. }));
    assert!(!e.to_string().contains("secret"));
    assert!(store.put_room_session(&app.id, "o1", "").await.is_err());
    assert!(matches!(
        store.put_room_session(&app.id, "a/b", "k").await,
        Err(StoreError::InvalidName { .. })
    ));
    assert!(matches!(
        store
            .put_room_session("app_0000000000000000", "o1", "k")
            .await,
        Err(StoreError::AppNotFound { .. })
    ));
    store.close().await;
}
