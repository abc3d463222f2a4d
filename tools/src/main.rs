//! `edgewayctl`: the Edgeway admin CLI. Its commands arrive with the operations work (issue
//! "Operations: edgewayctl ..."); until then it says so instead of pretending.

fn main() {
    eprintln!(
        "edgewayctl {}: no commands yet. Use the admin API directly (see README.md, \"Define and deploy an API\").",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
