//! Reading a record: [`RecordReader`] parses rows in place in its reader's
//! buffer, with a small cache of recent streams' address columns.

use std::io::{self, BufRead, Read};
use std::net::IpAddr;

use super::error::{RecordError, RecordErrorKind};
use super::{RecordRow, MAX_LINE, RECORD_HEADER};
use crate::escape::escape_text;
use crate::group::{Group, Port};
use crate::probe::SenderId;

/// The address columns of one row, as parsed.
type Key = (IpAddr, Group, SenderId);

/// Reads a record row by row, from any [`BufRead`] (give it a large buffer,
/// e.g. `BufReader::with_capacity(1 << 20, file)`, for speed).
///
/// Rows are parsed in the reader's buffer; the address columns are looked
/// up among those of the last 16 streams seen and parsed only for a new
/// one. A row that straddles the end of the buffer, a row of a new stream
/// and any row with an error is read again whole into a small line buffer
/// to be parsed or reported. Errors name the line and the column.
#[derive(Debug)]
pub struct RecordReader<R: BufRead> {
    inner: R,
    /// The line number of the last line read.
    line: u64,
    /// A whole line, for rows not parsed in place.
    spill: Vec<u8>,
    /// The address columns (`source,group,port,sender_id`) of recent
    /// streams, as text and as parsed, and which one the last row had.
    keys: Vec<(Vec<u8>, Key)>,
    last_key: usize,
    /// The entry a new stream replaces once `keys` is full.
    next_evict: usize,
    failed: bool,
}

/// How many streams' address columns a reader remembers: interleaved rows
/// of up to this many streams are all parsed in place.
const KEY_CACHE: usize = 16;

/// A row parsed from bytes, its address columns still text.
struct Raw {
    arrival: u64,
    /// Where the address columns are in the line.
    key_start: usize,
    key_end: usize,
    seq: u64,
    send: u64,
    bytes: u32,
    /// The bytes taken, with the line's end.
    len: usize,
}

/// Where parsing stopped: column (1-based) and byte range of the bad
/// field, or the end of the bytes given.
enum Stop {
    End,
    Bad {
        column: usize,
        expected: &'static str,
        start: usize,
    },
    Extra,
}

impl<R: BufRead> RecordReader<R> {
    /// Starts reading a record: reads and checks the header.
    ///
    /// # Errors
    /// A read error, or a first line that is not [`RECORD_HEADER`].
    pub fn new(inner: R) -> Result<RecordReader<R>, RecordError> {
        let mut r = RecordReader {
            inner,
            line: 0,
            spill: Vec::with_capacity(256),
            keys: Vec::with_capacity(KEY_CACHE),
            last_key: 0,
            next_evict: 0,
            failed: false,
        };
        if !r.read_line()? {
            return Err(RecordError::at(1, None, RecordErrorKind::NoHeader));
        }
        let header = trim_end(&r.spill);
        if header != RECORD_HEADER.as_bytes() {
            return Err(RecordError::at(
                1,
                None,
                RecordErrorKind::BadHeader(shorten(header)),
            ));
        }
        Ok(r)
    }

    /// The number of the last line read (1 is the header).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The next row, or `None` at the end of the record.
    ///
    /// # Errors
    /// A read error or a malformed row, with its line and column. After an
    /// error the reader returns `None`.
    pub fn read_row(&mut self) -> Result<Option<RecordRow>, RecordError> {
        if self.failed {
            return Ok(None);
        }
        let r = self.next_row();
        self.failed = r.is_err();
        r
    }

    fn next_row(&mut self) -> Result<Option<RecordRow>, RecordError> {
        // In place, in the reader's buffer.
        let buf = loop {
            match self.inner.fill_buf() {
                Ok(b) => break b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(RecordError::at(self.line + 1, None, RecordErrorKind::Io(e))),
            }
        };
        if buf.is_empty() {
            return Ok(None);
        }
        let known = self
            .keys
            .get(self.last_key)
            .map_or(&[][..], |k| k.0.as_slice());
        if let Ok(raw) = parse(buf, known) {
            let text = &buf[raw.key_start..raw.key_end];
            let hit = if text == known {
                Some(self.last_key)
            } else {
                self.keys.iter().position(|k| k.0 == text)
            };
            if let Some(i) = hit {
                self.last_key = i;
                let row = self.row(&raw);
                self.inner.consume(raw.len);
                self.line += 1;
                return Ok(Some(row));
            }
        }
        // Across the buffer's end, a new stream, or an error: take the
        // whole line.
        if !self.read_line()? {
            return Ok(None);
        }
        let line = self.line;
        let spill = std::mem::take(&mut self.spill);
        let result = self.parse_line(&spill, line);
        self.spill = spill;
        result.map(Some)
    }

