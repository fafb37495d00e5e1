#![no_main]
//! See `switchyard::fuzzing::webhook_extract`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::fuzzing::webhook_extract(data));
