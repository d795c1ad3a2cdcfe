//! The accept loop and the connections. Each connection is served by hyper's HTTP/1.1
//! (keep-alive) with the `routes::handle` service, under three limits a client cannot get
//! around:
//! - a connection may wait at most `keep_alive_timeout` for a request's headers, counted from
//!   when it opened or sent its previous answer (hyper's header read timer), so an idle
//!   keep-alive connection and a slowloris both close;
//! - a body must arrive within `body_timeout` (in `routes`);
//! - at most `max_connections` are open: at the cap the longest-idle connection is closed to
//!   make room, and when none is idle new connections wait in the listen backlog.
//!
//! On shutdown the server stops accepting, lets in-flight requests finish (bounded), and
//! returns.

use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Either;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::base::maps::ShardedMap;
use crate::engine::app::App;
use crate::http::guard::Guard;
use crate::http::routes;

/// How long in-flight requests get to finish after the shutdown signal.
pub(crate) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// One open connection, as the cap sees it.
struct Slot {
    /// Requests being answered on it now.
    busy: AtomicUsize,
    /// When it last finished an answer (or opened), in ms since the server started.
    idle_since: AtomicU64,
    /// Cancelled to close it (gracefully: an idle connection closes at once).
    close: CancellationToken,
}

/// The open connections.
struct Connections {
    slots: ShardedMap<u64, Arc<Slot>>,
    next: AtomicU64,
    /// Signalled when a connection closes.
    freed: Notify,
    started: Instant,
}

impl Connections {
    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Counts a new connection; it closes with the server (`stopping`) or on its own token.
    fn open(&self, stopping: &CancellationToken) -> (u64, Arc<Slot>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            busy: AtomicUsize::new(0),
            idle_since: AtomicU64::new(self.now()),
            close: stopping.child_token(),
        });
        self.slots.insert(id, slot.clone());
        (id, slot)
    }

    /// Makes room for one more connection under `max`: closes the longest-idle one, or waits
    /// until one closes when all are busy.
    async fn make_room(&self, max: usize) {
        while self.slots.len() >= max {
            let freed = self.freed.notified();
            let idle = self
                .slots
                .iter()
                .filter(|s| s.busy.load(Ordering::Acquire) == 0 && !s.close.is_cancelled())
                // Ties (same millisecond) go to the older connection.
                .min_by_key(|s| (s.idle_since.load(Ordering::Acquire), *s.key()))
                .map(|s| s.close.clone());
            if let Some(close) = idle {
                close.cancel();
            }
            freed.await;
        }
    }
}

/// Serves `app` on an already-bound listener until `shutdown` completes.
pub(crate) async fn run(listener: TcpListener, app: App, shutdown: impl Future<Output = ()>) {
    let conns = Arc::new(Connections {
        slots: ShardedMap::default(),
        next: AtomicU64::new(0),
        freed: Notify::new(),
        started: Instant::now(),
    });
    // Who may reach it, read once from the settings.
    let guard = Arc::new(Guard::for_config(&app.config));
    let tracker = TaskTracker::new();
    let stopping = CancellationToken::new();
    let abort = CancellationToken::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = conns.make_room(app.config.max_connections) => {}
        }
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                // Counted before its task runs, so the next `make_room` sees it.
                let (id, slot) = conns.open(&stopping);
                let abort = abort.clone();
                let site = (app.clone(), guard.clone());
                tracker.spawn(serve(site, stream, conns.clone(), (id, slot), abort));
            }
            Err(e) => {
                // Typically out of file descriptors: back off instead of spinning.
                tracing::warn!(cause = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    drop(listener);
    tracker.close();
    stopping.cancel();
    app.events.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within the grace period");
        // Whatever is left (a client that stopped reading an answer) is cut off, so no
        // connection outlives the server.
        abort.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(1), tracker.wait()).await;
    }
}

/// A connection's busy mark, held by an open event stream and lifted when it drops.
struct Busy {
    slot: Arc<Slot>,
    conns: Arc<Connections>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.slot
            .idle_since
            .store(self.conns.now(), Ordering::Release);
        self.slot.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves one connection (`id` in `conns`) until it closes, is closed to make room, or the
/// server stops; `abort` cuts it off when it has not finished by the end of the grace period.
async fn serve(
    (app, guard): (App, Arc<Guard>),
    stream: TcpStream,
    conns: Arc<Connections>,
    (id, slot): (u64, Arc<Slot>),
    abort: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let header_timeout = Duration::from_millis(app.config.keep_alive_timeout_ms);
    let service = {
        let (slot, conns) = (slot.clone(), conns.clone());
        service_fn(move |req| {
            let (app, guard) = (app.clone(), guard.clone());
            let (slot, conns) = (slot.clone(), conns.clone());
            slot.busy.fetch_add(1, Ordering::AcqRel);
            async move {
                let mut answer = routes::handle(app, &guard, req).await;
                if let Ok(response) = &mut answer {
                    if let Either::Right(stream) = response.body_mut() {
                        // An event stream keeps its connection busy for as long as it is open,
                        // so the connection cap never picks it as idle.
                        slot.busy.fetch_add(1, Ordering::AcqRel);
                        stream.hold(Busy {
                            slot: slot.clone(),
                            conns: conns.clone(),
                        });
                    }
                }
                slot.idle_since.store(conns.now(), Ordering::Release);
                slot.busy.fetch_sub(1, Ordering::AcqRel);
                answer
            }
        })
    };
    let conn = http1::Builder::new()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let ended = tokio::select! {
        ended = conn.as_mut() => ended,
        _ = slot.close.cancelled() => {
            conn.as_mut().graceful_shutdown();
            tokio::select! {
                ended = conn.as_mut() => ended,
                _ = abort.cancelled() => Ok(()),
            }
        }
    };
    if let Err(e) = ended {
        tracing::debug!(cause = %e, "connection ended with an error");
    }
    conns.slots.remove(&id);
    conns.freed.notify_waiters();
}
