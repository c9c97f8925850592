//! A fresh database per test: a SQLite file in a temporary directory, or a new database on the PostgreSQL server
//! named by `MPLIVE_TEST_POSTGRES_URL` (start one with `scripts/postgres.sh start DIR`).
//!
//! Without that variable the PostgreSQL variants are skipped (and counted as skips by ./scripts/test), unless
//! peers are required (`MPLIVE_REQUIRE_PEERS=1` or `MPLIVE_REQUIRE_POSTGRES=1`), which makes them fail so that CI
//! cannot skip them silently.

#[path = "../../../../tests/peers.rs"]
mod peers;

use control::Store;
use rand::Rng;
use sqlx::Connection;
use tempfile::TempDir;

/// Runs each scenario (an `async fn(&TestDb)`) once on SQLite and once on PostgreSQL, as the tests
/// `{scenario}::sqlite` and `{scenario}::postgres`.
#[macro_export]
macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let db = $crate::common::TestDb::sqlite();
                super::$name(&db).await;
                db.cleanup().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if let Some(db) = $crate::common::TestDb::postgres().await {
                    super::$name(&db).await;
                    db.cleanup().await;
                }
            }
        }
    )*};
}

/// One test's database.
pub struct TestDb {
    /// Where [`Store::open`] connects.
    pub url: String,
    /// A scratch directory (the SQLite file lives here; bootstrap writes its token file here).
    pub dir: TempDir,
    /// For PostgreSQL: the server URL and the database to drop at the end.
    drop: Option<(String, String)>,
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = Store::sqlite_url(&dir.path().join("data"));
        TestDb {
            url,
            dir,
            drop: None,
        }
    }

    pub async fn postgres() -> Option<TestDb> {
        let server = match std::env::var("MPLIVE_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                peers::skip_for_missing_peer(
                    "the PostgreSQL variant",
                    "PostgreSQL (start one with `scripts/postgres.sh start DIR` and export MPLIVE_TEST_POSTGRES_URL)",
                    Some("MPLIVE_REQUIRE_POSTGRES"),
                );
                return None;
            }
        };
        sqlx::any::install_default_drivers();
        let name = format!("t_{:016x}", rand::thread_rng().gen::<u64>());
        let mut conn = sqlx::AnyConnection::connect(&server)
            .await
            .expect("connect to MPLIVE_TEST_POSTGRES_URL");
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create database");
        conn.close().await.ok();
        let url = with_database(&server, &name);
        let dir = tempfile::tempdir().expect("temporary directory");
        Some(TestDb {
            url,
            dir,
            drop: Some((server, name)),
        })
    }

    /// A new handle on the database (its own pool, like another process).
    pub async fn open(&self) -> Store {
        Store::open(&self.url).await.expect("open the store")
    }

    /// Drops the PostgreSQL database, best effort.
    pub async fn cleanup(self) {
        if let Some((server, name)) = &self.drop {
            if let Ok(mut conn) = sqlx::AnyConnection::connect(server).await {
                let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
                let _ = conn.close().await;
            }
        }
    }
}

/// `server` (a postgres:// URL) with its database replaced by `name`, keeping any query.
fn with_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (server, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

#[test]
fn database_urls() {
    assert_eq!(
        with_database("postgres://u@h:1/postgres", "t_1"),
        "postgres://u@h:1/t_1"
    );
    assert_eq!(
        with_database("postgres://u@h:1", "t_1"),
        "postgres://u@h:1/t_1"
    );
    assert_eq!(
        with_database("postgres://u@h/db?sslmode=disable", "t_1"),
        "postgres://u@h/t_1?sslmode=disable"
    );
}