    fn parse_line(&mut self, line: &[u8], number: u64) -> Result<RecordRow, RecordError> {
        let err = |column, kind| RecordError::at(number, column, kind);
        if trim_end(line).is_empty() {
            return Err(err(None, RecordErrorKind::Empty));
        }
        let raw = match parse(line, &[]) {
            Ok(raw) => raw,
            Err(Stop::End) => return Err(err(None, RecordErrorKind::MissingColumns)),
            Err(Stop::Extra) => return Err(err(Some(8), RecordErrorKind::ExtraColumns)),
            Err(Stop::Bad {
                column,
                expected,
                start,
            }) => return Err(err(Some(column), field_error(line, start, expected))),
        };
        let text = &line[raw.key_start..raw.key_end];
        match self.keys.iter().position(|k| k.0 == text) {
            Some(i) => self.last_key = i,
            None => {
                let key = parse_key(text).map_err(|(column, kind)| err(Some(column), kind))?;
                let entry = (text.to_vec(), key);
                if self.keys.len() < KEY_CACHE {
                    self.keys.push(entry);
                    self.last_key = self.keys.len() - 1;
                } else {
                    self.keys[self.next_evict] = entry;
                    self.last_key = self.next_evict;
                    self.next_evict = (self.next_evict + 1) % KEY_CACHE;
                }
            }
        }
        Ok(self.row(&raw))
    }

    /// The row, with the address columns of `keys[last_key]` (set before
    /// every call).
    fn row(&self, raw: &Raw) -> RecordRow {
        let (source, group, sender_id) = self.keys[self.last_key].1;
        RecordRow {
            arrival_unix_ns: raw.arrival,
            source,
            group,
            sender_id,
            seq: raw.seq,
            send_unix_ns: raw.send,
            bytes: raw.bytes,
        }
    }

    /// Reads one whole line into `spill` (with a `\n` at its end); false at
    /// the end of the input.
    fn read_line(&mut self) -> Result<bool, RecordError> {
        self.spill.clear();
        let n = Read::by_ref(&mut self.inner)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut self.spill)
            .map_err(|e| RecordError::at(self.line + 1, None, RecordErrorKind::Io(e)))?;
        if n == 0 {
            return Ok(false);
        }
        self.line += 1;
        if self.spill.last() != Some(&b'\n') {
            if self.spill.len() >= MAX_LINE {
                return Err(RecordError::at(self.line, None, RecordErrorKind::TooLong));
            }
            // The last line may lack its end.
            self.spill.push(b'\n');
        }
        Ok(true)
    }
}

impl<R: BufRead> Iterator for RecordReader<R> {
    type Item = Result<RecordRow, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.read_row().transpose()
    }
}

/// The line without its `\n` or `\r\n`.
fn trim_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// At most 40 characters of a bad field or header, escaped.
fn shorten(bytes: &[u8]) -> String {
    let s = escape_text(&bytes[..bytes.len().min(40)]);
    if bytes.len() > 40 {
        format!("{s}…")
    } else {
        s
    }
}

/// The error for the field that starts at `start`.
fn field_error(line: &[u8], start: usize, expected: &'static str) -> RecordErrorKind {
    let rest = trim_end(&line[start..]);
    let end = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
    RecordErrorKind::Field {
        expected,
        found: shorten(&rest[..end]),
    }
}

