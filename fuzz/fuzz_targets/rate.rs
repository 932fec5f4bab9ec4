//! Fuzzes `parse_rate` and `parse_bitrate` (see `checks::rate`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::rate(&checks::text(data)));
