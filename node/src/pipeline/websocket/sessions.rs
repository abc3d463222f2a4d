//! The WebSocket connections this node holds. Each is registered while its session runs and
//! takes commands (send a message, close) through a channel; drain closes them all and waits.
//! Connection ids end with the owning node's id (`9f2c….node-2`), so any node can tell where
//! `@connections/{id}` must go.

use super::close::CloseReason;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch};

/// What a session is told to do from outside its own loop.
#[derive(Debug)]
pub enum Command {
    /// Send this message (text when it is UTF-8, else binary).
    Send(Bytes),
    Close(CloseReason),
}

/// What `GET /@connections/{id}` shows, as AWS names it.
#[derive(Debug)]
pub struct Info {
    pub api_id: String,
    pub stage: String,
    /// Milliseconds since the Unix epoch.
    pub connected_at: u64,
    pub last_active_at: AtomicU64,
    pub source_ip: std::net::IpAddr,
    pub user_agent: Option<String>,
}

impl Info {
    pub fn touch(&self) {
        self.last_active_at.store(now_ms(), Ordering::Relaxed);
    }
}

struct Entry {
    commands: mpsc::UnboundedSender<Command>,
    info: Arc<Info>,
}

#[derive(Clone)]
pub struct Sessions {
    node: Arc<str>,
    open: Arc<Mutex<HashMap<String, Entry>>>,
    /// Sessions still running, `$disconnect` included (drain waits for them).
    count: Arc<watch::Sender<usize>>,
    /// Set by drain: new handshakes are refused.
    closing: Arc<AtomicBool>,
}

/// A session's place in the registry: listed (reachable by `@connections`) until `unlist`,
/// counted as running until dropped, whatever ends the session.
pub struct Registration {
    pub id: String,
    pub info: Arc<Info>,
    pub commands: mpsc::UnboundedReceiver<Command>,
    sessions: Sessions,
    listed: bool,
}

impl Registration {
    /// No longer reachable by id; still counted as running (its `$disconnect` may be).
    pub fn unlist(&mut self) {
        if std::mem::take(&mut self.listed) {
            let mut open = self.sessions.open.lock().expect("sessions lock");
            open.remove(&self.id);
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.unlist();
        self.sessions.count.send_modify(|n| *n -= 1);
    }
}

/// Why a command did not reach a connection.
#[derive(Debug, PartialEq, Eq)]
pub struct Gone;

impl Sessions {
    pub fn new(node_id: &str) -> Sessions {
        Sessions {
            node: Arc::from(node_id),
            open: Arc::default(),
            count: Arc::new(watch::Sender::new(0)),
            closing: Arc::default(),
        }
    }

    /// The node that owns a connection id, if the id is well formed.
    pub fn owner(connection_id: &str) -> Option<&str> {
        let (random, node) = connection_id.split_once('.')?;
        let ok = random.len() == 16 && random.bytes().all(|b| b.is_ascii_hexdigit());
        (ok && !node.is_empty()).then_some(node)
    }

    pub fn is_mine(&self, connection_id: &str) -> bool {
        Sessions::owner(connection_id) == Some(&*self.node)
    }

    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    pub fn register(&self, info: Info) -> Registration {
        let random = crate::pipeline::ids::hex::<16>(rand::random());
        let id = format!(
            "{}.{}",
            std::str::from_utf8(&random).expect("hex"),
            self.node
        );
        let (tx, rx) = mpsc::unbounded_channel();
        let info = Arc::new(info);
        let entry = Entry {
            commands: tx,
            info: info.clone(),
        };
        let mut open = self.open.lock().expect("sessions lock");
        open.insert(id.clone(), entry);
        self.count.send_modify(|n| *n += 1);
        Registration {
            id,
            info,
            commands: rx,
            sessions: self.clone(),
            listed: true,
        }
    }

    pub fn info(&self, id: &str) -> Option<Arc<Info>> {
        let open = self.open.lock().expect("sessions lock");
        open.get(id).map(|e| e.info.clone())
    }

    pub fn command(&self, id: &str, command: Command) -> Result<(), Gone> {
        let open = self.open.lock().expect("sessions lock");
        let entry = open.get(id).ok_or(Gone)?;
        entry.commands.send(command).map_err(|_| Gone)
    }

    pub fn open_count(&self) -> usize {
        *self.count.borrow()
    }

    /// Refuses new handshakes, tells every open connection to close with `reason`, and waits
    /// up to `deadline` for their sessions to end (`$disconnect` included). Returns how many were still open then.
    pub async fn close_all(&self, reason: CloseReason, deadline: Duration) -> usize {
        self.closing.store(true, Ordering::Release);
        {
            let open = self.open.lock().expect("sessions lock");
            for entry in open.values() {
                let _ = entry.commands.send(Command::Close(reason));
            }
        }
        self.ended(deadline).await
    }

    /// Waits up to `deadline` for every session to end (`$disconnect` included). Returns how
    /// many were still running then.
    pub async fn ended(&self, deadline: Duration) -> usize {
        let mut count = self.count.subscribe();
        let _ = tokio::time::timeout(deadline, count.wait_for(|n| *n == 0)).await;
        self.open_count()
    }
}

pub fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    since.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> Info {
        Info {
            api_id: "chat".into(),
            stage: "prod".into(),
            connected_at: now_ms(),
            last_active_at: AtomicU64::new(0),
            source_ip: [127, 0, 0, 1].into(),
            user_agent: None,
        }
    }

    #[test]
    fn ids_name_their_owner() {
        let sessions = Sessions::new("node-2");
        let registration = sessions.register(info());
        assert_eq!(Sessions::owner(&registration.id), Some("node-2"));
        assert!(sessions.is_mine(&registration.id));
        assert!(!Sessions::new("node-3").is_mine(&registration.id));
        assert_eq!(Sessions::owner("not-an-id"), None);
        assert_eq!(Sessions::owner("zz.node-1"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn close_all_tells_every_session_and_waits_for_them_to_leave() {
        let sessions = Sessions::new("node-1");
        let mut registration = sessions.register(info());
        let waiting = tokio::spawn({
            let sessions = sessions.clone();
            async move {
                sessions
                    .close_all(CloseReason::Draining, Duration::from_secs(5))
                    .await
            }
        });
        let command = registration.commands.recv().await;
        assert!(matches!(
            command,
            Some(Command::Close(CloseReason::Draining))
        ));
        assert!(sessions.is_closing());
        registration.unlist();
        assert!(sessions.info(&registration.id).is_none(), "unlisted");
        tokio::task::yield_now().await;
        assert!(
            !waiting.is_finished(),
            "still running: its $disconnect may be"
        );
        drop(registration);
        assert_eq!(waiting.await.unwrap(), 0);
        assert_eq!(sessions.open_count(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn close_all_gives_up_at_the_deadline() {
        let sessions = Sessions::new("node-1");
        let _stuck = sessions.register(info());
        let left = sessions
            .close_all(CloseReason::Draining, Duration::from_secs(2))
            .await;
        assert_eq!(left, 1);
        assert_eq!(
            sessions.command("nope", Command::Send(Bytes::new())),
            Err(Gone)
        );
    }
}
