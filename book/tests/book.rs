//! The book, built as `cargo run -p book` builds it but with stand-in runs (fake outputs,
//! so the test takes seconds; its pages say so), then read: a page per section with its
//! Python, its Rust and its labelled run; every link and include resolved; a figure changed
//! in a captured run shows on its page; and in a headless Chromium (driven over the DevTools
//! protocol, as asyncio-demo's browser test does) the two listings sit side by side at
//! 1400 px and stack at 600 px, and the search finds `Semaphore`.
//!
//! Without mdBook 0.5 (target/tools/bin/mdbook, `$MDBOOK` or on PATH: `cargo run -p book`
//! installs it, and so does `.ci/run`) or without a Chromium, the parts that need them say
//! that they skipped, and pass. Run only these: `cargo test -p book -- --nocapture`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::SystemTime;

use serde_json::json;

use book::check::{broken_links, html_files, unexpanded};
use book::site::target_dir;
use book::source::demos;
use book::source::workspace_root;
use headless::{Browser, Cdp, call, connect, find_browser, open_page, wait_until};

const EXE: &str = env!("CARGO_BIN_EXE_book");

/// The folder of the test's build (`book-src`, `book-runs`, `book`), built once for all tests;
/// `None` (and a line saying why) without mdBook.
fn built() -> Option<&'static Path> {
    static BUILT: OnceLock<Option<PathBuf>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = workspace_root();
            if book::mdbook::find(&target_dir(&root).unwrap()).is_none() {
                eprintln!(
                    "skipped: no mdBook 0.5 in target/tools/bin, $MDBOOK or PATH \
                     (cargo run -p book installs it)"
                );
                return None;
            }
            let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("book-test");
            build(&["--stand-in", "--out"], &out);
            Some(out)
        })
        .as_deref()
}

fn build(args: &[&str], out: &Path) {
    let output = Command::new(EXE).args(args).arg(out).output().unwrap();
    assert!(
        output.status.success(),
        "book {args:?} {}: {}\n{}",
        out.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The sections `--list` prints, where the demo's binary is at least as new as its
/// sources (in `cargo test --workspace` it is); else none (not checked here: the build
/// itself compares them when it runs the sections).
fn listed(demo: &str) -> Option<Vec<String>> {
    let root = workspace_root();
    let exe = target_dir(&root).ok()?.join("debug").join(demo);
    let built = exe.metadata().ok()?.modified().ok()?;
    let newest = std::fs::read_dir(root.join(demo).join("src"))
        .ok()?
        .flatten()
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .max()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    if built < newest {
        return None;
    }
    let out = Command::new(&exe).arg("--list").output().ok()?;
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("  ") && !l[2..].starts_with(' '))
            .filter_map(|l| Some(l.split_whitespace().next()?.to_owned()))
            .collect(),
    )
}

#[test]
fn every_section_has_a_page_with_its_python_its_rust_and_a_labelled_run() {
    let Some(out) = built() else { return };
    let site = out.join("book");
    let mut pages = 0;
    for demo in demos(&workspace_root()).unwrap() {
        let names: Vec<String> = demo.sections.iter().map(|s| s.name.clone()).collect();
        if let Some(listed) = listed(demo.name) {
            assert_eq!(names, listed, "{}: the pages follow --list", demo.name);
        }
        for s in &demo.sections {
            let page = site.join(s.page().replace(".md", ".html"));
            let html = read(&page);
            let shown = page.display();
            for part in [
                "class=\"python-side\"",
                "class=\"language-python\"",
                "class=\"rust-side\"",
                "class=\"language-rust\"",
                "class=\"run-label\"",
                "class=\"run-output\"",
                "A stand-in run, not a measurement",
            ] {
                assert!(html.contains(part), "{shown}: no {part}");
            }
            assert!(
                html.contains(&format!("cargo run -p {}", s.demo))
                    || html.contains(&format!("-p {} -- {}", s.demo, s.name)),
                "{shown}: no Run it line"
            );
            // The Rust block holds the lesson's first line, as the file has it now.
            let (first, _) = s.lesson.expect("a lesson part");
            let line = s.text.lines().nth(first - 1).unwrap().trim();
            let escaped = line
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
            let code = html
                .split("class=\"language-rust\"")
                .nth(1)
                .unwrap_or_default();
            let code = strip_tags(code);
            assert!(
                code.contains(strip_tags(&escaped).trim()),
                "{shown}: lesson starts {line:?}"
            );
            pages += 1;
        }
    }
    let this_build = read(&site.join("this-build.html"));
    assert!(this_build.contains("stand-ins"), "{this_build}");
    let sidebar: usize = read(&out.join("book-src/src/SUMMARY.md"))
        .lines()
        .filter(|l| l.starts_with("    - "))
        .count();
    assert_eq!(sidebar, pages, "one page per section in the summary");
}

