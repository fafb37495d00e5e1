#![no_main]
//! See `switchyard::fuzzing::connector_definition`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::fuzzing::connector_definition(data));
