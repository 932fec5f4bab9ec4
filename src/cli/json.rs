//! The CLI's JSON writer for the one-object-per-line output of `--json`.
//!
//! mcast only writes flat objects with a few nested arrays, so this small
//! writer replaces serde_json and keeps the phone binary small. Strings are
//! escaped per RFC 8259 §7.

use std::fmt::Write;

/// One JSON object being written. Fields appear in the order they are added.
#[derive(Debug, Clone)]
pub(crate) struct JsonObject {
    buf: String,
    first: bool,
}

impl Default for JsonObject {
    fn default() -> JsonObject {
        JsonObject::new()
    }
}

impl JsonObject {
    /// An empty object.
    pub(crate) fn new() -> JsonObject {
        JsonObject {
            buf: String::from("{"),
            first: true,
        }
    }

    /// An object whose first field is `"type": kind`.
    pub(crate) fn typed(kind: &str) -> JsonObject {
        JsonObject::new().str("type", kind)
    }

    fn key(&mut self, key: &str) {
        if !self.first {
            self.buf.push(',');
        }
        self.first = false;
        push_string(&mut self.buf, key);
        self.buf.push(':');
    }

    /// Adds a string field.
    #[must_use]
    pub(crate) fn str(mut self, key: &str, value: &str) -> JsonObject {
        self.key(key);
        push_string(&mut self.buf, value);
        self
    }

    /// Adds a string field, or `null`.
    #[must_use]
    pub(crate) fn opt_str(self, key: &str, value: Option<&str>) -> JsonObject {
        match value {
            Some(v) => self.str(key, v),
            None => self.raw(key, "null"),
        }
    }

    /// Adds an integer field.
    #[must_use]
    pub(crate) fn int(mut self, key: &str, value: impl Into<i128>) -> JsonObject {
        self.key(key);
        let _ = write!(self.buf, "{}", value.into());
        self
    }

    /// Adds a number field; non-finite values become `null`.
    #[must_use]
    pub(crate) fn num(mut self, key: &str, value: f64) -> JsonObject {
        self.key(key);
        if value.is_finite() {
            let _ = write!(self.buf, "{value}");
        } else {
            self.buf.push_str("null");
        }
        self
    }

    /// Adds a boolean field.
    #[must_use]
    pub(crate) fn bool(self, key: &str, value: bool) -> JsonObject {
        self.raw(key, if value { "true" } else { "false" })
    }

    /// Adds an array of strings.
    #[must_use]
    pub(crate) fn strs<'a>(
        self,
        key: &str,
        values: impl IntoIterator<Item = &'a str>,
    ) -> JsonObject {
        self.array(key, values, push_string)
    }

    /// Adds an array of objects.
    #[must_use]
    pub(crate) fn objects(
        self,
        key: &str,
        values: impl IntoIterator<Item = JsonObject>,
    ) -> JsonObject {
        self.array(key, values, |buf, v| buf.push_str(&v.finish()))
    }

    /// Adds an array, each element written by `push`.
    fn array<T>(
        mut self,
        key: &str,
        values: impl IntoIterator<Item = T>,
        push: impl Fn(&mut String, T),
    ) -> JsonObject {
        self.key(key);
        self.buf.push('[');
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.buf.push(',');
            }
            push(&mut self.buf, v);
        }
        self.buf.push(']');
        self
    }

    /// Adds a field whose value is already JSON.
    #[must_use]
    pub(crate) fn raw(mut self, key: &str, json: &str) -> JsonObject {
        self.key(key);
        self.buf.push_str(json);
        self
    }

    /// The finished object, one line.
    pub(crate) fn finish(mut self) -> String {
        self.buf.push('}');
        self.buf
    }
}

/// Appends `s` as a JSON string literal.
fn push_string(buf: &mut String, s: &str) {
    buf.push('"');
    for c in s.chars() {
        match c {
            '"' => buf.push_str("\\\""),
            '\\' => buf.push_str("\\\\"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            '\t' => buf.push_str("\\t"),
            // Controls, and the C1 range and separators that some terminals
            // and JavaScript parsers treat specially.
            c if (c as u32) < 0x20
                || (0x7f..=0x9f).contains(&(c as u32))
                || c == '\u{2028}'
                || c == '\u{2029}' =>
            {
                let _ = write!(buf, "\\u{:04x}", c as u32);
            }
            c => buf.push(c),
        }
    }
    buf.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_flat_objects() {
        let o = JsonObject::typed("message")
            .int("bytes", 11u32)
            .num("duration_s", 1.5)
            .num("nan", f64::NAN)
            .bool("truncated", false)
            .opt_str("text", None)
            .strs("flags", ["up", "multicast"])
            .objects("addresses", [JsonObject::new().str("addr", "::1")])
            .finish();
        assert_eq!(
            o,
            r#"{"type":"message","bytes":11,"duration_s":1.5,"nan":null,"truncated":false,"text":null,"flags":["up","multicast"],"addresses":[{"addr":"::1"}]}"#
        );
    }

    #[test]
    fn escapes_strings() {
        let o = JsonObject::new()
            .str("t", "a\"b\\c\n\u{1b}[0m\0\u{2028}é")
            .finish();
        assert_eq!(o, r#"{"t":"a\"b\\c\n\u001b[0m\u0000\u2028é"}"#);
    }
}
