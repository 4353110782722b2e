//! `web-server --serve` and `websocket --serve`: the binary serves on 127.0.0.1, prints the
//! address, stops cleanly on Ctrl-C; and, when a Chromium or Chrome is installed, two
//! headless browser pages join the room and one sees what the other typed.
//!
//! The browser is driven over its DevTools protocol (a WebSocket: tokio-tungstenite and
//! serde_json, which the crate has anyway), so the test needs nothing else. Without a
//! browser it says that it skipped and why, and passes. Run only these:
//! `cargo test -p asyncio-demo --test serve -- --nocapture`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const EXE: &str = env!("CARGO_BIN_EXE_asyncio-demo");
/// The most any step waits (a browser's first start on a busy machine is slow).
const LIMIT: Duration = Duration::from_secs(60);

/// The demo serving `section`, and the stdout lines it prints.
struct Served {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Served {
    /// Start `asyncio-demo SECTION --serve` with Ctrl-C's default action restored (a test
    /// harness may start us with SIGINT ignored, which the demo then keeps ignoring).
    fn start(section: &str) -> (Served, String) {
        let mut child = Command::new("env")
            .args(["--default-signal=INT,TERM", EXE, section, "--serve"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the demo");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let served = Served { child, lines };
        let line = served.line_with("http://");
        let start = line.find("http://").unwrap();
        let url = line[start..].split_whitespace().next().unwrap().to_owned();
        (served, url)
    }

    fn line_with(&self, text: &str) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(e) => panic!("no line with {text:?}: {e}"),
            }
        }
    }

