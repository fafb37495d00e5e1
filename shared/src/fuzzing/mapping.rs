//! The mapping target: jq compilation, and one run, in the sandbox.

use std::time::Duration;

use serde_json::Value;

use crate::connector::mapping::{default_samples, Mapping};
use crate::sandbox::{self, Limits};

/// Small bounds, so that a slow or hungry program costs the fuzzer little. A program that
/// exceeds one strands a sandbox thread (as it would in a Lambda); see [`MAX_STRANDED`].
const LIMITS: Limits = Limits {
    time: Duration::from_millis(50),
    max_output_bytes: 64 * 1024,
    max_memory_bytes: 16 * 1024 * 1024,
    max_stack_bytes: 4 * 1024 * 1024,
    max_nesting: 64,
    max_program_bytes: 4096,
    compile_time: Duration::from_millis(1000),
};

/// Stranded sandbox threads after which programs are compiled but no longer run: each one
/// keeps up to its memory bound for the life of the process (connector-sync recycles its
/// process instead; a fuzzer cannot).
const MAX_STRANDED: usize = 32;

/// Compiles an arbitrary jq program (the text before the first NUL byte) within the
/// sandbox's bounds and, when it compiles, runs it on the JSON after the NUL byte (or on the
/// default sample records).
pub fn mapping_compile(data: &[u8]) {
    let (program, input) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], Some(&data[i + 1..])),
        None => (data, None),
    };
    let Ok(program) = std::str::from_utf8(program) else {
        return;
    };
    let mapping = match Mapping::compile_with(program, &LIMITS) {
        Ok(mapping) => mapping,
        Err(error) => {
            let _ = (error.is_bound(), error.to_string());
            return;
        }
    };
    if sandbox::stranded() >= MAX_STRANDED {
        return;
    }
    let inputs = match input.and_then(|i| serde_json::from_slice::<Value>(i).ok()) {
        Some(value) => vec![value],
        None => default_samples(),
    };
    for input in &inputs {
        match mapping.apply_all(input) {
            Ok(outputs) => assert!(outputs.len() <= crate::connector::mapping::MAX_OUTPUTS),
            Err(error) => {
                let _ = error.to_string();
            }
        }
    }
}
