//! The guides' benchmark table and decision matrix, re-measured for Rust (to be filled by
//! its issue).

fn main() {
    println!("compare: not written yet");
}
