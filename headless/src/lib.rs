//! A headless Chromium driven over its DevTools protocol (a WebSocket: tokio-tungstenite and
//! serde_json, which the workspace has anyway): the browser tests' plumbing (asyncio-demo's
//! WebSocket page, the book's layout), not a lesson. No extra crate, no browser download:
//! it looks for `$CHROME`, else a Chromium or Chrome on `PATH` (Debian: `apt-get install
//! chromium`); a test without one prints `skipped: ...` and passes.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// How long any one wait on the browser may take.
pub const LIMIT: Duration = Duration::from_secs(60);

pub fn find_browser() -> Result<PathBuf, String> {
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
pub struct Browser {
    child: Child,
    profile: PathBuf,
}

impl Browser {
    /// Start it headless in a profile folder of its own (`extra` flags added, e.g.
    /// `--hide-scrollbars`); with the DevTools endpoint to connect to.
    pub fn start(binary: &Path, extra: &[&str]) -> (Browser, String) {
        let profile = std::env::temp_dir().join(format!(
            "headless-browser-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
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
            .args(extra)
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

/// A DevTools connection.
pub type Cdp =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One DevTools call: send it, skip events, return its result.
pub async fn call(
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

/// The DevTools connection to a browser [`Browser::start`] gave `endpoint` for.
pub async fn connect(endpoint: &str) -> Cdp {
    tokio_tungstenite::connect_async(endpoint)
        .await
        .expect("connecting to the browser's DevTools")
        .0
}

/// A new tab at `url`, attached: its session id, for [`call`] and [`wait_until`].
pub async fn open_page(cdp: &mut Cdp, id: &mut u64, url: &str) -> String {
    let target = call(cdp, id, None, "Target.createTarget", json!({ "url": url })).await;
    let params = json!({ "targetId": target["targetId"], "flatten": true });
    let attached = call(cdp, id, None, "Target.attachToTarget", params).await;
    attached["sessionId"].as_str().unwrap().to_owned()
}

/// Evaluate `expression` in a page until it returns `true`, within [`LIMIT`].
pub async fn wait_until(cdp: &mut Cdp, id: &mut u64, session: &str, expression: &str) {
    let deadline = Instant::now() + LIMIT;
    loop {
        let params = json!({ "expression": expression, "returnByValue": true });
        let result = call(cdp, id, Some(session), "Runtime.evaluate", params).await;
        if result["result"]["value"] == json!(true) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never true: {expression}\nlast: {result}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
