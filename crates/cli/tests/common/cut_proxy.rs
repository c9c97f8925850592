//! A loopback TCP proxy whose connections a test can cut: what a phone sees when it moves from WiFi to 4G (the
//! TCP connection under a socket dies without a close handshake), on loopback.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// Forwards every connection it accepts to one target until [`CutProxy::cut`].
pub struct CutProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    live: Arc<Mutex<Vec<AbortHandle>>>,
    listener: AbortHandle,
}

impl CutProxy {
    /// A proxy on a free loopback port to `target` (`host:port`), on the current Tokio runtime.
    pub async fn start(target: &str) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let live: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let target = target.to_string();
        let (count, conns) = (accepted.clone(), live.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
                conns.lock().unwrap().push(conn.abort_handle());
            }
        });
        CutProxy {
            addr,
            accepted,
            live,
            listener: task.abort_handle(),
        }
    }

    /// Drops both sides of every connection open now: neither end gets a close frame.
    pub fn cut(&self) {
        for conn in self.live.lock().unwrap().drain(..) {
            conn.abort();
        }
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.listener.abort();
        self.cut();
    }
}
