//! Showing payloads safely: whatever a sender puts in a datagram, it must not
//! drive the reader's terminal (escape sequences, bidi overrides, NULs).

use std::fmt::Write;

/// Renders `payload` as one line of text: printable UTF-8 stays as it is,
/// everything else is escaped (`\n`, `\t`, `\\`, `\x1b`, `\u{202e}`), and
/// bytes that are not UTF-8 are shown as `\xNN`.
pub fn escape_text(payload: &[u8]) -> String {
    let mut out = String::with_capacity(payload.len());
    for chunk in payload.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x80 && c.is_ascii_control() => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if is_dangerous(c) => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// Characters that are valid but change how a terminal shows what follows:
/// C1 controls (which include CSI, U+009B), bidirectional overrides and
/// isolates, zero-width and line/paragraph separators.
fn is_dangerous(c: char) -> bool {
    matches!(c as u32,
        0x80..=0x9f
        | 0x061c
        | 0x200b..=0x200f
        | 0x2028..=0x202e
        | 0x2066..=0x2069
        | 0xfeff
    )
}

/// Lowercase hex of `payload`, no separators (`68656c6c6f`).
pub fn hex(payload: &[u8]) -> String {
    let mut out = String::with_capacity(payload.len() * 2);
    for b in payload {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// A hex dump, 16 bytes a line: offset, hex bytes, then the printable ASCII
/// (others as `.`), like `xxd`.
pub fn hex_dump(payload: &[u8]) -> Vec<String> {
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
    fn plain_text_is_unchanged() {
        assert_eq!(escape_text(b"hello world"), "hello world");
        assert_eq!(escape_text("héllo wörld ✓".as_bytes()), "héllo wörld ✓");
    }

    #[test]
    fn controls_and_escapes_are_escaped() {
        assert_eq!(
            escape_text(b"\x1b[2J\x1b]0;pwned\x07"),
            "\\x1b[2J\\x1b]0;pwned\\x07"
        );
        assert_eq!(escape_text(b"a\0b\nc\td\\"), "a\\x00b\\nc\\td\\\\");
        assert_eq!(escape_text(b"\x7f"), "\\x7f");
        assert_eq!(escape_text("\u{9b}31m".as_bytes()), "\\u{9b}31m");
        assert_eq!(escape_text("abc\u{202e}cba".as_bytes()), "abc\\u{202e}cba");
        assert_eq!(escape_text("a\u{61c}b".as_bytes()), "a\\u{61c}b");
    }

    #[test]
    fn invalid_utf8_is_shown_as_bytes() {
        assert_eq!(escape_text(b"ok\xff\xfe!"), "ok\\xff\\xfe!");
        assert_eq!(escape_text(b"\xe2\x82"), "\\xe2\\x82");
        // Nothing that reaches the terminal is a control character.
        let all: Vec<u8> = (0..=255).collect();
        assert!(!escape_text(&all).chars().any(|c| c.is_control()));
    }

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
