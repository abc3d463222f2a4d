//! `edgeway-load`: Edgeway's load generator. Its first version arrives with the global
//! throttles work; until then BENCHMARKS.md uses wrk, and this binary says so.

fn main() {
    eprintln!(
        "edgeway-load {}: not built yet. loadtest/bench.sh measures with wrk (see BENCHMARKS.md).",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
