//! First-start setup: a default app so that pushing works out of the box, and the admin token of the HTTP API.
//!
//! The admin token is stored only as its SHA-256. When the server makes one up, it is shown once (returned in
//! [`Bootstrap::new_admin_token`]) and written to `{data_dir}/admin-token`, readable by the owner only.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::random;
use crate::store::{App, AppPolicy, NewApp, Store, StoreError};

/// The name of the app created when there is none.
pub const DEFAULT_APP: &str = "live";
/// The file, in the data directory, that receives a generated admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// What [`bootstrap`] found or made.
pub struct Bootstrap {
    /// Checks the admin token presented to the HTTP API.
    pub admin: AdminAuth,
    /// The admin token, only on the start that generated it: print it once.
    pub new_admin_token: Option<String>,
    /// The default app `live`, when this start created it.
    pub created_app: Option<App>,
}

impl fmt::Debug for Bootstrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bootstrap")
            .field("admin", &self.admin)
            .field(
                "new_admin_token",
                &self.new_admin_token.as_ref().map(|_| "<redacted>"),
            )
            .field("created_app", &self.created_app)
            .finish()
    }
}

/// Why [`bootstrap`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BootstrapError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `MPLIVE_ADMIN_TOKEN` is unusable (its value is not shown).
    #[error("MPLIVE_ADMIN_TOKEN is unusable: {why}")]
    BadEnvToken {
        /// What is wrong with it.
        why: &'static str,
    },
    /// The generated token could not be written to the data directory.
    #[error("cannot write the admin token to {}", path.display())]
    WriteToken {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Creates the default app if there is no app at all, and settles the admin token: `env_token`
/// (`MPLIVE_ADMIN_TOKEN`) if given, else the stored one, else a new one.
///
/// Two processes bootstrapping the same store at once end up with one `live` app and one admin token.
pub async fn bootstrap(
    store: &Store,
    data_dir: &Path,
    env_token: Option<&str>,
) -> Result<Bootstrap, BootstrapError> {
    let created_app = default_app(store).await?;

    if let Some(token) = env_token {
        check_env_token(token)?;
        let admin = AdminAuth::from_token(token);
        // The environment wins over whatever was stored, so that an operator who lost the token can set a new one.
        if store.admin_token_hash().await?.as_deref() != Some(admin.hash_hex().as_str()) {
            store.set_admin_token_hash(&admin.hash_hex()).await?;
        }
        return Ok(Bootstrap {
            admin,
            new_admin_token: None,
            created_app,
        });
    }

    if let Some(admin) = stored(store).await? {
        return Ok(Bootstrap {
            admin,
            new_admin_token: None,
            created_app,
        });
    }

    let token = format!("mpl_{}", random::hex(20));
    let admin = AdminAuth::from_token(&token);
    // Write the file aside first and store the hash second: a token is never stored that nobody could read, and
    // the loser of a race between two processes leaves the winner's file alone.
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    let staged = stage_token_file(data_dir, &token)?;
    let won = match store.init_admin_token_hash(&admin.hash_hex()).await {
        Ok(won) => won,
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            return Err(e.into());
        }
    };
    if !won {
        let _ = std::fs::remove_file(&staged);
        let admin = stored(store).await?.ok_or_else(|| StoreError::Corrupt {
            what: "admin token hash".into(),
            detail: "another process stored one and it vanished right away".into(),
        })?;
        return Ok(Bootstrap {
            admin,
            new_admin_token: None,
            created_app,
        });
    }
    std::fs::rename(&staged, &path)
        .map_err(|source| BootstrapError::WriteToken { path, source })?;
    Ok(Bootstrap {
        admin,
        new_admin_token: Some(token),
        created_app,
    })
}

