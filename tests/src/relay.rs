//! A TCP relay on 127.0.0.1:0 that delays everything it forwards, as a far-away server would:
//! each chunk is held `delay / 2` in each direction (order kept, no throttling of bandwidth),
//! so every request/response round trip through it takes `delay` more.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Relays connections to `target` until dropped.
pub struct DelayRelay {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl DelayRelay {
    /// Starts relaying to `target` on the current runtime, adding `delay` per round trip.
    pub async fn start(target: SocketAddr, delay: Duration) -> DelayRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().expect("relay address");
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, target, delay / 2));
            }
        });
        DelayRelay { addr, task }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `redis://` URL of the relayed server.
    pub fn redis_url(&self) -> String {
        format!("redis://{}", self.addr)
    }
}

impl Drop for DelayRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: TcpStream, target: SocketAddr, one_way: Duration) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        pump(client_read, server_write, one_way),
        pump(server_read, client_write, one_way),
    );
}

/// Forwards what `from` reads to `to`, each chunk `delay` after it arrived. The reader keeps
/// reading while earlier chunks wait, so the delay is added once, not once per chunk queued.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, delay: Duration) {
    let (queue, mut due) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((at, chunk)) = due.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0
            || queue
                .send((Instant::now() + delay, buf[..n].to_vec()))
                .is_err()
        {
            break;
        }
    }
    drop(queue);
    let _ = writer.await;
}
