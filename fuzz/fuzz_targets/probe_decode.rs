//! Fuzzes `Probe::decode` with arbitrary datagrams; a decoded probe must re-encode and decode to itself (see `checks::probe`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::probe(data));