    /// Ctrl-C (SIGINT), then the exit status and the last line it printed.
    fn interrupt(mut self) -> String {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let line = self.line_with("stopped");
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
        line
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn web_server_serves_until_ctrl_c() {
    let (served, url) = Served::start("web-server");
    let body = reqwest::blocking_get(&format!("{url}items/3"));
    assert!(body.contains(r#""id":3"#), "{body}");
    let last = served.interrupt();
    assert!(
        last.contains("every request in flight was answered"),
        "{last}"
    );
}

#[test]
fn websocket_serves_the_page_and_closes_the_room_on_ctrl_c() {
    let (served, url) = Served::start("websocket");
    let page = reqwest::blocking_get(&url);
    assert!(page.contains("new WebSocket("), "{page}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ws_url = format!("{}ws", url.replace("http://", "ws://"));
    let mut ws = runtime.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
            .await
            .unwrap();
        let welcome = ws.next().await.unwrap().unwrap();
        assert!(welcome.to_text().unwrap().starts_with("welcome "));
        ws
    });
    let last = served.interrupt();
    assert!(last.contains("1 joined"), "{last}");
    let goodbye = runtime.block_on(ws.next()).unwrap().unwrap();
    match goodbye {
        Message::Close(Some(frame)) => assert_eq!(frame.reason.as_str(), "the server is stopping"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn serve_and_clients_are_checked() {
    for args in [
        &["gather", "--serve"][..],
        &["gather", "--clients", "10"],
        &["websocket", "--clients", "1"],
        &["websocket", "--clients", "many"],
    ] {
        let out = common::testing::run(EXE, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
}

/// A tiny HTTP GET without a runtime of its own (reqwest's blocking client is not in this
/// crate's features).
mod reqwest {
    pub fn blocking_get(url: &str) -> String {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let response = ::reqwest::get(url).await.unwrap();
            assert!(
                response.status().is_success(),
                "{url}: {}",
                response.status()
            );
            response.text().await.unwrap()
        })
    }
}

// ---------------------------------------------------------------------------------------
// The browser test.
// ---------------------------------------------------------------------------------------

/// A Chromium or Chrome to drive: `$CHROME`, else the usual names on `PATH`.
fn find_browser() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("CHROME") {
        return Ok(PathBuf::from(path));
    }
    const NAMES: &[&str] = &[
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
        "chrome",
    ];
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in NAMES {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(format!(
        "no Chromium or Chrome binary: none of {} on PATH, and $CHROME is not set (Debian: apt-get install chromium)",
        NAMES.join(", ")
    ))
}

/// A headless browser with its DevTools endpoint, in a profile folder of its own.
struct Browser {
    child: Child,
    profile: PathBuf,
}

impl Browser {
    fn start(binary: &Path) -> (Browser, String) {
        let profile = std::env::temp_dir().join(format!(
            "asyncio-demo-browser-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let child = Command::new(binary)
            .args([
                "--headless",
                "--remote-debugging-port=0",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the browser");
        let browser = Browser { child, profile };
        // The browser writes its port and path once it listens.
        let file = browser.profile.join("DevToolsActivePort");
        let deadline = Instant::now() + LIMIT;
        let endpoint = loop {
            if let Ok(text) = std::fs::read_to_string(&file)
                && let [port, path, ..] = text.lines().collect::<Vec<_>>()[..]
            {
                break format!("ws://127.0.0.1:{port}{path}");
            }
            assert!(
                Instant::now() < deadline,
                "the browser wrote no DevToolsActivePort"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        (browser, endpoint)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // After `Browser.close` it exits by itself; otherwise (a failed test) it is killed.
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Its helper processes may still be writing to the profile for a moment.
        for _ in 0..50 {
            if std::fs::remove_dir_all(&self.profile).is_ok() || !self.profile.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

type Cdp =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One DevTools call: send it, skip events, return its result.
async fn call(
    cdp: &mut Cdp,
    id: &mut u64,
    session: Option<&str>,
    method: &str,
    params: Value,
) -> Value {
    *id += 1;
    let mut request = json!({ "id": *id, "method": method, "params": params });
    if let Some(session) = session {
        request["sessionId"] = json!(session);
    }
    cdp.send(Message::text(request.to_string())).await.unwrap();
    loop {
        let message = cdp.next().await.expect("the browser hung up").unwrap();
        let Ok(text) = message.to_text() else {
            continue;
        };
        let reply: Value = serde_json::from_str(text).unwrap();
        if reply["id"] == json!(*id) {
            assert!(reply.get("error").is_none(), "{method}: {reply}");
            return reply["result"].clone();
        }
    }
}

/// Evaluate `expression` in a page until it returns `true`, within [`LIMIT`].
async fn wait_until(cdp: &mut Cdp, id: &mut u64, session: &str, expression: &str) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let params = json!({ "expression": expression, "returnByValue": true });
        let result = call(cdp, id, Some(session), "Runtime.evaluate", params).await;
        if result["result"]["value"] == json!(true) {
            return;
        }
        assert!(Instant::now() < deadline, "never true: {expression}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn two_browser_pages_exchange_a_message() {
    let binary = match find_browser() {
        Ok(binary) => binary,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let (served, url) = Served::start("websocket");
    let (browser, endpoint) = Browser::start(&binary);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (mut cdp, _) = tokio_tungstenite::connect_async(endpoint.as_str())
            .await
            .expect("connecting to the browser's DevTools");
        let mut id = 0;
        let mut sessions = Vec::new();
        for _ in 0..2 {
            let target = call(&mut cdp, &mut id, None, "Target.createTarget", json!({ "url": url })).await;
            let params = json!({ "targetId": target["targetId"], "flatten": true });
            let attached = call(&mut cdp, &mut id, None, "Target.attachToTarget", params).await;
            sessions.push(attached["sessionId"].as_str().unwrap().to_owned());
        }
        // Both pages in the room (their Send buttons enabled once the socket is open).
        for session in &sessions {
            let joined = "document.getElementById('send').disabled === false \
                          && document.getElementById('status').textContent.startsWith('you are client')";
            wait_until(&mut cdp, &mut id, session, joined).await;
        }
        // Typed in the first page, submitted...
        let typed = "const t = document.getElementById('text'); t.value = 'hello from page one'; \
                     document.getElementById('say').requestSubmit(); true";
        wait_until(&mut cdp, &mut id, &sessions[0], typed).await;
        // ... and seen in the second, with the first page's client number.
        let seen = "document.getElementById('log').textContent.includes(': hello from page one')";
        wait_until(&mut cdp, &mut id, &sessions[1], seen).await;
        let _ = call(&mut cdp, &mut id, None, "Browser.close", json!({})).await;
    });
    drop(browser);
    let last = served.interrupt();
    assert!(last.contains("2 joined"), "{last}");
}
