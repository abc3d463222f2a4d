//! A progress line on stderr once a second: rewritten in place on a terminal, one line per
//! second otherwise (logs, CI).

use crate::config::LoadConfig;
use crate::record::Recorder;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;

pub trait Source: Send + Sync {
    fn recorder(&self) -> &Recorder;
    fn config(&self) -> &LoadConfig;
}

pub async fn show(source: Arc<dyn Source>, begin: Instant) {
    let live = &source.recorder().live;
    let config = source.config();
    let total = config.warmup + config.duration;
    let mut ticks =
        tokio::time::interval_at(begin + Duration::from_secs(1), Duration::from_secs(1));
    let mut last_done = 0;
    loop {
        ticks.tick().await;
        let elapsed = begin.elapsed();
        let phase = match elapsed < config.warmup {
            true => "warm-up",
            false => "measure",
        };
        let ok = live.ok.load(Ordering::Relaxed);
        let other = live.other.load(Ordering::Relaxed);
        let failed = live.failed.load(Ordering::Relaxed);
        let sent = live.sent.load(Ordering::Relaxed);
        let done = ok + other + failed;
        let line = format!(
            "[{:>4.0}s/{:.0}s {phase}] sent {sent} | 2xx {ok} | other {other} | errors {failed} | missed {} | in flight {} | {} answers/s",
            elapsed.as_secs_f64(),
            total.as_secs_f64(),
            live.missed.load(Ordering::Relaxed),
            sent.saturating_sub(done),
            done - last_done,
        );
        last_done = done;
        let mut err = std::io::stderr().lock();
        let _ = match err.is_terminal() {
            true => write!(err, "\r\x1b[2K{line}"),
            false => writeln!(err, "{line}"),
        };
    }
}

/// Ends the in-place line on a terminal.
pub fn finish() {
    let mut err = std::io::stderr().lock();
    if err.is_terminal() {
        let _ = writeln!(err);
    }
}
