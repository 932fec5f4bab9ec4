//! mcast's `--json` output read with serde_json: a strict parse of one line
//! (RFC 8259 as serde_json reads it, plus: no key twice in an object), the
//! lines of a run's stdout, the objects of one `type` (and `role`), and typed
//! getters ([`Fields`]) that fail the test with the key and the object when a
//! field is missing or of another kind.
//!
//! Reached as `common::json` (declared in `tests/common/mod.rs`).

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
pub use serde_json::Value;

/// A value read by [`parse`]: serde_json's, with each object's first key
/// kept (serde_json's map sorts its keys).
struct Strict {
    value: Value,
    first_key: Option<String>,
}

impl From<Value> for Strict {
    fn from(value: Value) -> Strict {
        Strict {
            value,
            first_key: None,
        }
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Strict, E> {
        Ok(Value::Bool(b).into())
    }
    fn visit_i64<E>(self, n: i64) -> Result<Strict, E> {
        Ok(Value::from(n).into())
    }
    fn visit_u64<E>(self, n: u64) -> Result<Strict, E> {
        Ok(Value::from(n).into())
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Strict, E> {
        serde_json::Number::from_f64(n)
            .map(|n| Value::Number(n).into())
            .ok_or_else(|| E::custom("a number that is not finite"))
    }
    fn visit_str<E>(self, s: &str) -> Result<Strict, E> {
        Ok(Value::String(s.to_owned()).into())
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Value::Null.into())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Strict>()? {
            items.push(item.value);
        }
        Ok(Value::Array(items).into())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut fields = serde_json::Map::new();
        let mut first_key = None;
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value::<Strict>()?.value;
            if fields.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            first_key.get_or_insert_with(|| key.clone());
            fields.insert(key, value);
        }
        Ok(Strict {
            value: Value::Object(fields),
            first_key,
        })
    }
}

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

fn parse_keeping_first_key(text: &str) -> Result<Strict, String> {
    serde_json::from_str::<Strict>(text).map_err(|e| e.to_string())
}

/// Parses one JSON text; an object with a key twice is an error.
pub fn parse(text: &str) -> Result<Value, String> {
    parse_keeping_first_key(text).map(|s| s.value)
}

/// Parses one line of mcast's JSON output, failing the test (with the line)
/// if it is not JSON.
pub fn parse_line(line: &str) -> Value {
    parse(line).unwrap_or_else(|e| panic!("bad JSON ({e}): {line}"))
}

/// Every line of `stdout`, parsed; fails the test (showing `run`) on a line
/// that is not one JSON object whose first field is a string `type`.
pub fn typed_lines(stdout: &str, run: &dyn fmt::Debug) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| {
            let v = parse_keeping_first_key(l)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {l}\nin {run:?}"));
            let typed = v.first_key.as_deref() == Some("type")
                && v.value.get("type").is_some_and(Value::is_string);
            assert!(
                typed,
                "not an object whose first field is a string `type`: {l}"
            );
            v.value
        })
        .collect()
}

/// Whether `v` is an object of type `kind` (and, if given, role `role`).
pub fn is_of(v: &Value, kind: &str, role: Option<&str>) -> bool {
    v.get("type").and_then(Value::as_str) == Some(kind)
        && role.is_none_or(|r| v.get("role").and_then(Value::as_str) == Some(r))
}

/// The objects of type `kind` (and, if given, role `role`).
pub fn of_type<'a>(lines: &'a [Value], kind: &str, role: Option<&str>) -> Vec<&'a Value> {
    lines.iter().filter(|v| is_of(v, kind, role)).collect()
}

/// The one object of type `kind` (and role `role`); fails the test if there
/// is none or more than one.
pub fn only<'a>(lines: &'a [Value], kind: &str, role: Option<&str>) -> &'a Value {
    let found = of_type(lines, kind, role);
    assert_eq!(
        found.len(),
        1,
        "expected one {kind} {role:?} object in {lines:#?}"
    );
    found[0]
}

/// `line` parsed, if it is an object of type `kind`; fails the test if it
/// is not JSON.
pub fn object_of(line: &str, kind: &str) -> Option<Value> {
    Some(parse_line(line)).filter(|v| is_of(v, kind, None))
}

/// The lines of `text` that are objects of type `kind`, parsed; fails the
/// test on a line that is not JSON.
pub fn objects_in(text: &str, kind: &str) -> Vec<Value> {
    text.lines()
        .map(parse_line)
        .filter(|v| is_of(v, kind, None))
        .collect()
}

