//! macOS links a shared library only when every symbol it uses is defined. A Python
//! extension module finds Python's symbols in the interpreter that loads it, so the linker
//! is told to look them up then (what PyO3's `add_extension_module_link_args` does).
//! Nothing to do on Linux.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos") {
        println!("cargo:rustc-cdylib-link-arg=-undefined");
        println!("cargo:rustc-cdylib-link-arg=dynamic_lookup");
    }
}