/// Parses one row at the start of `buf`, up to and with its `\n`. When
/// the address columns are `known` (the previous row's), they are only
/// compared.
fn parse(buf: &[u8], known: &[u8]) -> Result<Raw, Stop> {
    let mut pos = 0;
    let arrival = number(buf, &mut pos, 1, b',')?;
    let key_start = pos;
    let rest = &buf[pos..];
    if !known.is_empty() && rest.starts_with(known) && rest.get(known.len()) == Some(&b',') {
        // The known text has no comma or line end, so this is the same four
        // columns.
        pos += known.len() + 1;
    } else {
        pos = key_columns(buf, pos)?;
    }
    let key_end = pos - 1;
    let seq = number(buf, &mut pos, 6, b',')?;
    let send = number(buf, &mut pos, 7, b',')?;
    let bytes_start = pos;
    let bytes = number(buf, &mut pos, 8, b'\n')?;
    let bytes = u32::try_from(bytes).map_err(|_| Stop::Bad {
        column: 8,
        expected: "a datagram size (0 to 4294967295)",
        start: bytes_start,
    })?;
    Ok(Raw {
        arrival,
        key_start,
        key_end,
        seq,
        send,
        bytes,
        len: pos,
    })
}

/// Where the four address columns that start at `pos` end (past their
/// comma).
fn key_columns(buf: &[u8], mut pos: usize) -> Result<usize, Stop> {
    for _ in 0..4 {
        match buf[pos..].iter().position(|&b| b == b',' || b == b'\n') {
            Some(i) if buf[pos + i] == b',' => pos += i + 1,
            _ => return Err(Stop::End),
        }
    }
    Ok(pos)
}

/// A decimal `u64` at `*pos`, ended by `end` (for the last column, `\n`,
/// after an optional `\r`); moves `*pos` past the end.
fn number(buf: &[u8], pos: &mut usize, column: usize, end: u8) -> Result<u64, Stop> {
    let start = *pos;
    let bad = Stop::Bad {
        column,
        expected: "a decimal number (0 to 18446744073709551615)",
        start,
    };
    let mut v: u64 = 0;
    let mut i = start;
    loop {
        let Some(&b) = buf.get(i) else {
            return Err(Stop::End);
        };
        let d = b.wrapping_sub(b'0');
        if d < 10 {
            v = match v.checked_mul(10).and_then(|v| v.checked_add(u64::from(d))) {
                Some(v) => v,
                None => return Err(bad),
            };
            i += 1;
            continue;
        }
        if i == start {
            return Err(if b == b'\n' && end == b',' {
                Stop::End
            } else {
                bad
            });
        }
        if b == end {
            *pos = i + 1;
            return Ok(v);
        }
        if end == b'\n' && b == b'\r' && buf.get(i + 1) == Some(&b'\n') {
            *pos = i + 2;
            return Ok(v);
        }
        if end == b'\n' && b == b',' {
            return Err(Stop::Extra);
        }
        if end == b',' && b == b'\n' {
            return Err(Stop::End);
        }
        return Err(bad);
    }
}

/// Parses `source,group,port,sender_id`; an error names the column.
fn parse_key(key: &[u8]) -> Result<Key, (usize, RecordErrorKind)> {
    const ADDR: &str = "an IP address (e.g. 198.18.1.10 or ff05::1)";
    let mut f = key.split(|&b| b == b',');
    let mut next = || f.next().unwrap_or_default();
    let bad = |column: usize, expected: &'static str, field: &[u8]| {
        let found = shorten(field);
        (column, RecordErrorKind::Field { expected, found })
    };
    let field = next();
    let source = ip(field).ok_or_else(|| bad(2, ADDR, field))?;
    let field = next();
    let group = ip(field).ok_or_else(|| bad(3, ADDR, field))?;
    let field = next();
    let port = text(field)
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(Port::new)
        .ok_or_else(|| bad(4, "a port (1 to 65535)", field))?;
    let field = next();
    let id = text(field)
        .filter(|s| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|s| u64::from_str_radix(s, 16).ok())
        .ok_or_else(|| bad(5, "a sender id (16 hexadecimal digits)", field))?;
    Ok((source, Group::new(group, port), SenderId::new(id)))
}

fn text(field: &[u8]) -> Option<&str> {
    std::str::from_utf8(field).ok()
}

fn ip(field: &[u8]) -> Option<IpAddr> {
    text(field)?.parse().ok()
}
