//! Runs the built binary: `--list`, one quick section, an unknown name, the host-file
//! options, and a peer on its own.

use common::testing::{
    assert_rejects_unknown_section, assert_sections_documented, run, run_ok, section_names,
};

const EXE: &str = env!("CARGO_BIN_EXE_distributed-demo");

#[test]
fn every_section_is_listed_documented_and_in_the_book() {
    assert_sections_documented(EXE, env!("CARGO_MANIFEST_DIR"));
}

#[test]
fn runs_one_section() {
    let out = run_ok(EXE, &["many-machines"]);
    assert!(
        out.contains("host0$ distributed-demo many-machines --hosts hosts.txt --process 0"),
        "{out}"
    );
    assert!(out.contains("= the sequential answer"), "{out}");
    assert!(out.contains("all passed"), "{out}");
}

#[test]
fn rejects_an_unknown_section() {
    let names = section_names(EXE);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_rejects_unknown_section(EXE, &names);
}

/// Exit code 2, one line on stderr containing `needle`, nothing run, no panic.
fn assert_usage_error(args: &[&str], needle: &str) {
    let out = run(EXE, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(needle), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty(), "no section ran: {args:?}");
}

#[test]
fn a_malformed_host_file_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("hosts.txt");
    std::fs::write(&bad, "127.0.0.1:2101\nmachine-b\n").unwrap();
    let bad = bad.to_str().unwrap();
    assert_usage_error(
        &["many-machines", "--hosts", bad, "--process", "0"],
        "line 2: 'machine-b' is not HOST:PORT",
    );
    assert_usage_error(
        &[
            "many-machines",
            "--hosts",
            "/no/such/hosts.txt",
            "--process",
            "0",
        ],
        "cannot read it",
    );
}

#[test]
fn process_and_hosts_go_together_and_process_must_be_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts.txt");
    std::fs::write(&hosts, "127.0.0.1:2101\n127.0.0.1:2102\n").unwrap();
    let hosts = hosts.to_str().unwrap();
    assert_usage_error(&["many-machines", "--process", "0"], "--hosts");
    assert_usage_error(&["many-machines", "--hosts", hosts], "--process");
    assert_usage_error(
        &["many-machines", "--hosts", hosts, "--process", "2"],
        "valid: 0..=1",
    );
    assert_usage_error(
        &[
            "many-machines",
            "--hosts",
            hosts,
            "--process",
            "0",
            "--threads",
            "0",
        ],
        "--threads",
    );
}

#[test]
fn help_shows_the_many_machines_commands() {
    let help = run_ok(EXE, &["--help"]);
    assert!(help.contains("--hosts hosts.txt --process 1"), "{help}");
}

#[test]
fn usage_errors_come_before_any_section() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts.txt");
    std::fs::write(&hosts, "job j1\n127.0.0.1:2101\n").unwrap();
    let hosts = hosts.to_str().unwrap();
    // No section named: every section would run; the mistake is reported first.
    assert_usage_error(&["--hosts", hosts], "--hosts FILE needs --process I");
    assert_usage_error(&["--job", "j1"], "--job ID needs --hosts");
    let plain = dir.path().join("plain.txt");
    std::fs::write(&plain, "127.0.0.1:2101\n").unwrap();
    assert_usage_error(
        &["--hosts", plain.to_str().unwrap(), "--process", "0"],
        "no `job ID` line",
    );
    assert_usage_error(
        &["--hosts", "/dev/zero", "--process", "0"],
        "not a regular file",
    );
    assert_usage_error(
        &["--hosts", hosts, "--process", "0", "--job", "j2"],
        "differs",
    );
}

#[test]
fn a_missing_peer_is_one_line_after_wait() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts.txt");
    let free: Vec<_> = (0..2)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let addresses: Vec<String> = free
        .iter()
        .map(|l| l.local_addr().unwrap().to_string())
        .collect();
    drop(free);
    let hosts = hosts.to_str().unwrap();
    let made = run_ok(EXE, &["--new-hosts", hosts, &addresses[0], &addresses[1]]);
    assert!(made.contains("2 process(es)"), "{made}");
    // Process 0 alone: process 1 never comes.
    let out = run(
        EXE,
        &[
            "many-machines",
            "--hosts",
            hosts,
            "--process",
            "0",
            "--wait",
            "1",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no cluster after 1"), "{stderr}");
    assert!(
        stderr.contains(&addresses[1]),
        "names the missing one: {stderr}"
    );
    assert!(stderr.lines().count() <= 3, "no line per retry: {stderr}");
    assert!(!stderr.contains("retrying"), "{stderr}");
}

#[test]
fn a_full_disk_is_a_failure_not_a_silent_success() {
    common::testing::assert_full_disk_fails(EXE, &["--list"]);
}

#[test]
fn new_hosts_refuses_an_existing_file_unless_force_and_never_follows_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts.txt");
    std::fs::write(&hosts, "keep me\n").unwrap();
    let hosts = hosts.to_str().unwrap();
    let args = |extra: &[&'static str]| {
        let mut a = vec!["--new-hosts", hosts, "127.0.0.1:2101", "127.0.0.1:2102"];
        a.extend_from_slice(extra);
        a
    };
    assert_usage_error(&args(&[]), "exists: add --force");
    assert_eq!(std::fs::read_to_string(hosts).unwrap(), "keep me\n");
    let made = run_ok(EXE, &args(&["--force"]));
    assert!(made.contains("2 process(es)"), "{made}");
    assert!(std::fs::read_to_string(hosts).unwrap().starts_with("job "));
    let link = dir.path().join("link.txt");
    std::os::unix::fs::symlink(dir.path().join("target.txt"), &link).unwrap();
    let link = link.to_str().unwrap();
    for extra in [&[][..], &["--force"][..]] {
        let mut a = vec!["--new-hosts", link, "127.0.0.1:2101"];
        a.extend_from_slice(extra);
        assert_usage_error(&a, "not a regular file");
    }
    assert!(
        !dir.path().join("target.txt").exists(),
        "nothing written through the link"
    );
    assert_usage_error(&["--force"], "--force goes with --new-hosts");
}

#[test]
fn a_peer_without_its_arguments_names_every_missing_one_in_one_line() {
    let out = run(EXE, &["--role", "peer"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    for missing in [
        "--hosts",
        "--process",
        "--n",
        "--tasks",
        "--deadline-ms",
        "--wait-ms",
    ] {
        assert!(stderr.contains(missing), "names {missing}: {stderr}");
    }
}
