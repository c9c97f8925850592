//! HTTPS for the HTTP listener: the certificate files, the rustls configuration, and reloading the files when they
//! change.
//!
//! Mini-program clients only speak HTTPS/WSS, so the HTTP listener can run TLS itself (`tls_cert` / `tls_key`).
//! rustls asks [`Certificates`] for the certificate on every handshake; it hands out the current
//! `Arc<CertifiedKey>`, which [`watch`] replaces when the files change. Certificates renewed by certbot or a
//! Kubernetes secret are so picked up without a restart, and connections already open keep the certificate they
//! started with. A new file that does not load is logged and the previous certificate stays in use: a renewal
//! caught half-written, or a wrong file, must not take the server down.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::RwLock;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, ServerConfig};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// A TLS certificate or key that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read the TLS {what} file {}: {error} (check the tls_{what_key} setting or --tls-{what_key} and the file's permissions)", path.display(), what_key = setting_suffix(what))]
    Read {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The system's error (in the message, not a `source`, so it is not printed twice).
        error: io::Error,
    },
    /// A file was read but holds no usable PEM section of the kind expected.
    #[error("TLS {what} file {}: {reason}", path.display())]
    Pem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong and what the file should hold.
        reason: String,
    },
    /// The private key does not belong to the certificate.
    #[error("the TLS private key in {} does not belong to the certificate in {} (the certificate file must start with the server's own certificate, and the key file must be that certificate's key)", key.display(), cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused to build a server configuration.
    #[error("cannot set up TLS: {0}")]
    Config(String),
}

fn setting_suffix(what: &str) -> &'static str {
    if what == "certificate" {
        "cert"
    } else {
        "key"
    }
}

/// The certificate and key files and the certificate loaded from them; rustls asks it for the certificate on each
/// handshake.
pub(crate) struct Certificates {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    /// The files' stamps taken just before the start-up load, so a change while loading is seen by [`watch`].
    loaded_stamps: (Stamp, Stamp),
    /// Only ever held to clone or replace the `Arc`, never across an await or a file read.
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificates")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().clone())
    }
}

impl Certificates {
    /// Loads the certificate chain and private key (PEM) from the files.
    pub(crate) fn load(cert_path: PathBuf, key_path: PathBuf) -> Result<Arc<Self>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let loaded_stamps = (Stamp::of(&cert_path), Stamp::of(&key_path));
        let key = load_pair(&cert_path, &key_path, &provider)?;
        Ok(Arc::new(Self {
            cert_path,
            key_path,
            provider,
            loaded_stamps,
            current: RwLock::new(key),
        }))
    }

    /// The TLS acceptor of the HTTP listener: TLS 1.2 and 1.3, ALPN `http/1.1`, certificates from `self`.
    pub(crate) fn acceptor(self: &Arc<Self>) -> Result<TlsAcceptor, TlsError> {
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        // hyper serves HTTP/1 only here: a client offering h2 and http/1.1 learns in the handshake to use HTTP/1.1.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// What the files look like now.
    fn stamps(&self) -> (Stamp, Stamp) {
        (Stamp::of(&self.cert_path), Stamp::of(&self.key_path))
    }

    /// Loads the files again; on success the new certificate serves every later handshake.
    fn reload(&self) -> Result<(), TlsError> {
        let key = load_pair(&self.cert_path, &self.key_path, &self.provider)?;
        *self.current.write() = key;
        Ok(())
    }
}

const SUPPORTED_KEYS: &str =
    "RSA (2048 bits or more), ECDSA P-256 or P-384, and Ed25519 keys are supported";

/// Reads the certificate chain and key and checks that they belong together.
fn load_pair(
    cert_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = load_chain(cert_path)?;
    let key_der = load_key(key_path)?;
    let signing_key = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| TlsError::Pem {
            what: "private key",
            path: key_path.to_path_buf(),
            reason: format!("the key is not usable ({e}); {SUPPORTED_KEYS}"),
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // Unknown: the key type cannot tell its public key; the handshake will show whether it matches.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {
            Ok(Arc::new(certified))
        }
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::KeyMismatch {
                cert: cert_path.to_path_buf(),
                key: key_path.to_path_buf(),
            })
        }
        // Anything else comes from parsing the first certificate.
        Err(e) => Err(TlsError::Pem {
            what: "certificate",
            path: cert_path.to_path_buf(),
            reason: format!("the first certificate is not a valid X.509 certificate ({e})"),
        }),
    }
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Read {
        what,
        path: path.to_path_buf(),
        error,
    })
}

fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let text = read("certificate", path)?;
    let chain = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what: "certificate",
            path: path.to_path_buf(),
            reason: describe(e),
        })?;
    if chain.is_empty() {
        return Err(TlsError::Pem {
            what: "certificate",
            path: path.to_path_buf(),
            reason: "no certificate found: expected PEM '-----BEGIN CERTIFICATE-----' blocks, the server's \
                     certificate first, then its intermediates"
                .into(),
        });
    }
    Ok(chain)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = read("private key", path)?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|e| TlsError::Pem {
        what: "private key",
        path: path.to_path_buf(),
        reason: match e {
            pem::Error::NoItemsFound => "no private key found: expected an unencrypted PEM key, PKCS#8 \
                                         ('BEGIN PRIVATE KEY'), PKCS#1 ('BEGIN RSA PRIVATE KEY') or SEC1 \
                                         ('BEGIN EC PRIVATE KEY')"
                .into(),
            e => describe(e),
        },
    })
}

/// A PEM syntax error in words (the library's own shows markers as byte arrays).
fn describe(e: pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { end_marker } => {
            let label = String::from_utf8_lossy(&end_marker);
            format!("bad PEM: a {label} section has no '-----END {label}-----' line (is the file cut short?)")
        }
        pem::Error::IllegalSectionStart { line } => format!(
            "bad PEM: malformed section start '{}'",
            String::from_utf8_lossy(&line)
        ),
        e => format!("bad PEM ({e})"),
    }
}

/// A file's modification time and size, or `None` when it cannot be seen (being replaced, or removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp(Option<(SystemTime, u64)>);

impl Stamp {
    fn of(path: &Path) -> Self {
        // metadata() follows symbolic links, so a Kubernetes secret's link swap shows as a change of the target.
        Stamp(
            std::fs::metadata(path)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len()))),
        )
    }
}

/// Checks the files every `every` and reloads them when their modification time or size changed, until shutdown.
///
/// A failed load is logged once per change of the files and retried at their next change, so a certificate and key
/// replaced one after the other load once both are in place.
pub(crate) async fn watch(certs: Arc<Certificates>, every: Duration, shutdown: CancellationToken) {
    let mut seen = certs.loaded_stamps;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let c = certs.clone();
        // File reads block; keep them off the workers that serve connections.
        let checked = tokio::task::spawn_blocking(move || {
            // Stamps before the load: a file that changes while it is read is loaded again next time.
            let now = c.stamps();
            let result = (now != seen).then(|| c.reload());
            (now, result)
        })
        .await;
        let (now, result) = match checked {
            Ok(r) => r,
            Err(e) => {
                warn!("TLS certificate check failed: {e}");
                continue;
            }
        };
        seen = now;
        match result {
            None => {}
            Some(Ok(())) => info!(
                cert = %certs.cert_path.display(),
                key = %certs.key_path.display(),
                "TLS certificate reloaded"
            ),
            Some(Err(e)) => {
                warn!("{e}; keeping the certificate in use, will retry when the files change")
            }
        }
    }
}
