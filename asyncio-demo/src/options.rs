//! The demo-wide command-line options (plumbing, not a lesson): `download`'s (`--url`,
//! `--requests`, `--concurrency`, `--max-bytes`, `--ceiling`) with `web-server`'s and
//! `websocket`'s (`--serve`, `--clients`). Each section says which it owns
//! (`Section::owns_options`); the other sections read none.

use reqwest::Url;

#[derive(clap::Args, Clone, Debug)]
pub struct Options {
    /// `download`: fetch this http:// URL instead of the local test server's files
    #[arg(long, value_name = "URL", value_parser = parse_http_url)]
    pub url: Option<Url>,
    /// `download`: how many requests to make
    #[arg(long, value_name = "N", default_value_t = 3000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub requests: u64,
    /// `download`: the most requests in flight at once
    #[arg(long, value_name = "C", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub concurrency: u64,
    /// `download`: stop any response body longer than this (bytes, or with K, M or G)
    #[arg(long, value_name = "BYTES", default_value = "64M", value_parser = parse_bytes)]
    pub max_bytes: u64,
    /// `download`: also run `wrk` against the same URL (the ceiling), when it is on PATH
    #[arg(long)]
    pub ceiling: bool,
    /// `web-server`'s and `websocket`'s options (`--serve`, `--clients`).
    #[command(flatten)]
    pub web: ServeOptions,
}

/// Options of `web-server` and `websocket` (part of the demo-wide options).
#[derive(clap::Args, Clone, Debug)]
pub struct ServeOptions {
    /// `web-server`, `websocket`: keep the server running on 127.0.0.1 for a browser, until Ctrl-C
    #[arg(long)]
    pub serve: bool,
    /// `websocket`: how many clients join the room [default: 50]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(2..=20_000))]
    pub clients: Option<u64>,
}

impl ServeOptions {
    /// `--clients`, or [`CLIENTS`] when not given.
    pub fn clients(&self) -> u64 {
        self.clients.unwrap_or(CLIENTS)
    }
}

/// `--clients` by default: quick in a dev build.
pub const CLIENTS: u64 = 50;

/// The largest `--max-bytes`: 1 TiB.
const MAX_BYTES_LIMIT: u64 = 1 << 40;

/// `N`, `NK`, `NM` or `NG` (1024-based), from 1 byte to 1024G.
fn parse_bytes(text: &str) -> Result<u64, String> {
    let (digits, shift) = match text.as_bytes().last() {
        Some(b'K' | b'k') => (&text[..text.len() - 1], 10),
        Some(b'M' | b'm') => (&text[..text.len() - 1], 20),
        Some(b'G' | b'g') => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| digits.parse::<u64>().ok())
        .flatten()
        .filter(|n| (1..=MAX_BYTES_LIMIT >> shift).contains(n))
        .map(|n| n << shift)
        .ok_or_else(|| {
            "expected a size from 1 to 1024G: bytes, or a number with K, M or G (1024-based)"
                .to_owned()
        })
}

fn parse_http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("{e} (expected http://HOST[:PORT]/PATH)"))?;
    if url.scheme() != "http" {
        return Err("only http:// URLs (this build has no TLS)".to_owned());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_k_m_g_and_nothing_else() {
        assert_eq!(parse_bytes("1"), Ok(1));
        assert_eq!(parse_bytes("64M"), Ok(64 << 20));
        assert_eq!(parse_bytes("3k"), Ok(3 << 10));
        assert_eq!(parse_bytes("1024G"), Ok(1 << 40));
        for bad in [
            "",
            "0",
            "0M",
            "+5",
            "-5",
            "1.5M",
            "M",
            "5T",
            "1025G",
            "99999999999999999999",
        ] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(parse_http_url("http://127.0.0.1:8000/x").is_ok());
        assert!(parse_http_url("https://example.com/").is_err());
        assert!(parse_http_url("not a url").is_err());
    }
}
