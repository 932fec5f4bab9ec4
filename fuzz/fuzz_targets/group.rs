//! Fuzzes `Group::from_str`, `parse_groups` and `parse_group_list` (see `checks::group`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::group(&checks::text(data)));
