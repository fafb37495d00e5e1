#![no_main]
//! See `switchyard::fuzzing::request_template`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| switchyard::fuzzing::request_template(data));
