//! The `edgeway-load` binary as users run it, against the `bench-backend` binary: the report
//! file it writes, and its exit codes.

use edgeway_load::Report;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// `bench-backend` on a free port; killed when dropped.
struct BenchBackend {
    child: Child,
    addr: String,
}

impl BenchBackend {
    fn start() -> BenchBackend {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bench-backend"))
            .args(["--listen", "127.0.0.1:0", "--threads", "1"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("start bench-backend");
        let mut line = String::new();
        let stderr = child.stderr.take().expect("stderr");
        BufReader::new(stderr).read_line(&mut line).expect("read");
        let addr = line
            .trim()
            .strip_prefix("bench-backend listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_string();
        BenchBackend { child, addr }
    }
}

impl Drop for BenchBackend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn load(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_edgeway-load"))
        .args(args)
        .output()
        .expect("run edgeway-load")
}

#[test]
fn a_run_writes_its_json_report_and_exits_0() {
    let backend = BenchBackend::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let report_path = dir.path().join("report.json");
    let url = format!("http://{}/", backend.addr);
    let out = load(&[
        "--rate",
        "100",
        "--duration",
        "1s",
        "--warmup",
        "200ms",
        "--http",
        "1.1",
        "--report",
        report_path.to_str().expect("utf-8 path"),
        &url,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    assert!(stderr.contains("sent "), "a progress line: {stderr}");
    let report: Report =
        serde_json::from_slice(&std::fs::read(&report_path).expect("report written"))
            .expect("the report parses");
    assert!(report.total.sent.abs_diff(100) <= 1, "{report:?}");
    assert_eq!(report.total.statuses.get("200"), Some(&report.total.sent));
    assert_eq!(report.targets[0].url, url);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("open loop, http/1.1, 100 req/s offered"),
        "{stdout}"
    );
}

#[test]
fn usage_errors_exit_2_and_run_errors_exit_1() {
    let out = load(&["--rate", "ten", "http://127.0.0.1:1/"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rate"));

    let out = load(&[
        "--rate",
        "10",
        "--duration",
        "100ms",
        "-q",
        "http://no-such-host.invalid/",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot resolve no-such-host.invalid:80"),
        "{stderr}"
    );
}
