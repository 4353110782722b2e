//! The book: `cargo run -p book` runs every section of every demo, writes a page per section
//! (the Python beside the Rust, both included from the files, and the run as printed) into
//! `target/book-src`, and renders the site into `target/book` with mdBook.

pub mod check;
pub mod mdbook;
pub mod page;
pub mod preprocess;
pub mod run;
pub mod serve;
pub mod site;
pub mod source;
