//! Fuzzes `parse_duration` and the `format_duration` round trip (see `checks::duration`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::duration(&checks::text(data)));
