//! The `--serve` servers stop within a bound whatever their clients do, and leave no
//! process, port or folder behind (issue 25): a blocking handler past its timeout, two
//! blocking handlers holding both workers, a thousand clients that sent half a header, a
//! client that pipelines requests and never reads; and, under `ulimit -n 64`, a new client
//! still gets in past clients that hold every connection the server may open.

mod served;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use served::{Served, get};

/// Connections that send half a request header and wait.
fn half_headers(addr: &str, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut socket = TcpStream::connect(addr).expect("connecting");
            socket.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
            socket
        })
        .collect()
}

#[test]
fn a_blocking_call_past_its_timeout_does_not_hold_the_exit() {
    let served = Served::start("web-server");
    let (status, body) = get(&format!("{}block-fixed/100000000", served.url));
    assert_eq!(status, 422, "a call that long is refused: {body}");
    let (status, body) = get(&format!("{}block-fixed/1000", served.url));
    assert_eq!(
        status, 503,
        "the timeout answers, the thread sleeps on: {body}"
    );
    let (_, took) = served.interrupt();
    eprintln!("web-server, a blocking call past its timeout: Ctrl-C to exit {took:?}");
}

#[test]
fn two_blocking_calls_do_not_freeze_the_server() {
    let served = Served::start("web-server");
    let blockers: Vec<_> = (0..2)
        .map(|_| {
            let url = format!("{}block/1000", served.url);
            std::thread::spawn(move || get(&url))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100)); // both workers blocked
    let (status, _) = get(&format!("{}items/1", served.url));
    assert_eq!(status, 200, "answered once the blocking calls end");
    for blocker in blockers {
        assert_eq!(blocker.join().unwrap().0, 200);
    }
    let (_, took) = served.interrupt();
    eprintln!("web-server after two blocking calls: Ctrl-C to exit {took:?}");
}

#[test]
fn a_thousand_half_headers_do_not_hold_the_shutdown() {
    rlimit::increase_nofile_limit(u64::MAX).unwrap(); // a thousand sockets in this process
    for section in ["web-server", "websocket"] {
        let served = Served::start(section);
        let _held = half_headers(&served.addr(), 1000);
        let (_, took) = served.interrupt();
        eprintln!("{section} with 1,000 half-sent headers: Ctrl-C to exit {took:?}");
    }
}

#[test]
fn a_client_that_pipelines_and_never_reads_does_not_hold_the_shutdown() {
    let served = Served::start("web-server");
    let mut socket = TcpStream::connect(served.addr()).unwrap();
    socket
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let requests = b"GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000);
    // Until the server's answers fill both sockets' buffers and it stops reading.
    while socket.write_all(&requests).is_ok() {}
    let (_, took) = served.interrupt();
    eprintln!("web-server with a client that never reads: Ctrl-C to exit {took:?}");
}

#[test]
fn under_ulimit_64_a_new_client_gets_in_past_half_headers() {
    let served = Served::start_with_open_files("web-server", Some(64));
    let _held = half_headers(&served.addr(), 60);
    let (status, _) = get(&format!("{}items/1", served.url)); // once the timeouts free a slot
    assert_eq!(status, 200);
    let (_, took) = served.interrupt();
    eprintln!("web-server under ulimit -n 64: Ctrl-C to exit {took:?}");
}
