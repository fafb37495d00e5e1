#![no_main]
//! See `switchyard::fuzzing::mapping_compile`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::fuzzing::mapping_compile(data));
