//! Payloads as hex for the CLI: one string for `--json`, an `xxd`-like dump
//! for `--hex`.

use std::fmt::Write as _;

/// Lowercase hex of `payload`, no separators (`68656c6c6f`).
pub(crate) fn hex(payload: &[u8]) -> String {
    let mut out = String::with_capacity(payload.len() * 2);
    for b in payload {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// A hex dump, 16 bytes a line: offset, hex bytes, then the printable ASCII
/// (others as `.`), like `xxd`.
pub(crate) fn hex_dump(payload: &[u8]) -> Vec<String> {
    payload
        .chunks(16)
        .enumerate()
        .map(|(i, chunk)| {
            let mut line = format!("{:08x}: ", i * 16);
            for j in 0..16 {
                match chunk.get(j) {
                    Some(b) => {
                        let _ = write!(line, "{b:02x}");
                    }
                    None => line.push_str("  "),
                }
                if j % 2 == 1 {
                    line.push(' ');
                }
            }
            line.push(' ');
            line.extend(chunk.iter().map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            }));
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_forms() {
        assert_eq!(hex(b"hi\0"), "686900");
        let dump = hex_dump(b"hello world, this is 20");
        assert_eq!(dump.len(), 2);
        assert_eq!(
            dump[0],
            "00000000: 6865 6c6c 6f20 776f 726c 642c 2074 6869  hello world, thi"
        );
        assert!(dump[1].starts_with("00000010: 7320 6973 2032 30"));
        assert!(dump[1].ends_with(" s is 20"));
        assert!(hex_dump(b"").is_empty());
    }
}
