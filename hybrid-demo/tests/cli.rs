//! Runs the built binary: the sections agree with the README and their headers, one quick
//! section, an unknown name, a bad option.

use common::testing::{
    assert_rejects_unknown_section, assert_sections_documented, run_ok, section_names,
};

const EXE: &str = env!("CARGO_BIN_EXE_hybrid-demo");

#[test]
fn sections_match_the_readme_and_their_headers() {
    assert_sections_documented(EXE, env!("CARGO_MANIFEST_DIR"));
}

#[test]
fn runs_one_section() {
    let out = run_ok(EXE, &["run-in-executor"]);
    assert!(out.contains("calls via spawn_blocking"), "{out}");
    assert!(
        out.contains("tokio-blocking"),
        "blocking threads named as such: {out}"
    );
    assert!(out.contains("all passed"), "{out}");
}

#[test]
fn logs_which_thread_ran_each_blocking_call() {
    let out = std::process::Command::new(EXE)
        .arg("run-in-executor")
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.lines()
            .any(|l| l.contains("tokio-blocking") && l.contains("blocking call starts")),
        "{log}"
    );
}

#[test]
fn rejects_an_unknown_section() {
    let names = section_names(EXE);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(names.len(), 6);
    assert_rejects_unknown_section(EXE, &names);
}

#[test]
fn rejects_a_value_for_the_ctrl_c_flag() {
    let out = common::testing::run(EXE, &["--ctrl-c=yes", "graceful-shutdown"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--ctrl-c"), "{stderr}");
}
