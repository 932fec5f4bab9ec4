//! Per-packet records: the CSV of one row per probe received that `mcast
//! report` reads (and that `mcast recv --record FILE` is to write).
//!
//! # Speed and memory
//!
//! [`RecordWriter`] formats each row into its own buffer (no allocation per
//! row; the address columns are formatted once per stream change) and writes
//! in blocks. [`RecordReader`] parses the bytes of its reader's buffer in
//! place: no `String` per row, the address columns are parsed only for a
//! stream that is not among the last 16 seen, and memory stays at one
//! line's worth whatever the file's length.

use std::io::{self, Write};
use std::net::IpAddr;
use std::time::Duration;

use crate::group::Group;
use crate::probe::SenderId;

/// The first line of every record.
pub const RECORD_HEADER: &str =
    "arrival_unix_ns,source,group,port,sender_id,seq,send_unix_ns,bytes";

/// How often a [`RecordWriter`] to a file writes out what it holds: rows
/// reach the file within a second.
pub const RECORD_FLUSH_FILE: Duration = Duration::from_secs(1);

/// How often a [`RecordWriter`] to standard output (`--record -`) writes
/// out what it holds: a reader at the other end of a pipe sees rows within
/// 0.1 s.
pub const RECORD_FLUSH_STDOUT: Duration = Duration::from_millis(100);

const COLUMNS: [&str; 8] = [
    "arrival_unix_ns",
    "source",
    "group",
    "port",
    "sender_id",
    "seq",
    "send_unix_ns",
    "bytes",
];

/// The longest line a reader accepts (a real row is at most 184 bytes).
const MAX_LINE: usize = 4096;

/// The writer's buffer: written out when it holds this much.
const WRITE_BLOCK: usize = 64 * 1024;

/// One row of a record: one probe received.
///
/// # Format
///
/// UTF-8 (in fact ASCII) text, one row per line ending in `\n` (a `\r`
/// before it is accepted when reading). The first line is the header,
/// exactly [`RECORD_HEADER`]:
///
/// ```text
/// arrival_unix_ns,source,group,port,sender_id,seq,send_unix_ns,bytes
/// 1700000000000250000,198.18.1.10,239.74.20.30,54321,0123456789abcdef,1,1700000000000000000,64
/// 1700000000005250000,fd00::10,ff05::4a14:1e,54321,fedcba9876543210,2,1700000000005000000,64
/// ```
///
/// | column | content |
/// |---|---|
/// | `arrival_unix_ns` | when the probe arrived (the kernel's receive time where available), ns since the Unix epoch |
/// | `source` | the sender's IP address (without port) |
/// | `group` | the group's IP address (or the broadcast address it came to) |
/// | `port` | the group's UDP port, 1–65535 |
/// | `sender_id` | the probe's sender id, 16 hexadecimal digits as everywhere in mcast |
/// | `seq` | the probe's sequence number (a `u64`) |
/// | `send_unix_ns` | the probe's send time, ns since the Unix epoch, on the sender's clock |
/// | `bytes` | the datagram's size (UDP payload bytes) |
///
/// Numbers are plain decimal digits. Addresses are written as Rust (and RFC
/// 5952) write them: `198.18.1.10`, `ff05::1`, `::ffff:198.18.1.10`, bare:
/// no brackets and no zone (`%wlan0`). None of them contains a comma, a
/// quote or a space, so no field is ever quoted and any CSV reader reads
/// the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRow {
    /// When it arrived, ns since the Unix epoch (receiver's clock).
    pub arrival_unix_ns: u64,
    /// The sender's address.
    pub source: IpAddr,
    /// The group (address and port) it was sent to.
    pub group: Group,
    /// The sender run.
    pub sender_id: SenderId,
    /// Its sequence number.
    pub seq: u64,
    /// Its send time, ns since the Unix epoch (sender's clock).
    pub send_unix_ns: u64,
    /// The datagram's size (UDP payload).
    pub bytes: u32,
}