/// The source address (no port, brackets or scope) that a `--json send`
/// announced in its `sending` object, if it did.
pub fn sending_source_ip(stdout: &str) -> Option<String> {
    let sending = objects_in(stdout, "sending").into_iter().next()?;
    let a = sending.get("source")?.as_str()?;
    let a = a.rsplit_once(':').map_or(a, |(ip, _)| ip);
    let a = a.trim_start_matches('[').trim_end_matches(']');
    Some(a.split('%').next().unwrap_or(a).to_owned())
}

/// The keys of an object (empty for anything else).
pub fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// Typed getters on a JSON object: each fails the test, naming the key and
/// showing the object, when the field is missing or of another kind.
pub trait Fields {
    /// The field `key`.
    fn at(&self, key: &str) -> &Value;
    /// The string field `key`.
    fn s(&self, key: &str) -> &str;
    /// The unsigned integer field `key`.
    fn u(&self, key: &str) -> u64;
    /// The number field `key`.
    fn f(&self, key: &str) -> f64;
    /// The boolean field `key`.
    fn b(&self, key: &str) -> bool;
    /// The array field `key`.
    fn a(&self, key: &str) -> &[Value];
    /// The array field `key`, or none when it is absent (a receiver that got
    /// no probes has no `streams`).
    fn a_or_empty(&self, key: &str) -> &[Value];
    /// The stream (in a `stats` or `summary` object) whose source address is
    /// `ip`, if there is one.
    fn stream_from(&self, ip: &str) -> Option<&Value>;
    /// The only stream (in a `stats` or `summary` object); fails the test
    /// naming what was there otherwise.
    fn only_stream(&self) -> &Value;
}

/// The field `key` of `object` read by `get`; fails the test saying it is
/// not `kind` when `get` gives nothing.
fn typed<'a, T>(
    object: &'a Value,
    key: &str,
    kind: &str,
    get: impl FnOnce(&'a Value) -> Option<T>,
) -> T {
    let v = object.at(key);
    get(v).unwrap_or_else(|| panic!("{key} is not {kind}: {v} in {object}"))
}

impl Fields for Value {
    fn at(&self, key: &str) -> &Value {
        self.get(key)
            .unwrap_or_else(|| panic!("no field {key:?} in {self}"))
    }
    fn s(&self, key: &str) -> &str {
        typed(self, key, "a string", Value::as_str)
    }
    fn u(&self, key: &str) -> u64 {
        typed(self, key, "an unsigned integer", Value::as_u64)
    }
    fn f(&self, key: &str) -> f64 {
        typed(self, key, "a number", Value::as_f64)
    }
    fn b(&self, key: &str) -> bool {
        typed(self, key, "a bool", Value::as_bool)
    }
    fn a(&self, key: &str) -> &[Value] {
        typed(self, key, "an array", |v| v.as_array().map(Vec::as_slice))
    }
    fn a_or_empty(&self, key: &str) -> &[Value] {
        match self.get(key) {
            None => &[],
            Some(_) => self.a(key),
        }
    }
    fn stream_from(&self, ip: &str) -> Option<&Value> {
        let prefix = format!("{ip}:");
        self.a_or_empty("streams")
            .iter()
            .find(|s| s.s("source").starts_with(&prefix))
    }
    fn only_stream(&self) -> &Value {
        let streams = self.a_or_empty("streams");
        assert_eq!(streams.len(), 1, "exactly one stream expected: {self}");
        &streams[0]
    }
}

/// The reader accepts what RFC 8259 allows and rejects what it does not
/// (and a key twice), so "every line parses" means something.
pub fn self_test() {
    let text = concat!(
        r#" {"type":"x","a":[1,-0.5,2e3,true,false,null,{}],"#,
        r#""s":"q\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"} "#
    );
    let v = parse(text).expect("valid JSON");
    assert_eq!(v.s("type"), "x");
    assert_eq!(v.s("s"), "q\"\\/\u{8}\u{c}\n\r\t\u{e9}\u{1f600}");
    assert_eq!(v.a("a").len(), 7);
    assert_eq!(
        parse("18446744073709551615").unwrap().as_u64(),
        Some(u64::MAX)
    );
    assert_eq!(
        parse_keeping_first_key(r#"{"type":"x","a":{"b":1}}"#)
            .unwrap()
            .first_key
            .as_deref(),
        Some("type")
    );
    for bad in [
        "",
        "{",
        r#"{"a":1,}"#,
        r#"{"a":1 "b":2}"#,
        r#"{"a":1,"a":2}"#,
        r#"{"a":{"b":1,"b":2}}"#,
        "[1,]",
        "01",
        "1.",
        "-",
        "1e",
        "+1",
        "NaN",
        "nul",
        r#""tab	inside""#,
        r#""\x""#,
        r#""\ud800""#,
        r#""open"#,
        "{} {}",
        "{'a':1}",
    ] {
        assert!(parse(bad).is_err(), "accepted {bad:?}");
    }
}
