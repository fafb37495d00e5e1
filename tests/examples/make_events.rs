//! Writes the sample API Gateway v2 events in `events/webhook-receiver/` from the bodies in
//! `events/webhook-receiver/bodies/`, signed with the public test secrets in `events/test-secrets/`.
//!
//!     cargo run -p switchyard-tests --example make_events                 # at the documented time
//!     cargo run -p switchyard-tests --example make_events -- --now $(date +%s) --out target/events
//!         # fresh timestamps, written outside events/ (the committed files stay as they are)
//!
//! The integration test `events::every_sample_event_is_accepted` replays each file through the
//! receiver, so a sample that stops verifying fails the suite.

use std::path::{Path, PathBuf};

use switchyard_tests::samples::{self, SAMPLES, SAMPLE_TIME};

fn main() -> anyhow::Result<()> {
    let usage = "usage: make_events [--now UNIX] [--out DIR]";
    let mut now = SAMPLE_TIME;
    let events = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("events");
    let mut out = events.clone();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| anyhow::anyhow!("{flag} needs a value\n{usage}"))?;
        match flag.as_str() {
            "--now" => {
                now = value
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--now takes Unix seconds, got {value:?}"))?
            }
            "--out" => out = PathBuf::from(value),
            _ => anyhow::bail!("unknown argument {flag:?}\n{usage}"),
        }
    }
    let dir = out.join("webhook-receiver");
    std::fs::create_dir_all(&dir)?;
    for sample in SAMPLES {
        let event = samples::build_event(&events, sample, now)?;
        let path = dir.join(format!("{}.json", sample.name));
        std::fs::write(&path, serde_json::to_string_pretty(&event)? + "\n")?;
        println!("wrote {}", path.display());
    }
    let path = dir.join("connections.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&samples::connections_manifest())? + "\n",
    )?;
    println!("wrote {}", path.display());
    Ok(())
}
