//! The same job on timely dataflow, across processes and machines (to be filled by its
//! issue).

use std::process::ExitCode;

use common::cli::{Demo, Section};

const SECTIONS: &[Section] = &[];

fn main() -> ExitCode {
    Demo {
        name: "distributed-demo",
        about: "When one machine is not enough: the same job on timely dataflow, across processes and machines",
        sections: SECTIONS,
        roles: &[],
    }
    .main()
}
