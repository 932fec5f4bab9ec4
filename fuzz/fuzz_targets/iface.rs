//! Fuzzes `find` (the `-i IFACE` resolver) over a fixed, hand-made interface list (see `checks::iface`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::iface(&checks::text(data)));
