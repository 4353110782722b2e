//! macOS links a shared library only when every symbol it uses is defined. A Python
//! extension module finds Python's symbols in the interpreter that loads it, so the linker
//! is told to look them up then (what PyO3's `add_extension_module_link_args` does).
//! Nothing to do on Linux.
//!
//! It also hands the crate its optimisation level (`MODULE_OPT_LEVEL`): the module is
//! optimised in the dev profile too, and the measuring side says so only when it is.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let level = std::env::var("OPT_LEVEL").unwrap_or_else(|_| "0".to_owned());
    println!("cargo:rustc-env=MODULE_OPT_LEVEL={level}");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos") {
        println!("cargo:rustc-cdylib-link-arg=-undefined");
        println!("cargo:rustc-cdylib-link-arg=dynamic_lookup");
    }
}
