//! `mcast recv --record FILE`: one CSV row per probe received, streamed
//! through the library's [`RecordWriter`] (nothing kept in memory), to a
//! file or, with `-`, to standard output.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use mcast::recording::{RecordRow, RecordWriter, RECORD_FLUSH_FILE, RECORD_FLUSH_STDOUT};
use mcast::{unix_time_ns, Datagram, Group, Probe};

use crate::cli::output::CliError;

/// An open record and the name to put in its errors.
pub(super) struct Recorder {
    writer: RecordWriter<Box<dyn Write>>,
    name: String,
}

impl Recorder {
    /// Creates (or truncates) `path`, or takes standard output for `-`, and
    /// writes the header.
    pub(super) fn open(path: &Path) -> Result<Recorder, CliError> {
        let name = path.display().to_string();
        let (inner, every): (Box<dyn Write>, _) = if path == Path::new("-") {
            (Box::new(io::stdout()), RECORD_FLUSH_STDOUT)
        } else {
            let f = File::create(path)
                .map_err(|e| CliError::failure(format!("cannot create the record {name}: {e}")))?;
            (Box::new(f), RECORD_FLUSH_FILE)
        };
        let writer = RecordWriter::new(inner, every)
            .map_err(|e| CliError::failure(format!("cannot write the record {name}: {e}")))?;
        Ok(Recorder { writer, name })
    }

    /// The row of probe `payload`, which arrived as `d` on `group` at
    /// `arrival_ns`; nothing for a datagram that is not a readable probe.
    pub(super) fn probe(
        &mut self,
        d: &Datagram,
        group: Group,
        payload: &[u8],
        arrival_ns: u64,
    ) -> Result<(), CliError> {
        let Ok(p) = Probe::decode(payload) else {
            return Ok(());
        };
        let row = RecordRow {
            arrival_unix_ns: arrival_ns,
            source: d.source().ip(),
            group,
            sender_id: p.sender_id,
            seq: p.seq,
            send_unix_ns: p.sent_ns,
            bytes: u32::try_from(d.size()).unwrap_or(u32::MAX),
        };
        self.writer.write_row(&row).map_err(|e| self.error(&e))
    }

    /// Writes out what is due when nothing arrives (once a second).
    pub(super) fn tick(&mut self) -> Result<(), CliError> {
        self.writer.tick(unix_time_ns()).map_err(|e| self.error(&e))
    }

    /// Writes out everything.
    pub(super) fn finish(self) -> Result<(), CliError> {
        let name = self.name;
        self.writer
            .finish()
            .map(drop)
            .map_err(|e| CliError::failure(format!("cannot write the record {name}: {e}")))
    }

    fn error(&self, e: &io::Error) -> CliError {
        CliError::failure(format!("cannot write the record {}: {e}", self.name))
    }
}