/// The text of some HTML, without its tags (syntax highlighting wraps words in spans).
fn strip_tags(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

#[test]
fn every_internal_link_and_every_include_resolves() {
    let Some(out) = built() else { return };
    let site = out.join("book");
    assert!(html_files(&site).len() > 80, "the site has its pages");
    assert_eq!(broken_links(&site), Vec::<String>::new());
    assert_eq!(unexpanded(&site), Vec::<String>::new());
}

#[test]
fn a_figure_changed_in_a_captured_run_is_the_one_on_its_page() {
    let Some(out) = built() else { return };
    let copy = Path::new(env!("CARGO_TARGET_TMPDIR")).join("book-test-changed");
    let _ = std::fs::remove_dir_all(&copy);
    let runs = copy.join("runs");
    copy_dir(&out.join("book-runs"), &runs);
    let (run, _) = book::run::paths(&runs, "asyncio-demo", "gather");
    let captured = read(&run);
    assert!(captured.contains("1.000 s"), "{captured}");
    std::fs::write(&run, captured.replace("1.000 s", "7.654 s")).unwrap();
    build(&["--runs-from", runs.to_str().unwrap(), "--out"], &copy);
    let page = read(&copy.join("book/asyncio-demo/gather.html"));
    assert!(
        page.contains("stand-in figure ........... 7.654 s"),
        "{page}"
    );
    assert!(!page.contains("1.000 s"), "the old figure is gone");
    let other = read(&copy.join("book/asyncio-demo/semaphore.html"));
    assert!(other.contains("1.000 s"), "other pages keep theirs");
    std::fs::remove_dir_all(&copy).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------
// In a browser.
// ---------------------------------------------------------------------------------------

#[test]
fn in_a_browser_the_listings_sit_side_by_side_then_stack_and_search_finds_semaphore() {
    let Some(out) = built() else { return };
    let binary = match find_browser() {
        Ok(binary) => binary,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let (server, url) = Server::start(&out.join("book"));
    let (browser, endpoint) = Browser::start(&binary, &["--hide-scrollbars"]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut cdp = connect(&endpoint).await;
        let mut id = 0;
        let session = open_page(&mut cdp, &mut id, "about:blank").await;
        let s = Some(session.as_str());

        // A section page with a twin, 1400 px wide: two columns, one top edge, no overlap.
        let page = format!("{url}asyncio-demo/semaphore.html");
        resize(&mut cdp, &mut id, s, 1400).await;
        call(
            &mut cdp,
            &mut id,
            s,
            "Page.navigate",
            json!({ "url": page }),
        )
        .await;
        let loaded = format!(
            "location.href === {page:?} && document.readyState === 'complete' \
             && !!document.querySelector('.rust-side pre code')"
        );
        wait_until(&mut cdp, &mut id, &session, &loaded).await;
        let side_by_side = "(() => { \
            const p = document.querySelector('.python-side').getBoundingClientRect(); \
            const r = document.querySelector('.rust-side').getBoundingClientRect(); \
            return p.width > 300 && r.width > 300 && p.height > 100 && r.height > 100 \
                && Math.abs(p.top - r.top) < 1 && p.right <= r.left; })()";
        wait_until(&mut cdp, &mut id, &session, side_by_side).await;

        // 600 px: one above the other, the Python first.
        resize(&mut cdp, &mut id, s, 600).await;
        let stacked = "(() => { \
            const p = document.querySelector('.python-side').getBoundingClientRect(); \
            const r = document.querySelector('.rust-side').getBoundingClientRect(); \
            return p.height > 100 && r.height > 100 && r.top >= p.bottom \
                && Math.abs(p.left - r.left) < 1; })()";
        wait_until(&mut cdp, &mut id, &session, stacked).await;

        // The search box, typed into: `Semaphore` is found, and its results link pages.
        resize(&mut cdp, &mut id, s, 1400).await;
        let start = format!("{url}index.html");
        call(
            &mut cdp,
            &mut id,
            s,
            "Page.navigate",
            json!({ "url": start }),
        )
        .await;
        let loaded = format!("location.href === {start:?} && document.readyState === 'complete'");
        wait_until(&mut cdp, &mut id, &session, &loaded).await;
        let search = "(() => { \
            const bar = document.getElementById('mdbook-searchbar'); \
            if (!bar.offsetParent) document.getElementById('mdbook-search-toggle').click(); \
            bar.value = 'Semaphore'; \
            bar.dispatchEvent(new KeyboardEvent('keyup', { key: 'e' })); \
            const hits = document.querySelectorAll('#mdbook-searchresults li a'); \
            return hits.length > 0 && document.getElementById('mdbook-searchresults') \
                .textContent.toLowerCase().includes('semaphore'); })()";
        wait_until(&mut cdp, &mut id, &session, search).await;
        let _ = call(&mut cdp, &mut id, None, "Browser.close", json!({})).await;
    });
    drop(browser);
    drop(server);
}

async fn resize(cdp: &mut Cdp, id: &mut u64, session: Option<&str>, width: u32) {
    let metrics =
        json!({ "width": width, "height": 1000, "deviceScaleFactor": 1, "mobile": false });
    call(
        cdp,
        id,
        session,
        "Emulation.setDeviceMetricsOverride",
        metrics,
    )
    .await;
}

/// `book serve --port 0` on the site; its address.
struct Server(Child);

impl Server {
    fn start(site: &Path) -> (Server, String) {
        let mut child = Command::new(EXE)
            .args(["serve", "--port", "0", "--dir"])
            .arg(site)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let start = line.find("http://").unwrap_or_else(|| panic!("{line}"));
        let url = line[start..].split_whitespace().next().unwrap().to_owned();
        (Server(child), url)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
