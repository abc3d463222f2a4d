//! Public worker threads, one per core: each runs a current-thread runtime on its own
//! `SO_REUSEPORT` socket (the kernel spreads connections over them) with its own backend
//! connection pools. A request, its phases and its backend call stay on one thread, so the
//! proxy path pays for no cross-thread wake-ups — the cost that dominated a multi-thread
//! runtime on a small machine (see BENCHMARKS.md).

use crate::config::LiveLimits;
use crate::pipeline::accept::{self, Handler};
use crate::tls::ServerTls;
use socket2::{Domain, Protocol, Socket, Type};
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

thread_local! {
    static WORKER: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The index of the public worker running on this thread, if any.
pub fn current() -> Option<usize> {
    WORKER.with(Cell::get)
}

/// How many workers when the config does not say: one per core.
pub fn default_count() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Running workers; `join` waits until each has drained its connections.
pub struct Workers {
    done: Vec<oneshot::Receiver<()>>,
}

impl Workers {
    pub async fn join(self) {
        for done in self.done {
            let _ = done.await;
        }
    }
}

/// Binds `count` sockets to `addr` and serves each on its own thread until `stop`.
pub fn start<H: Handler>(
    addr: SocketAddr,
    count: usize,
    handler: Arc<H>,
    tls: Option<Arc<ServerTls>>,
    limits: LiveLimits,
    stop: watch::Receiver<bool>,
) -> std::io::Result<(SocketAddr, Workers)> {
    let first = reuse_port_socket(addr)?;
    let bound = first.local_addr()?;
    let mut sockets = vec![first];
    for _ in 1..count.max(1) {
        sockets.push(reuse_port_socket(bound)?);
    }
    let mut done = Vec::with_capacity(sockets.len());
    for (index, socket) in sockets.into_iter().enumerate() {
        let (finished, on_finish) = oneshot::channel();
        let (handler, tls, limits, stop) =
            (handler.clone(), tls.clone(), limits.clone(), stop.clone());
        std::thread::Builder::new().name(format!("edgeway-public-{index}")).spawn(move || {
            WORKER.with(|w| w.set(Some(index)));
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => return tracing::error!(worker = index, error = %e, "worker runtime failed to start"),
            };
            runtime.block_on(async move {
                match TcpListener::from_std(socket) {
                    Ok(listener) => accept::serve(listener, tls, handler, limits, stop).await,
                    Err(e) => tracing::error!(worker = index, error = %e, "worker socket unusable"),
                }
            });
            let _ = finished.send(());
        })?;
        done.push(on_finish);
    }
    Ok((bound, Workers { done }))
}

fn reuse_port_socket(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}
