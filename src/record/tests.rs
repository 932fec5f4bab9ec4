use super::*;
use std::cell::RefCell;
use std::io::{BufReader, Cursor, Read};
use std::rc::Rc;

fn group(s: &str) -> Group {
    s.parse().unwrap()
}

fn row(source: &str, g: &str, id: u64, seq: u64) -> RecordRow {
    RecordRow {
        arrival_unix_ns: 1_700_000_000_000_000_000 + seq * 5_000_000 + 250_000,
        source: source.parse().unwrap(),
        group: group(g),
        sender_id: SenderId::new(id),
        seq,
        send_unix_ns: 1_700_000_000_000_000_000 + seq * 5_000_000,
        bytes: 64,
    }
}

fn sample() -> Vec<RecordRow> {
    let mut rows = Vec::new();
    for seq in 1..=50 {
        rows.push(row(
            "198.18.1.10",
            "239.74.20.30:54321",
            0x0123_4567_89ab_cdef,
            seq,
        ));
        if seq % 3 == 0 {
            rows.push(row("fd00::10", "[ff05::4a14:1e]:5000", 7, seq));
        }
    }
    rows.push(row("::ffff:198.18.1.10", "[ff02::1]:9", 0, 0));
    rows.push(RecordRow {
        arrival_unix_ns: u64::MAX,
        source: "fe80::1".parse().unwrap(),
        group: group("239.1.1.1:65535"),
        sender_id: SenderId::new(u64::MAX),
        seq: u64::MAX,
        send_unix_ns: 0,
        bytes: u32::MAX,
    });
    rows.push(RecordRow {
        bytes: 0,
        ..rows[0]
    });
    rows
}

fn write(rows: &[RecordRow]) -> Vec<u8> {
    let mut w = RecordWriter::new(Vec::new(), RECORD_FLUSH_FILE).unwrap();
    for r in rows {
        w.write_row(r).unwrap();
    }
    w.finish().unwrap()
}

fn read_all(bytes: &[u8], capacity: usize) -> Result<Vec<RecordRow>, RecordError> {
    RecordReader::new(BufReader::with_capacity(capacity, bytes))?.collect()
}

#[test]
fn the_format() {
    let text = String::from_utf8(write(&sample())).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("arrival_unix_ns,source,group,port,sender_id,seq,send_unix_ns,bytes")
    );
    assert_eq!(
        lines.next(),
        Some("1700000000005250000,198.18.1.10,239.74.20.30,54321,0123456789abcdef,1,1700000000005000000,64")
    );
    assert!(text.contains(",fd00::10,ff05::4a14:1e,5000,0000000000000007,3,"));
    assert!(text.contains(",::ffff:198.18.1.10,ff02::1,9,0000000000000000,0,"));
    assert!(text.contains(
        "18446744073709551615,fe80::1,239.1.1.1,65535,ffffffffffffffff,18446744073709551615,0,4294967295\n"
    ));
    assert!(text.ends_with('\n'));
    // No field is ever quoted.
    assert!(!text.contains('"') && !text.contains(' '));
}

#[test]
fn rows_round_trip_whatever_the_buffer_size() {
    let rows = sample();
    let bytes = write(&rows);
    for capacity in [1, 2, 7, 64, 100, 101, 4096, 1 << 20] {
        assert_eq!(
            read_all(&bytes, capacity).unwrap(),
            rows,
            "capacity {capacity}"
        );
    }
}

#[test]
fn interleaved_streams() {
    // Two streams whose address columns have the same length, row by row;
    // then 20 streams in turn, more than the reader remembers.
    let mut rows = Vec::new();
    for seq in 0..200 {
        rows.push(row("198.18.1.10", "239.1.1.1:5000", 0xaaaa, seq));
        rows.push(row("198.18.1.11", "239.1.1.1:5000", 0xbbbb, seq));
    }
    for seq in 0..100 {
        let src = format!("198.18.1.{}", seq % 20);
        rows.push(row(&src, "239.1.1.2:5000", seq % 20, seq));
    }
    let bytes = write(&rows);
    for capacity in [64, 1 << 16] {
        assert_eq!(
            read_all(&bytes, capacity).unwrap(),
            rows,
            "capacity {capacity}"
        );
    }
}

