//! Fitting text to the terminal: its width, and lines wrapped at word boundaries.

use std::io::IsTerminal;

/// The width when standard output is not a terminal (a pipe, a file, CI), or when a
/// terminal's width cannot be read.
pub const DEFAULT_WIDTH: usize = 80;

/// The columns available on standard output: the terminal's width (`COLUMNS`, else asked
/// of the terminal with `stty size`), or [`DEFAULT_WIDTH`] when it is not a terminal.
pub fn width() -> usize {
    if !std::io::stdout().is_terminal() {
        return DEFAULT_WIDTH;
    }
    let columns = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse().ok());
    columns
        .or_else(stty_columns)
        .filter(|&w: &usize| w >= 20)
        .unwrap_or(DEFAULT_WIDTH)
}

/// `stty size` on the controlling terminal: `ROWS COLUMNS`.
fn stty_columns() -> Option<usize> {
    let tty = std::fs::File::open("/dev/tty").ok()?;
    let out = std::process::Command::new("stty")
        .arg("size")
        .stdin(tty)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

/// `text` in lines of at most `width` characters, broken between words (a word longer
/// than the width has a line of its own).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let needed = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
        if !line.is_empty() && needed > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// `text` wrapped to `width`, every line after the first indented by `indent` spaces.
pub fn wrap_indented(text: &str, width: usize, indent: usize) -> String {
    let mut out = String::new();
    for (k, line) in wrap(text, width.saturating_sub(indent).max(20))
        .iter()
        .enumerate()
    {
        if k > 0 {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_between_words() {
        assert_eq!(wrap("a bb ccc dddd", 6), ["a bb", "ccc", "dddd"]);
        assert_eq!(wrap("", 10), [""]);
        assert_eq!(
            wrap("averyveryverylongword x", 5),
            ["averyveryverylongword", "x"]
        );
        assert_eq!(wrap_indented("one two three", 24, 4), "one two three");
    }

    #[test]
    fn not_a_terminal_is_80_columns() {
        // Under `cargo test` standard output is captured: not a terminal.
        if !std::io::stdout().is_terminal() {
            assert_eq!(width(), DEFAULT_WIDTH);
        }
    }
}