/// Writes a record: the header at once, then one row per
/// [`write_row`](RecordWriter::write_row), buffered.
///
/// The buffer is written to the inner writer when it holds 64 KiB, when a
/// row arrives at least `flush_every` (by its arrival time) after the last
/// write, on [`tick`](RecordWriter::tick) under the same rule (call it when
/// nothing arrives, e.g. once a second), on [`flush`](Write::flush)-like
/// [`RecordWriter::flush`], on [`finish`](RecordWriter::finish) and on drop.
/// Use [`RECORD_FLUSH_FILE`] for a file and [`RECORD_FLUSH_STDOUT`] for
/// standard output; the inner writer should be unbuffered (a `File`,
/// `Stdout`).
#[derive(Debug)]
pub struct RecordWriter<W: Write> {
    /// `None` once [`finish`](RecordWriter::finish) took it.
    inner: Option<W>,
    buf: Vec<u8>,
    flush_every_ns: u64,
    last_flush_ns: u64,
    /// The stream whose address columns are in `key_text`.
    key: Option<(IpAddr, Group, SenderId)>,
    /// `,source,group,port,sender_id,` of that stream.
    key_text: Vec<u8>,
}

impl<W: Write> RecordWriter<W> {
    /// Starts a record on `inner` (writes the header).
    ///
    /// # Errors
    /// The error of writing the header.
    pub fn new(mut inner: W, flush_every: Duration) -> io::Result<RecordWriter<W>> {
        inner.write_all(RECORD_HEADER.as_bytes())?;
        inner.write_all(b"\n")?;
        inner.flush()?;
        Ok(RecordWriter {
            inner: Some(inner),
            buf: Vec::with_capacity(WRITE_BLOCK + 256),
            flush_every_ns: u64::try_from(flush_every.as_nanos()).unwrap_or(u64::MAX),
            last_flush_ns: 0,
            key: None,
            key_text: Vec::with_capacity(96),
        })
    }

    /// Appends one row.
    ///
    /// # Errors
    /// The error of the inner writer, when this row made the buffer due.
    pub fn write_row(&mut self, row: &RecordRow) -> io::Result<()> {
        let key = (row.source, row.group, row.sender_id);
        if self.key != Some(key) {
            self.key_text.clear();
            // Writing to a Vec cannot fail.
            let _ = write!(
                self.key_text,
                ",{},{},{},{},",
                row.source,
                row.group.addr(),
                row.group.port(),
                row.sender_id
            );
            self.key = Some(key);
        }
        push_u64(&mut self.buf, row.arrival_unix_ns);
        self.buf.extend_from_slice(&self.key_text);
        push_u64(&mut self.buf, row.seq);
        self.buf.push(b',');
        push_u64(&mut self.buf, row.send_unix_ns);
        self.buf.push(b',');
        push_u64(&mut self.buf, u64::from(row.bytes));
        self.buf.push(b'\n');
        if self.buf.len() >= WRITE_BLOCK {
            self.flush()?;
            self.last_flush_ns = row.arrival_unix_ns;
            Ok(())
        } else {
            self.tick(row.arrival_unix_ns)
        }
    }

    /// Writes out the buffer if `flush_every` has passed since the last
    /// write (`now_unix_ns` on the receiver's clock).
    ///
    /// # Errors
    /// The error of the inner writer.
    pub fn tick(&mut self, now_unix_ns: u64) -> io::Result<()> {
        if now_unix_ns.saturating_sub(self.last_flush_ns) >= self.flush_every_ns {
            self.last_flush_ns = now_unix_ns;
            self.flush()?;
        }
        Ok(())
    }

    /// Writes out the buffer and flushes the inner writer.
    ///
    /// # Errors
    /// The error of the inner writer; the rows not written are dropped, so
    /// that the next call does not write them twice in part.
    pub fn flush(&mut self) -> io::Result<()> {
        let Some(inner) = self.inner.as_mut() else {
            return Ok(());
        };
        if !self.buf.is_empty() {
            let r = inner.write_all(&self.buf);
            self.buf.clear();
            r?;
        }
        inner.flush()
    }

    /// Writes out everything and gives the inner writer back.
    ///
    /// # Errors
    /// The error of the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush()?;
        self.inner
            .take()
            .ok_or_else(|| io::Error::other("the record was already finished"))
    }
}

impl<W: Write> Drop for RecordWriter<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Appends `v` in decimal.
fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

mod error;
mod reader;

pub use error::RecordError;
pub use reader::RecordReader;

#[cfg(test)]
mod tests;