#[test]
fn crlf_and_a_last_line_without_its_end() {
    let text = "arrival_unix_ns,source,group,port,sender_id,seq,send_unix_ns,bytes\r\n\
                5,198.18.1.1,239.1.1.1,5000,00000000000000aa,1,4,32\r\n\
                6,198.18.1.1,239.1.1.1,5000,00000000000000AA,2,5,33";
    for capacity in [1, 3, 1000] {
        let rows = read_all(text.as_bytes(), capacity).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[1].seq, rows[1].bytes), (2, 33));
        assert_eq!(rows[1].sender_id, SenderId::new(0xaa));
    }
}

fn error(body: &str) -> String {
    let text = format!("{RECORD_HEADER}\n{body}");
    let e = read_all(text.as_bytes(), 64).unwrap_err();
    format!("{e}")
}

#[test]
fn errors_name_the_line_and_the_column() {
    let good = "1,198.18.1.1,239.1.1.1,5000,00000000000000aa,1,1,32\n";
    let cases = [
        (
            "x,198.18.1.1,239.1.1.1,5000,00000000000000aa,1,1,32\n",
            "line 2, column 1 (arrival_unix_ns): expected a decimal number (0 to 18446744073709551615), found 'x'",
        ),
        (
            "1,198.18.1,239.1.1.1,5000,00000000000000aa,1,1,32\n",
            "line 2, column 2 (source): expected an IP address (e.g. 198.18.1.10 or ff05::1), found '198.18.1'",
        ),
        (
            "1,198.18.1.1,[ff05::1],5000,00000000000000aa,1,1,32\n",
            "line 2, column 3 (group): expected an IP address (e.g. 198.18.1.10 or ff05::1), found '[ff05::1]'",
        ),
        (
            "1,198.18.1.1,239.1.1.1,0,00000000000000aa,1,1,32\n",
            "line 2, column 4 (port): expected a port (1 to 65535), found '0'",
        ),
        (
            "1,198.18.1.1,239.1.1.1,65536,00000000000000aa,1,1,32\n",
            "line 2, column 4 (port): expected a port (1 to 65535), found '65536'",
        ),
        (
            "1,198.18.1.1,239.1.1.1,5000,0000000000000aa,1,1,32\n",
            "line 2, column 5 (sender_id): expected a sender id (16 hexadecimal digits), found '0000000000000aa'",
        ),
        (
            "1,198.18.1.1,239.1.1.1,5000,00000000000000ag,1,1,32\n",
            "column 5 (sender_id)",
        ),
        (
            "1,198.18.1.1,239.1.1.1,5000,00000000000000aa,18446744073709551616,1,32\n",
            "line 2, column 6 (seq): expected a decimal number (0 to 18446744073709551615), found '18446744073709551616'",
        ),
        (
            "1,198.18.1.1,239.1.1.1,5000,00000000000000aa,1,-1,32\n",
            "line 2, column 7 (send_unix_ns): expected a decimal number (0 to 18446744073709551615), found '-1'",
        ),
        (
            "1,198.18.1.1,239.1.1.1,5000,00000000000000aa,1,1,4294967296\n",
            "line 2, column 8 (bytes): expected a datagram size (0 to 4294967295), found '4294967296'",
        ),
        (
            "1,198.18.1.1,239.1.1.1,5000,00000000000000aa,1,1\n",
            "line 2: the row ends here, but a record row has 8 columns",
        ),
        (
            "1,198.18.1.1,239.1.1.1,5000,00000000000000aa,1,1,32,9\n",
            "line 2, column 8 (bytes): more than 8 columns (a record row has 8)",
        ),
        ("\n", "line 2: empty line"),
        (
            "1,198.18.1.1,239.1.1.1,5000,00000000000000aa,1,1, 32\n",
            "line 2, column 8 (bytes): expected a decimal number (0 to 18446744073709551615), found ' 32'",
        ),
    ];
    for (body, want) in cases {
        let got = error(body);
        assert!(got.contains(want), "{body:?}: {got}");
        // The same after good rows, from the same stream or another.
        let got = error(&format!("{good}{good}{body}"));
        assert!(got.contains(&want.replace("line 2", "line 4")), "{got}");
    }
    // A bad byte is shown escaped, a long field shortened.
    let got = error("1,198.18.1.1\x1b[31m,239.1.1.1,5000,00000000000000aa,1,1,32\n");
    assert!(got.contains(r"found '198.18.1.1\x1b[31m'"), "{got}");
    let long = "9".repeat(100);
    let got = error(&format!("{long}\n"));
    assert!(got.contains(&format!("found '{}…'", &long[..40])), "{got}");
    let got = error(&format!("1,{}\n", "1".repeat(5000)));
    assert_eq!(got, "line 2: longer than 4096 bytes");
}

