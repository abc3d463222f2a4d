//! Access logs: one line per request for stages that ask for it, written off the request path.
//! Lines go into a bounded queue; a full queue drops the line and counts it
//! (`edgeway_access_log_dropped_total`) rather than making a request wait. One task writes
//! them to stdout or a file, which it reopens on request (SIGHUP), for log rotation, or
//! switches for another destination a config reload names.

pub mod format;

pub use format::Entry;

use std::io::Write;
use std::path::PathBuf;
use tokio::sync::mpsc;

/// `[access_log]` in the node config.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogConfig {
    /// `stdout`, or a file path (appended to).
    #[serde(default = "default_destination")]
    pub destination: String,
    /// Lines that may wait for the writer; beyond that they are dropped.
    #[serde(default = "default_queue")]
    pub queue: usize,
}

fn default_destination() -> String {
    "stdout".into()
}

fn default_queue() -> usize {
    65_536
}

impl Default for AccessLogConfig {
    fn default() -> Self {
        AccessLogConfig {
            destination: default_destination(),
            queue: default_queue(),
        }
    }
}

enum Message {
    Line(String),
    Reopen,
    Switch(Sink),
}

/// A destination opened ahead of use, so a reload that cannot open it fails before anything
/// changes.
pub struct Destination(Sink);

impl Destination {
    pub fn open(destination: &str) -> Result<Destination, std::io::Error> {
        Sink::open(destination).map(Destination)
    }
}

/// The request path's handle on the writer.
#[derive(Clone)]
pub struct AccessLog {
    queue: mpsc::Sender<Message>,
}

impl AccessLog {
    /// Starts the writer task.
    pub fn start(config: &AccessLogConfig) -> Result<AccessLog, std::io::Error> {
        let mut sink = Sink::open(&config.destination)?;
        let (queue, mut lines) = mpsc::channel(config.queue.max(1));
        tokio::task::spawn_blocking(move || {
            while let Some(message) = lines.blocking_recv() {
                let result = match message {
                    Message::Line(line) => sink.write(&line, lines.is_empty()),
                    Message::Reopen => sink.reopen(),
                    // Lines queued before the switch went to the old sink, in order.
                    Message::Switch(next) => std::mem::replace(&mut sink, next).flush(),
                };
                if let Err(e) = result {
                    metrics::counter!("edgeway_access_log_write_errors_total").increment(1);
                    tracing::warn!(error = %e, "access log write failed");
                }
            }
        });
        Ok(AccessLog { queue })
    }

    /// Queues one line; never waits.
    pub fn write(&self, line: String) {
        if self.queue.try_send(Message::Line(line)).is_err() {
            metrics::counter!("edgeway_access_log_dropped_total").increment(1);
        }
    }

    /// Reopens the destination file (after log rotation moved it).
    pub async fn reopen(&self) {
        let _ = self.queue.send(Message::Reopen).await;
    }

    /// Writes the lines queued so far to the current destination, the rest to `next`. Waits
    /// for queue space like `reopen`, rather than dropping the switch.
    pub async fn switch(&self, next: Destination) {
        let _ = self.queue.send(Message::Switch(next.0)).await;
    }
}

enum Sink {
    Stdout(std::io::BufWriter<std::io::Stdout>),
    File(PathBuf, std::io::BufWriter<std::fs::File>),
}

impl Sink {
    fn open(destination: &str) -> Result<Sink, std::io::Error> {
        if destination == "stdout" {
            return Ok(Sink::Stdout(std::io::BufWriter::new(std::io::stdout())));
        }
        let path = PathBuf::from(destination);
        let file = append(&path)?;
        Ok(Sink::File(path, std::io::BufWriter::new(file)))
    }

    /// Writes a line; flushes when no more lines are waiting (batching under load).
    fn write(&mut self, line: &str, flush: bool) -> std::io::Result<()> {
        let out: &mut dyn Write = match self {
            Sink::Stdout(w) => w,
            Sink::File(_, w) => w,
        };
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        if flush { out.flush() } else { Ok(()) }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Stdout(w) => w.flush(),
            Sink::File(_, w) => w.flush(),
        }
    }

    fn reopen(&mut self) -> std::io::Result<()> {
        if let Sink::File(path, writer) = self {
            writer.flush()?;
            *writer = std::io::BufWriter::new(append(path)?);
        }
        Ok(())
    }
}

fn append(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}
