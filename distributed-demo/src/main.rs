//! When one machine is not enough: the same job on timely dataflow, across processes and
//! machines. `cargo run -p distributed-demo -- --list` shows the sections; each lives in its
//! own file, named after the idea it mirrors. `dataflow.rs` is the job they all run, and
//! `cluster.rs` the launcher they share.

use std::process::ExitCode;

use common::cli::{Demo, Output, Role, Section};

mod cluster;
mod cluster_map;
mod local_cluster;
mod many_machines;
mod peer_failure;

// `dataflow.rs`, the job every section runs, is the module `cluster_map.rs` copies beside
// its lesson (`#[path]`): one copy in the build.
use cluster_map::dataflow;
use many_machines::Options;

const SECTIONS: &[Section<Options>] = &[
    cluster_map::SECTION.reads_no_options(),
    local_cluster::SECTION.reads_no_options(),
    many_machines::SECTION,
    peer_failure::SECTION.reads_no_options(),
];

/// The parts this binary plays as a child: `peer` when a launcher (`cluster.rs`) starts it
/// as one process of a cluster; `local-peer` for `local_cluster.rs`'s lesson `main` (the
/// same function its own `--role` dispatch calls, so `local-cluster --lesson` works).
const ROLES: &[Role] = &[
    Role::new("peer", many_machines::peer_role),
    Role::new("local-peer", local_cluster::local_peer),
];

const NAME: &str = "distributed-demo";

fn main() -> ExitCode {
    // Options missing their partner: refused before anything starts (no trace file either).
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(e) = missing_partner(&args) {
        return usage(&e);
    }
    Demo {
        name: NAME,
        about: "When one machine is not enough: the same job on timely dataflow, across processes and machines",
        sections: SECTIONS,
        roles: ROLES,
    }
    .main_with(|chosen| {
        // `--new-hosts` and options that do not fit together: answered before any section.
        let options = &chosen.options;
        if !options.new_hosts.is_empty() {
            return match many_machines::write_new_hosts(&options.new_hosts, options.force) {
                Ok(done) => {
                    println!("{done}");
                    ExitCode::SUCCESS
                }
                Err(e) => usage(&e),
            };
        }
        // The rest of `options.check()` ran before the trace file was made (usage_check).
        chosen.run(Output::Banners)
    })
}

/// `--hosts` without `--process` and the like, from the words of the command line alone.
fn missing_partner(args: &[String]) -> Option<String> {
    if args.first().is_some_and(|a| a == "--role") {
        return None;
    }
    let has = |name: &str| {
        args.iter()
            .any(|a| a == name || a.strip_prefix(name).is_some_and(|v| v.starts_with('=')))
    };
    if ["--help", "-h", "--list", "--new-hosts"]
        .iter()
        .any(|h| has(h))
    {
        return None;
    }
    let mut options = many_machines::Options::default();
    if has("--hosts") {
        options.hosts = Some(many_machines::HostFile::default());
    }
    if has("--process") {
        options.process = Some(0);
    }
    if has("--job") {
        options.job = Some(String::new());
    }
    options.force = has("--force");
    options.partners().err()
}

/// A user's mistake: one line, exit code 2.
fn usage(message: &str) -> ExitCode {
    eprintln!("{NAME}: {message}");
    ExitCode::from(2)
}
