//! When one machine is not enough: the same job on timely dataflow, across processes and
//! machines. `cargo run -p distributed-demo -- --list` shows the sections; each lives in its
//! own file, named after the idea it mirrors.

use std::process::ExitCode;

use common::cli::{Demo, Role, Section};

mod cluster_map;
mod local_cluster;
mod many_machines;
mod peer_failure;

use many_machines::Options;

const SECTIONS: &[Section<Options>] = &[
    Section::new(
        "cluster-map",
        "Pool.map(compute, tasks) -> Dask/Ray client.map",
        "scatter tasks to timely workers, gather the answers; threads vs processes",
        cluster_map::run,
    ),
    Section::new(
        "local-cluster",
        "dask.distributed.LocalCluster(n_workers=2)",
        "this binary starts its peers on 127.0.0.1: host file, bounded waits, spans back",
        local_cluster::run,
    ),
    Section::with_options(
        "many-machines",
        "dask worker tcp://host0:8786 / ray start --address",
        "the commands for several machines (--hosts FILE --process I), run over loopback",
        many_machines::run,
    ),
    Section::new(
        "peer-failure",
        "Ray max_retries / Dask rescheduling a lost worker",
        "a missing or killed peer: a clear error in bounded time; recovery is a re-run",
        peer_failure::run,
    ),
];

/// The part this binary plays when the local-cluster launcher starts it as one peer.
const ROLES: &[Role] = &[Role::new("peer", local_cluster::peer_role)];

fn main() -> ExitCode {
    Demo {
        name: "distributed-demo",
        about: "When one machine is not enough: the same job on timely dataflow, across processes and machines",
        sections: SECTIONS,
        roles: ROLES,
    }
    .main()
}
