//! `--interactive`: a numbered menu of the sections, until `q`.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use super::Demo;
use super::run::{How, Output};

impl<O: clap::Args> Demo<O> {
    /// The `--interactive` menu: numbered sections, run what the user picks, until `q`.
    pub(super) fn menu(&self, options: &O) -> ExitCode {
        let mut code = ExitCode::SUCCESS;
        let stdin = io::stdin();
        let width = self
            .sections
            .iter()
            .map(|s| s.name.len())
            .max()
            .unwrap_or(0);
        loop {
            println!("\n{}: choose sections to run", self.name);
            for (k, s) in self.sections.iter().enumerate() {
                println!("  {:>2}. {:width$}  {}", k + 1, s.name, s.python);
            }
            print!("numbers (e.g. 1 3), a = all, q = quit > ");
            let _ = io::stdout().flush();
            let mut line = String::new();
            if stdin.lock().read_line(&mut line).unwrap_or(0) == 0 {
                return code;
            }
            match parse_choice(line.trim(), self.sections.len()) {
                Ok(None) => return code,
                Ok(Some(chosen)) => {
                    code = self.run_sections(&chosen, options, Output::Banners, How::Measured);
                    print!("\npress Enter for the menu > ");
                    let _ = io::stdout().flush();
                    let mut enter = String::new();
                    if stdin.lock().read_line(&mut enter).unwrap_or(0) == 0 {
                        return code;
                    }
                }
                Err(message) => println!("{message}"),
            }
        }
    }
}

/// A menu answer: `Ok(None)` to quit, or the chosen section indexes.
fn parse_choice(answer: &str, count: usize) -> Result<Option<Vec<usize>>, String> {
    match answer {
        "q" | "quit" => return Ok(None),
        "a" | "all" => return Ok(Some((0..count).collect())),
        _ => {}
    }
    let chosen: Vec<usize> = answer
        .split([' ', ','])
        .filter(|w| !w.is_empty())
        .map(|w| match w.parse::<usize>() {
            Ok(n) if (1..=count).contains(&n) => Ok(n - 1),
            _ => Err(format!(
                "'{w}' is not a section number (1 to {count}), a or q"
            )),
        })
        .collect::<Result<_, _>>()?;
    if chosen.is_empty() {
        return Err(format!("type section numbers (1 to {count}), a or q"));
    }
    Ok(Some(chosen))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_answers() {
        assert_eq!(parse_choice("q", 3), Ok(None));
        assert_eq!(parse_choice("a", 3), Ok(Some(vec![0, 1, 2])));
        assert_eq!(parse_choice("3 1", 3), Ok(Some(vec![2, 0])));
        assert_eq!(parse_choice("2,3", 3), Ok(Some(vec![1, 2])));
        assert!(parse_choice("4", 3).unwrap_err().contains("1 to 3"));
        assert!(parse_choice("x", 3).is_err());
        assert!(parse_choice("", 3).is_err());
    }
}