#[test]
fn header_errors_and_stop_after_an_error() {
    let e = RecordReader::new(&b""[..]).unwrap_err();
    assert_eq!(e.line(), 1);
    assert!(
        format!("{e}").starts_with("line 1: the file is empty"),
        "{e}"
    );
    let e = RecordReader::new(&b"time,source\n1,2\n"[..]).unwrap_err();
    assert_eq!(
        format!("{e}"),
        format!(
            "line 1: not an mcast record: the header must be {RECORD_HEADER}, found 'time,source'"
        )
    );
    // Only the header: no rows.
    assert_eq!(
        read_all(format!("{RECORD_HEADER}\n").as_bytes(), 8).unwrap(),
        []
    );
    let text = format!(
        "{RECORD_HEADER}\n1,198.18.1.1,239.1.1.1,5000,00000000000000aa,1,1,32\nbad\n\
         2,198.18.1.1,239.1.1.1,5000,00000000000000aa,2,2,32\n"
    );
    let mut r = RecordReader::new(text.as_bytes()).unwrap();
    assert!(r.read_row().unwrap().is_some());
    let e = r.read_row().unwrap_err();
    assert_eq!((e.line(), e.column()), (3, Some(1)));
    assert!(r.read_row().unwrap().is_none());
}

/// A writer that shares what it got and counts its writes.
#[derive(Clone, Default)]
struct Shared(Rc<RefCell<(Vec<u8>, usize)>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let mut s = self.0.borrow_mut();
        s.0.extend_from_slice(b);
        s.1 += 1;
        Ok(b.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn rows(&self) -> usize {
        self.0.borrow().0.iter().filter(|&&b| b == b'\n').count() - 1
    }
}

#[test]
fn the_flush_policy() {
    let out = Shared::default();
    let mut w = RecordWriter::new(out.clone(), Duration::from_millis(100)).unwrap();
    let t0 = 1_700_000_000_000_000_000u64;
    let mut r = row("198.18.1.10", "239.1.1.1:5000", 1, 1);
    // The first row is written at once (nothing was written before).
    r.arrival_unix_ns = t0;
    w.write_row(&r).unwrap();
    assert_eq!(out.rows(), 1);
    // Rows within 100 ms wait.
    for i in 1..10 {
        r.arrival_unix_ns = t0 + i * 10_000_000;
        w.write_row(&r).unwrap();
    }
    assert_eq!(out.rows(), 1);
    // A tick before the interval does nothing; after it, writes.
    w.tick(t0 + 99_000_000).unwrap();
    assert_eq!(out.rows(), 1);
    w.tick(t0 + 100_000_000).unwrap();
    assert_eq!(out.rows(), 10);
    // A full buffer is written whatever the time.
    let writes = out.0.borrow().1;
    for _ in 0..2000 {
        w.write_row(&r).unwrap();
    }
    assert!(out.rows() > 10 && out.0.borrow().1 > writes);
    // Dropping the writer writes the rest.
    w.write_row(&r).unwrap();
    drop(w);
    assert_eq!(out.rows(), 2011);
    let all = out.0.borrow().0.clone();
    assert_eq!(read_all(&all, 4096).unwrap().len(), 2011);
}

/// A reader that fails after some bytes.
struct Failing(Cursor<Vec<u8>>);

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.0.read(buf)? {
            0 => Err(io::Error::other("device gone")),
            n => Ok(n),
        }
    }
}

#[test]
fn read_errors_name_the_line() {
    let mut text = write(&sample()[..3]);
    text.truncate(text.len() - 1); // the last row loses its end
    let r = RecordReader::new(BufReader::with_capacity(16, Failing(Cursor::new(text)))).unwrap();
    let e = r.collect::<Result<Vec<_>, _>>().unwrap_err();
    assert_eq!(format!("{e}"), "line 4: device gone");
}
