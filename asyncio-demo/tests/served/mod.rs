//! `asyncio-demo SECTION --serve` started for a test: its address, its stdout lines, Ctrl-C,
//! and the check that it left nothing behind (no process, no listening port, no folder).
//! Shared by `serve.rs` and `server_stops.rs`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const EXE: &str = env!("CARGO_BIN_EXE_asyncio-demo");
/// The most any step waits (a browser's first start on a busy machine is slow).
pub const LIMIT: Duration = Duration::from_secs(60);
/// Ctrl-C to exit, at most (the servers' shutdown deadline is 1 s).
pub const EXIT_BOUND: Duration = Duration::from_secs(5);

/// The demo serving a section, and the stdout lines it prints.
pub struct Served {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// `http://127.0.0.1:PORT/`
    pub url: String,
    /// Set in its environment: every process it starts carries it.
    tag: String,
    /// Its `TMPDIR`, empty again once it has ended.
    tmp: PathBuf,
}

impl Served {
    /// Start `asyncio-demo SECTION --serve` with Ctrl-C's default action restored (a test
    /// harness may start us with SIGINT ignored, which the demo then keeps ignoring).
    pub fn start(section: &str) -> Served {
        Served::start_with_open_files(section, None)
    }

    /// The same under `ulimit -n N`, when `open_files` is given.
    pub fn start_with_open_files(section: &str, open_files: Option<u32>) -> Served {
        let tag = format!("{}-{}", std::process::id(), nanos());
        let tmp = std::env::temp_dir().join(format!("asyncio-demo-served-{tag}"));
        std::fs::create_dir_all(&tmp).unwrap();
        let limit = open_files.map_or(String::new(), |n| format!("ulimit -n {n} && "));
        let mut child = Command::new("env")
            .args(["--default-signal=INT,TERM", "sh", "-c"])
            .arg(format!("{limit}exec \"$0\" \"$@\""))
            .args([EXE, section, "--serve"])
            .env("ASYNCIO_DEMO_TEST_TAG", &tag)
            .env("TMPDIR", &tmp)
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the demo");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            lines.try_for_each(|line| tx.send(line)).ok()
        });
        let mut served = Served {
            child,
            lines,
            url: String::new(),
            tag,
            tmp,
        };
        let line = served.line_with("http://");
        let start = line.find("http://").unwrap();
        served.url = line[start..].split_whitespace().next().unwrap().to_owned();
        served
    }

    /// `127.0.0.1:PORT`
    pub fn addr(&self) -> String {
        self.url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned()
    }

    pub fn line_with(&self, text: &str) -> String {
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

    /// Ctrl-C (SIGINT); then it must exit within [`EXIT_BOUND`], successfully, having
    /// printed its `stopped` line, and leave no process, port or folder behind. Returns the
    /// `stopped` line and the time from the signal to the exit.
    pub fn interrupt(mut self) -> (String, Duration) {
        let sent = Instant::now();
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                sent.elapsed() < EXIT_BOUND,
                "still running {EXIT_BOUND:?} after Ctrl-C"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let took = sent.elapsed();
        assert!(status.success(), "{status}");
        let line = self.line_with("stopped");
        self.assert_nothing_left();
        (line, took)
    }

    fn assert_nothing_left(&self) {
        let left = processes_tagged(&self.tag);
        assert!(left.is_empty(), "processes left running: {left:?}");
        let refused = std::net::TcpStream::connect(self.addr()).is_err();
        assert!(refused, "{} still accepts connections", self.addr());
        let files: Vec<_> = std::fs::read_dir(&self.tmp).unwrap().collect();
        assert!(files.is_empty(), "left in its TMPDIR: {files:?}");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

fn nanos() -> u128 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| d.as_nanos())
}

/// Processes (not zombies) whose environment holds `ASYNCIO_DEMO_TEST_TAG=tag`.
fn processes_tagged(tag: &str) -> Vec<String> {
    let needle = format!("ASYNCIO_DEMO_TEST_TAG={tag}\0");
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter(|e| {
            std::fs::read(e.path().join("environ"))
                .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// A tiny HTTP GET on a runtime of its own: the status and the body.
pub fn get(url: &str) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let response = reqwest::get(url).await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    })
}
