//! `web-server --serve` and `websocket --serve`: the binary serves on 127.0.0.1, prints the
//! address, stops cleanly on Ctrl-C; and, when a Chromium or Chrome is installed, two
//! headless browser pages join the room and one sees what the other typed, each message one
//! item named by the server (a message with newlines cannot pass for other senders).
//!
//! The browser is driven over its DevTools protocol (a WebSocket: tokio-tungstenite and
//! serde_json, which the crate has anyway), so the test needs nothing else. Without a
//! browser it says that it skipped and why, and passes. Run only these:
//! `cargo test -p asyncio-demo --test serve -- --nocapture`.

mod served;

use futures::{SinkExt, StreamExt};
use headless::{Browser, call, connect, find_browser, open_page, wait_until};
use serde_json::json;
use served::{EXE, Served, get};
use tokio_tungstenite::tungstenite::Message;

#[test]
fn web_server_serves_until_ctrl_c() {
    let served = Served::start("web-server");
    let (status, body) = get(&format!("{}items/3", served.url));
    assert_eq!(status, 200);
    assert!(body.contains(r#""id":3"#), "{body}");
    let (last, _) = served.interrupt();
    assert!(last.contains("the requests in flight answered"), "{last}");
}

#[test]
fn websocket_serves_the_page_and_closes_the_room_on_ctrl_c() {
    let served = Served::start("websocket");
    let (_, page) = get(&served.url);
    assert!(page.contains("new WebSocket("), "{page}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let ws_url = format!("{}ws", served.url.replace("http://", "ws://"));
    let mut ws = runtime.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
            .await
            .unwrap();
        let welcome = ws.next().await.unwrap().unwrap();
        assert!(welcome.to_text().unwrap().starts_with(r#"{"you":"#));
        ws
    });
    let (last, _) = served.interrupt();
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
        &["websocket", "--serve", "--clients", "5"],
        &["web-server", "--serve", "--python"],
        &["websocket", "--serve", "--python"],
    ] {
        let out = common::testing::run(EXE, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
}

// ---------------------------------------------------------------------------------------
// The browser test.
// ---------------------------------------------------------------------------------------

#[test]
fn two_browser_pages_exchange_messages_each_one_item_from_its_sender() {
    let binary = match find_browser() {
        Ok(binary) => binary,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let served = Served::start("websocket");
    let url = served.url.clone();
    let (browser, endpoint) = Browser::start(&binary, &["--disable-quic"]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut cdp = connect(&endpoint).await;
        let mut id = 0;
        let mut sessions = Vec::new();
        for _ in 0..2 {
            sessions.push(open_page(&mut cdp, &mut id, &url).await);
        }
        // Both pages in the room (their Send buttons enabled once the socket is open).
        for session in &sessions {
            let joined = "document.getElementById('send').disabled === false \
                          && document.getElementById('status').textContent.startsWith('you are client')";
            wait_until(&mut cdp, &mut id, session, joined).await;
        }
        // The first page's number in the room, as the server told it.
        let params = json!({ "expression": "document.getElementById('status').textContent", "returnByValue": true });
        let status = call(&mut cdp, &mut id, Some(&sessions[0]), "Runtime.evaluate", params).await;
        let status = status["result"]["value"].as_str().unwrap().to_owned();
        let first = status.trim_start_matches("you are client ").split(':').next().unwrap().to_owned();
        // Typed in the first page, submitted...
        let typed = "const t = document.getElementById('text'); t.value = 'hello from page one'; \
                     document.getElementById('say').requestSubmit(); true";
        wait_until(&mut cdp, &mut id, &sessions[0], typed).await;
        // ... and seen in the second as one item, named as the first page's client.
        let seen = format!(
            "[...document.querySelectorAll('#log li')].some(li => \
             li.querySelector('.from').textContent === 'client {first}' \
             && li.querySelector('.text').textContent === 'hello from page one')"
        );
        wait_until(&mut cdp, &mut id, &sessions[1], &seen).await;
        // A message with newlines (sent by a program: the page's input takes one line) is
        // one item too, from its real sender, not lines that pass for other senders.
        let ws_url = format!("{}ws", url.replace("http://", "ws://"));
        let (mut program, _) = tokio_tungstenite::connect_async(ws_url.as_str()).await.unwrap();
        program.next().await.unwrap().unwrap(); // the welcome: client 3
        let forged = format!("hi\nclient {first}: send me your password");
        program.send(Message::text(forged.as_str())).await.unwrap();
        let one_item = format!(
            "(() => {{ const items = [...document.querySelectorAll('#log li')]; \
             const last = items[items.length - 1]; \
             return items.length === 2 && last.querySelector('.from').textContent === 'client 3' \
             && last.querySelector('.text').textContent === {}; }})()",
            json!(forged)
        );
        wait_until(&mut cdp, &mut id, &sessions[1], &one_item).await;
        let _ = call(&mut cdp, &mut id, None, "Browser.close", json!({})).await;
    });
    drop(browser);
    let (last, _) = served.interrupt();
    assert!(last.contains("3 joined"), "{last}");
}
