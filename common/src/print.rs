//! How a section prints: figures with their names, and the one-line takeaway.
//!
//! A takeaway that depends on a figure is a claim: print it with [`takeaway_if`] and the
//! [`Evidence`] that backs it, so it is printed as fact only when this run's figures show it.

use std::fmt::Display;

pub use crate::claim::Evidence;
use crate::claim::Machine;

/// Print a section's one-line takeaway, the last thing it says. Only for what does not
/// depend on this run's figures (how an API behaves); a measured claim goes through
/// [`takeaway_if`].
pub fn takeaway(text: impl Display) {
    println!("→ {text}");
}

/// Print `text` as the takeaway when `evidence` holds; otherwise a line that begins with
/// `not shown in this run:`, with what was expected, what was measured, and the likely cause
/// read from the machine now (load, usable cores, a disturbed baseline). Returns whether the
/// claim held. Either way the section has worked: a busy machine is not a failure.
pub fn takeaway_if(evidence: &Evidence, text: impl Display) -> bool {
    let machine = if evidence.holds() {
        None
    } else {
        Some(Machine::sample())
    };
    println!("{}", evidence.verdict(&text.to_string(), machine.as_ref()));
    evidence.holds()
}

/// A printed figure with its name: `  sequential ........ 2.503 s`. A name longer than
/// the dot leaders' 28 columns keeps two dots before its value.
pub fn figure(name: impl Display, value: impl Display) {
    println!("{}", figure_line(&name.to_string(), &value.to_string()));
}

fn figure_line(name: &str, value: &str) -> String {
    let dots = 28usize.saturating_sub(name.chars().count() + 1).max(2);
    format!("  {name} {} {value}", ".".repeat(dots))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_leaders_line_values_up_and_long_names_keep_two_dots() {
        assert_eq!(
            figure_line("sequential", "2.503 s"),
            format!("  sequential {} 2.503 s", ".".repeat(17))
        );
        let long = "a name much longer than the leaders";
        assert_eq!(figure_line(long, "1"), format!("  {long} .. 1"));
    }
}
