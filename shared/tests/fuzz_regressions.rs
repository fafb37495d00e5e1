//! Replays every input kept under `fuzz/regressions/<target>/` through its fuzz entry point
//! (`switchyard::fuzzing`), on the stable toolchain: inputs that once crashed a target must
//! not crash it again. `make fuzz` finds new ones (see the README's "Fuzzing" section).

use std::path::{Path, PathBuf};

use switchyard::fuzzing::TARGETS;

fn regressions() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions")
}

#[test]
fn every_kept_fuzz_input_runs_without_a_panic() {
    let root = regressions();
    let mut replayed = 0;
    for (target, entry) in TARGETS {
        let dir = root.join(target);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "fuzz target `{target}` has no regression folder {} ({e}); every target keeps at \
                 least one input there",
                dir.display()
            )
        });
        let mut files: Vec<PathBuf> = entries
            .map(|e| e.expect("a readable directory entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} holds no input", dir.display());
        for file in files {
            let data = std::fs::read(&file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
            let outcome = std::panic::catch_unwind(|| entry(&data));
            assert!(
                outcome.is_ok(),
                "fuzz target `{target}` panicked on {} (reproduce: cargo test -p switchyard \
                 --test fuzz_regressions, or cargo +nightly fuzz run {target} {})",
                file.display(),
                file.display()
            );
            replayed += 1;
        }
    }
    println!("replayed {replayed} fuzz inputs");
}

#[test]
fn every_regression_folder_is_a_known_target() {
    let root = regressions();
    for entry in std::fs::read_dir(&root).unwrap_or_else(|e| panic!("cannot read {}: {e}", root.display())) {
        let path = entry.expect("a readable directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        assert!(
            TARGETS.iter().any(|(target, _)| *target == name),
            "{} is not a fuzz target's folder (targets: {:?})",
            path.display(),
            TARGETS.iter().map(|(t, _)| t).collect::<Vec<_>>()
        );
    }
}
