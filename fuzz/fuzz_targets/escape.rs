//! Fuzzes `escape_text` and `hex_dump` with arbitrary payloads (see `checks::escape`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::escape(data));
