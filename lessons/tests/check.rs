//! The copy check's rules (lessons/src/check.rs): a `Copy it:` line parsed, the crates a
//! lesson part uses found, each gap named. In a test file of its own so that `cargo test`
//! does not compile every lesson a second time for a unit-test harness of the library.

use std::collections::BTreeMap;

use lessons::check::*;

const KNOWN: &[&str] = &[
    "anyhow",
    "futures",
    "reqwest",
    "serde",
    "serde_json",
    "tokio",
    "tokio-util",
    "tracing",
];

fn versions() -> BTreeMap<String, String> {
    workspace_versions(
        "[workspace.dependencies]\nanyhow = \"1\"\nfutures = \"0.3\"\nreqwest = { version = \"0.13\", default-features = false }\nserde = { version = \"1\", features = [\"derive\"] }\ntokio = { version = \"1\", features = [\"full\"] }\ntokio-util = { version = \"0.7\", features = [\"rt\"] }\ntracing = { version = \"0.1\" }\n\n[profile.dev]\nx = \"9\"\n",
    )
}

#[test]
fn the_workspace_versions_are_read() {
    let v = versions();
    assert_eq!(v["reqwest"], "0.13");
    assert_eq!(v["tokio"], "1");
    assert!(!v.contains_key("x"));
}

#[test]
fn a_line_with_features_per_crate_parses() {
    let a = parse_copy_line(
        "cargo add futures@0.3 && cargo add tokio@1 --features full && cargo add reqwest@0.13 --no-default-features --features blocking",
    )
    .unwrap();
    assert_eq!(a.crates["tokio"].features, ["full"]);
    assert!(a.crates["futures"].features.is_empty());
    assert!(a.crates["reqwest"].no_default_features);
    assert!(!a.crates["tokio"].no_default_features);
    assert_eq!(a.crates["reqwest"].features, ["blocking"]);
    assert!(
        parse_copy_line("std only, nothing to add")
            .unwrap()
            .crates
            .is_empty()
    );
    assert!(
        parse_copy_line("cargo add tokio").is_err(),
        "a version is required"
    );
    assert!(parse_copy_line("cargo add a@1 b@1 --features x").is_err());
    assert!(
        parse_copy_line("cargo add a@1 b@1 --features a/x").is_err(),
        "cargo refuses it"
    );
    assert!(parse_copy_line("cargo add a@1 b@1 --no-default-features").is_err());
    assert!(parse_copy_line("pip install tokio").is_err());
}

const LESSON: &str = r#"
use futures::future::join_all;
use serde::{Deserialize, Serialize};
// tracing::info! in a comment does not count
#[derive(Serialize, Deserialize)]
struct S;
#[tokio::main]
async fn main() {
let msg = "anyhow:: in a string does not count";
join_all(Vec::<std::future::Ready<()>>::new()).await;
}
"#;

#[test]
fn used_crates_are_found_in_code_not_in_comments_or_strings() {
    assert_eq!(crates_used(LESSON, KNOWN), ["futures", "serde", "tokio"]);
    assert!(crates_used("let x = my_tokio::run();", KNOWN).is_empty());
    assert!(crates_used("let x = a::tokio::b;", KNOWN).is_empty());
    assert_eq!(
        crates_used("tokio_util::sync::CancellationToken", KNOWN),
        ["tokio-util"]
    );
}

#[test]
fn a_complete_line_passes_and_each_gap_is_named() {
    let ok = "cargo add futures@0.3 && cargo add serde@1 --features derive && cargo add tokio@1 --features full";
    assert_eq!(check(LESSON, ok, KNOWN, &versions()), Vec::<String>::new());
    let problems = check(
        LESSON,
        "cargo add futures@0.3 serde@1 anyhow@1 && cargo add tokio@1 --features full",
        KNOWN,
        &versions(),
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].contains("needs serde's feature `derive`"),
        "{problems:?}"
    );
    assert!(
        problems[1].contains("adds anyhow, which the lesson part does not use"),
        "{problems:?}"
    );
    let problems = check(
        LESSON,
        "cargo add serde@1 --features derive && cargo add tokio@2 --features full",
        KNOWN,
        &versions(),
    );
    assert!(
        problems.iter().any(|p| p.contains("does not add futures")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("write tokio@1")),
        "{problems:?}"
    );
}

#[test]
fn reqwest_without_default_features_and_with_blocking() {
    let code = "fn main() { let c = reqwest::blocking::Client::new(); }";
    let problems = check(code, "cargo add reqwest@0.13", KNOWN, &versions());
    assert_eq!(problems.len(), 2, "{problems:?}");
    let ok = "cargo add reqwest@0.13 --no-default-features --features blocking";
    assert!(check(code, ok, KNOWN, &versions()).is_empty());
}