/// Creates `live` if there is no app; `None` if apps exist or another process created it first.
async fn default_app(store: &Store) -> Result<Option<App>, StoreError> {
    if !store.apps().await?.is_empty() {
        return Ok(None);
    }
    let new = NewApp {
        name: DEFAULT_APP.to_owned(),
        policy: AppPolicy::default(),
        callback_urls: Vec::new(),
    };
    match store.create_app(&new).await {
        Ok(app) => Ok(Some(app)),
        Err(StoreError::AppExists { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Creates the app that carries room members' streams (`rooms.media_app`) when it does not exist, with the
/// default policy (push auth on: members push with the signed URLs the room hands out). `Some` when this call
/// created it; safe when several processes do it at once.
pub async fn ensure_media_app(store: &Store, name: &str) -> Result<Option<App>, StoreError> {
    if store.app(name).await?.is_some() {
        return Ok(None);
    }
    let new = NewApp {
        name: name.to_owned(),
        policy: AppPolicy::default(),
        callback_urls: Vec::new(),
    };
    match store.create_app(&new).await {
        Ok(app) => Ok(Some(app)),
        Err(StoreError::AppExists { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn stored(store: &Store) -> Result<Option<AdminAuth>, StoreError> {
    match store.admin_token_hash().await? {
        None => Ok(None),
        Some(hash) => {
            AdminAuth::from_hash_hex(&hash)
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt {
                    what: "admin token hash".into(),
                    detail: "not 64 hex digits; set MPLIVE_ADMIN_TOKEN to store a new one".into(),
                })
        }
    }
}

fn check_env_token(token: &str) -> Result<(), BootstrapError> {
    if token.is_empty() {
        return Err(BootstrapError::BadEnvToken {
            why: "it is empty; unset it to have a token generated",
        });
    }
    // A trailing newline from `$(cat file)` or a config template would make every request fail mysteriously.
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(BootstrapError::BadEnvToken {
            why: "it contains whitespace or control characters (a trailing newline?); clients send it in a header",
        });
    }
    Ok(())
}

/// Writes `token` to a new file next to the final one, created readable by the owner only, and returns its path.
fn stage_token_file(data_dir: &Path, token: &str) -> Result<PathBuf, BootstrapError> {
    let staged = data_dir.join(format!(".{ADMIN_TOKEN_FILE}.{}", random::hex(6)));
    let fail = |source| BootstrapError::WriteToken {
        path: staged.clone(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(fail)?;
    let mut options = std::fs::OpenOptions::new();
    // create_new: never follow or reuse something already there; the mode is set at creation so that the token
    // is never readable by others, not even for a moment.
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let result = options.open(&staged).and_then(|mut file| {
        file.write_all(format!("{token}\n").as_bytes())?;
        file.sync_all()
    });
    if let Err(source) = result {
        let _ = std::fs::remove_file(&staged);
        return Err(fail(source));
    }
    Ok(staged)
}

/// Checks admin tokens against the stored SHA-256. `Debug` does not show the hash.
#[derive(Clone)]
pub struct AdminAuth {
    sha256: [u8; 32],
}

impl fmt::Debug for AdminAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminAuth")
            .field("sha256", &"<redacted>")
            .finish()
    }
}

impl AdminAuth {
    /// Accepts exactly `token`.
    pub fn from_token(token: &str) -> AdminAuth {
        AdminAuth {
            sha256: Sha256::digest(token.as_bytes()).into(),
        }
    }

    /// Accepts the token whose SHA-256 is `hash` (64 hex digits); `None` if `hash` is not that.
    pub fn from_hash_hex(hash: &str) -> Option<AdminAuth> {
        // Checked first because from_str_radix would also take a sign.
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut sha256 = [0u8; 32];
        for (i, byte) in sha256.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hash.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(AdminAuth { sha256 })
    }

    /// The SHA-256 of the accepted token, lowercase hex, as the store keeps it.
    pub fn hash_hex(&self) -> String {
        random::to_hex(&self.sha256)
    }

    /// A key for signing something else (the recording links), derived from the token's hash:
    /// HMAC-SHA256(key = SHA-256(token), message = `label`). Only a holder of the token or the stored hash can
    /// make it, it changes with the admin token, and it reveals neither.
    pub fn derived_key(&self, label: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.sha256)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// `true` if `presented` is the token. Compares the hashes in constant time, so timing reveals nothing about
    /// how much of a guess was right.
    pub fn verify(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let diff = presented
            .iter()
            .zip(&self.sha256)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_auth_verifies_only_its_token() {
        let auth = AdminAuth::from_token("mpl_abc");
        assert!(auth.verify("mpl_abc"));
        assert!(!auth.verify("mpl_abd"));
        assert!(!auth.verify(""));
        let again = AdminAuth::from_hash_hex(&auth.hash_hex()).unwrap();
        assert!(again.verify("mpl_abc"));
        // Computed independently with `printf %s mpl_abc | sha256sum`.
        assert_eq!(
            auth.hash_hex(),
            "4d0924f91203bf7745391776ec1a186a93e58797578419af109ba12c350532d2"
        );
        assert!(AdminAuth::from_hash_hex("zz").is_none());
        assert!(AdminAuth::from_hash_hex(&"g".repeat(64)).is_none());
        assert!(AdminAuth::from_hash_hex(&"+f".repeat(32)).is_none());
        assert!(!format!("{auth:?}").contains(&auth.hash_hex()));
    }

    #[test]
    fn env_tokens_are_checked() {
        assert!(check_env_token("s3cret-token").is_ok());
        assert!(check_env_token("").is_err());
        assert!(check_env_token("tok\n").is_err());
    }
}
