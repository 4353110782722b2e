// Empty: the build dependencies in Cargo.toml are there for their features (see the
// comment there), which cargo resolves only for a package with a build script.
fn main() {}
