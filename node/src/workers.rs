//! Public worker threads, one per core: each runs a current-thread runtime on its own
//! `SO_REUSEPORT` socket (the kernel spreads connections over them) with its own backend
//! connection pools. A request, its phases and its backend call stay on one thread, so the
//! proxy path pays for no cross-thread wake-ups — the cost that dominated a multi-thread
//! runtime on a small machine (see BENCHMARKS.md).
//!
//! With HTTP/3 on, each worker also runs its own QUIC endpoint on a UDP socket bound with
//! `SO_REUSEPORT` to the same port: the kernel hashes a client's address pair to one socket, so
//! a QUIC connection's packets, its endpoint and connection drivers and its requests all stay on
//! one thread too.

use crate::config::LiveLimits;
use crate::pipeline::accept::quic::QuicConfig;
use crate::pipeline::accept::{self, Handler};
use crate::tls::ServerTls;
use socket2::{Domain, Protocol, Socket, Type};
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
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

/// Why the workers could not start.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("cannot listen on {addr} (TCP): {source}")]
    Tcp {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr} (UDP): {source}")]
    Udp {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Binds `count` TCP sockets to `addr` (and as many UDP sockets to the same port when `quic` is
/// given) and serves each pair on its own thread until `stop`.
pub fn start<H: Handler>(
    addr: SocketAddr,
    count: usize,
    handler: Arc<H>,
    tls: Option<Arc<ServerTls>>,
    quic: Option<QuicConfig>,
    limits: LiveLimits,
    stop: watch::Receiver<bool>,
) -> Result<(SocketAddr, Workers), BindError> {
    let tcp_error = |source| BindError::Tcp { addr, source };
    let first = reuse_port_tcp(addr).map_err(tcp_error)?;
    let bound = first.local_addr().map_err(tcp_error)?;
    let mut sockets = vec![(first, None)];
    for _ in 1..count.max(1) {
        let tcp = reuse_port_tcp(bound).map_err(|source| BindError::Tcp {
            addr: bound,
            source,
        })?;
        sockets.push((tcp, None));
    }
    if quic.is_some() {
        for (_, udp) in &mut sockets {
            let bound_udp = reuse_port_udp(bound);
            *udp = Some(bound_udp.map_err(|source| BindError::Udp {
                addr: bound,
                source,
            })?);
        }
    }
    let mut done = Vec::with_capacity(sockets.len());
    for (index, (tcp, udp)) in sockets.into_iter().enumerate() {
        let (finished, on_finish) = oneshot::channel();
        let (handler, tls, limits, stop) =
            (handler.clone(), tls.clone(), limits.clone(), stop.clone());
        let quic = udp.zip(quic.clone());
        let thread = std::thread::Builder::new().name(format!("edgeway-public-{index}"));
        let spawned = thread.spawn(move || {
            WORKER.with(|w| w.set(Some(index)));
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => return tracing::error!(worker = index, error = %e, "worker runtime failed to start"),
            };
            runtime.block_on(serve(index, tcp, quic, tls, handler, limits, stop));
            let _ = finished.send(());
        });
        spawned.map_err(|source| BindError::Tcp {
            addr: bound,
            source,
        })?;
        done.push(on_finish);
    }
    Ok((bound, Workers { done }))
}

/// One worker: its TCP listener and, with HTTP/3, its QUIC endpoint, until both have drained.
async fn serve<H: Handler>(
    index: usize,
    tcp: std::net::TcpListener,
    quic: Option<(std::net::UdpSocket, QuicConfig)>,
    tls: Option<Arc<ServerTls>>,
    handler: Arc<H>,
    limits: LiveLimits,
    stop: watch::Receiver<bool>,
) {
    let over_tcp = {
        let (handler, limits, stop) = (handler.clone(), limits.clone(), stop.clone());
        async move {
            match TcpListener::from_std(tcp) {
                Ok(listener) => accept::serve(listener, tls, handler, limits, stop).await,
                Err(e) => tracing::error!(worker = index, error = %e, "worker socket unusable"),
            }
        }
    };
    let over_quic = {
        let (handler, limits) = (handler.clone(), limits.clone());
        async move {
            let Some((udp, config)) = quic else { return };
            match config.endpoint(udp) {
                Ok(endpoint) => accept::quic::serve(endpoint, handler, limits, stop).await,
                Err(e) => tracing::error!(worker = index, error = %e, "worker UDP socket unusable"),
            }
        }
    };
    tokio::join!(over_tcp, over_quic);
    // The listeners are closed; sessions on this runtime (WebSockets being closed by the
    // drain) end with it, so it stays up for them.
    let grace = Duration::from_millis(limits.load().shutdown_grace_ms);
    handler.settled(grace).await;
}

fn reuse_port_socket(addr: SocketAddr, kind: Type, protocol: Protocol) -> std::io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), kind, Some(protocol))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

fn reuse_port_tcp(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = reuse_port_socket(addr, Type::STREAM, Protocol::TCP)?;
    socket.listen(1024)?;
    Ok(socket.into())
}

fn reuse_port_udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    Ok(reuse_port_socket(addr, Type::DGRAM, Protocol::UDP)?.into())
}
