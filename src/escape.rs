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
}
