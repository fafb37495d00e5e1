//! `cargo`, run from a test as a person runs it from the workspace root.

use std::process::Command;

/// A `cargo` command without the variables `cargo test` sets for the running test
/// (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`, `CARGO_BIN_EXE_*`, ...). Build scripts watch some of them
/// (ring's reruns when `CARGO_MANIFEST_DIR` changes), so a nested cargo that inherits them
/// compiles ring and everything above it again, and the suite's next `cargo test` compiles
/// them back: minutes on two cores.
pub fn command() -> Command {
    let mut command = Command::new("cargo");
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_by_cargo_test = name == "CARGO"
            || name == "OUT_DIR"
            || name == "CARGO_MANIFEST_DIR"
            || name == "CARGO_MANIFEST_PATH"
            || name == "CARGO_CRATE_NAME"
            || name == "CARGO_PRIMARY_PACKAGE"
            || name == "CARGO_TARGET_TMPDIR"
            || name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_");
        if set_by_cargo_test {
            command.env_remove(name.as_ref());
        }
    }
    command
}
