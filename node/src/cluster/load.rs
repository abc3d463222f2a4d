//! The load a node gossips: the share of one core its process used since the last sample,
//! from `/proc/self/stat` (Linux). Cheap enough to sample every few seconds, and what a DNS or
//! load-balancer policy wants to know about a node.

use std::time::Instant;

/// `/proc` reports CPU time in USER_HZ ticks, 100 per second on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Default)]
pub struct CpuLoad {
    last: Option<(Instant, u64)>,
}

impl CpuLoad {
    /// Cores' worth of CPU used since the previous call (`None` on the first call, or where
    /// `/proc` is not there).
    pub fn sample(&mut self) -> Option<f64> {
        let ticks = process_ticks()?;
        let now = Instant::now();
        let previous = self.last.replace((now, ticks));
        let (then, before) = previous?;
        let seconds = now.duration_since(then).as_secs_f64();
        (seconds > 0.0).then(|| ticks.saturating_sub(before) as f64 / TICKS_PER_SECOND / seconds)
    }
}

/// utime + stime of this process, in ticks.
fn process_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_ticks(&stat)
}

fn parse_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 overall are utime and stime; after the name they are at 11 and 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_even_with_odd_process_names() {
        let stat = "4242 (a (weird) name) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0";
        assert_eq!(parse_ticks(stat), Some(300));
        assert_eq!(parse_ticks("garbage"), None);
    }

    #[test]
    fn this_process_has_a_load_on_linux() {
        let mut load = CpuLoad::default();
        if process_ticks().is_some() {
            assert_eq!(load.sample(), None);
            assert!(load.sample().is_some_and(|l| l >= 0.0));
        }
    }
}
