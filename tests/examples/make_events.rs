//! Writes the sample API Gateway v2 events in `events/webhook-receiver/` from the bodies in
//! `events/webhook-receiver/bodies/`, signed with the public test secrets in `events/test-secrets/`.
//!
//!     cargo run -p switchyard-tests --example make_events                 # at the documented time
//!     cargo run -p switchyard-tests --example make_events -- --now $(date +%s)   # fresh timestamps
//!
//! The integration test `events::every_sample_event_is_accepted` replays each file through the
//! receiver, so a sample that stops verifying fails the suite.

use std::path::Path;

use switchyard_tests::samples::{self, SAMPLES, SAMPLE_TIME};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let now = match args.as_slice() {
        [] => SAMPLE_TIME,
        [flag, value] if flag == "--now" => value
            .parse()
            .map_err(|_| anyhow::anyhow!("--now takes Unix seconds, got {value:?}"))?,
        _ => anyhow::bail!("usage: make_events [--now UNIX]"),
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("events");
    for sample in SAMPLES {
        let event = samples::build_event(&root, sample, now)?;
        let path = root.join("webhook-receiver").join(format!("{}.json", sample.name));
        std::fs::write(&path, serde_json::to_string_pretty(&event)? + "\n")?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
