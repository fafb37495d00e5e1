//! Fuzz entry points: one function per `cargo fuzz` target (`fuzz/fuzz_targets/*.rs` are thin
//! wrappers), also replayed by `shared/tests/fuzz_regressions.rs` on the stable toolchain.
//!
//! Every entry point takes arbitrary bytes and must never panic. Where a property can be
//! checked cheaply it is asserted, so that the fuzzer reports a wrong answer as a crash:
//!
//! * [`webhook_verify`]: every scheme's verifier (signature, header and timestamp parsing) on
//!   an arbitrary delivery; with the high bit of the first byte set, the delivery is signed
//!   with [`crate::webhook::sign`] first and must then verify.
//! * [`webhook_extract`]: every scheme's event id and type extraction; the events must keep
//!   the documented bounds (id length, type length, batch size), and the receiver's fast JSON
//!   scan must read the body as serde_json does whenever it answers.
//! * [`connector_definition`]: the connector definition parser and validator (YAML or JSON);
//!   a definition that loads must come back unchanged through its own JSON serialisation.
//! * [`request_template`]: `{{ name }}` templates and request templates rendered against
//!   arbitrary values; a rendered request stays under its base URL.
//! * [`mapping_compile`]: jq mapping compilation, and a run on a sample record, in the
//!   sandbox within small bounds.
//!
//! Only built with the `fuzzing` feature.

mod connector;
mod delivery;
mod mapping;
mod webhook;

pub use connector::{connector_definition, request_template};
pub use mapping::mapping_compile;
pub use webhook::{webhook_extract, webhook_verify};

/// A fuzz entry point: any bytes in, no panic.
pub type Target = fn(&[u8]);

/// Every target by its `cargo fuzz` name (the names of `fuzz/fuzz_targets/*.rs` and of the
/// folders under `fuzz/regressions/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("webhook_verify", webhook_verify),
    ("webhook_extract", webhook_extract),
    ("connector_definition", connector_definition),
    ("request_template", request_template),
    ("mapping_compile", mapping_compile),
];
