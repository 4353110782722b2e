// Empty: lets workspace-hack have the build dependencies that unify proc-macro features (Cargo.toml).
fn main() {}
