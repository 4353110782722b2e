//! `book serve`: the built site on 127.0.0.1, for a browser. Static files only, a thread
//! per connection, `GET` and `HEAD`; nothing outside the site's folder is served.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result};

/// Serves `dir` until the process is stopped; prints the address first.
pub fn serve(dir: &Path, port: u16) -> Result<()> {
    anyhow::ensure!(
        dir.join("index.html").is_file(),
        "{} has no index.html: build the book first (cargo run -p book)",
        dir.display()
    );
    let listener = TcpListener::bind(("127.0.0.1", port)).context("binding 127.0.0.1")?;
    println!(
        "book: serving {} at http://{}/ (Ctrl-C stops)",
        dir.display(),
        listener.local_addr()?
    );
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let dir = dir.to_path_buf();
        std::thread::spawn(move || {
            let _ = answer(stream, &dir);
        });
    }
    Ok(())
}

fn answer(mut stream: TcpStream, dir: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // The headers are not needed; read them so the client sees an orderly close.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut parts = request.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let file = local_file(dir, target);
    let (status, kind, body) = match (
        method,
        file.and_then(|f| Some((std::fs::read(&f).ok()?, f))),
    ) {
        ("GET" | "HEAD", Some((body, file))) => ("200 OK", content_type(&file), body),
        ("GET" | "HEAD", None) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            b"not found\n".to_vec(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            b"GET only\n".to_vec(),
        ),
    };
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        stream.write_all(&body)?;
    }
    stream.flush()
}

/// The file a request path names inside `dir` (`/` and folders: their `index.html`);
/// none for a path that would leave `dir`.
pub fn local_file(dir: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    let path = percent_decode(path)?;
    let mut file = dir.to_path_buf();
    for part in Path::new(path.trim_start_matches('/')).components() {
        match part {
            Component::Normal(p) => file.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if file.is_dir() {
        file.push("index.html");
    }
    file.is_file().then_some(file)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_map_to_files_inside_the_site_only() {
        let dir = std::env::temp_dir().join(format!("book-serve-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("a b")).unwrap();
        std::fs::write(dir.join("index.html"), "i").unwrap();
        std::fs::write(dir.join("a b/index.html"), "x").unwrap();
        assert_eq!(local_file(&dir, "/"), Some(dir.join("index.html")));
        assert_eq!(
            local_file(&dir, "/a%20b/?q=1#top"),
            Some(dir.join("a b/index.html"))
        );
        assert_eq!(local_file(&dir, "/../etc/passwd"), None);
        assert_eq!(local_file(&dir, "/missing.html"), None);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
