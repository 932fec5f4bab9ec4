//! `mcast report FILE`: reads a record of `mcast recv --record` and draws
//! the run as one self-contained SVG.

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use mcast::{DelayPolicy, RecordAnalyzer, RecordReader};

use super::output::{status, CliError};
use super::{Common, ReportArgs};

mod svg;

/// The reader's buffer: large, so that rows are parsed in place.
const READ_BUFFER: usize = 1 << 20;

pub(crate) fn run(args: &ReportArgs, common: &Common) -> Result<bool, CliError> {
    let from_stdin = args.file == Path::new("-");
    let name = if from_stdin {
        "standard input".to_owned()
    } else {
        args.file.display().to_string()
    };
    let out = match args.output.as_deref() {
        Some(o) if o == Path::new("-") => None,
        Some(o) => Some(o.to_path_buf()),
        None if from_stdin => None,
        None => Some(args.file.with_extension("svg")),
    };
    if out.as_deref() == Some(args.file.as_path()) {
        return Err(CliError::usage(format!(
            "the SVG would overwrite the record {name}; name another file with -o"
        )));
    }
    // Standard input as a File too: one reader type, one copy of the
    // parser in the binary.
    let file = if from_stdin {
        io::stdin().as_fd().try_clone_to_owned().map(File::from)
    } else {
        File::open(&args.file)
    }
    .map_err(|e| CliError::failure(format!("cannot open {name}: {e}")))?;
    let input = BufReader::with_capacity(READ_BUFFER, file);
    let policy = if args.assume_synced_clocks {
        DelayPolicy::Synced
    } else {
        // This host's addresses: a sender among them shares the clock.
        DelayPolicy::SameHost(
            mcast::interfaces()
                .map(|l| {
                    l.iter()
                        .flat_map(|i| i.addresses().iter().map(|a| a.ip()))
                        .collect()
                })
                .unwrap_or_default(),
        )
    };
    let bad = |e: mcast::RecordError| CliError::failure(format!("cannot read {name}: {e}"));
    let mut reader = RecordReader::new(input).map_err(bad)?;
    let mut analyzer = RecordAnalyzer::new(policy);
    while let Some(row) = reader.read_row().map_err(bad)? {
        analyzer.add(&row);
    }
    let analysis = analyzer.finish();
    let picture = svg::render(&analysis, &name);
    write_out(out.as_deref(), picture.as_bytes())?;
    let to = out.map_or("standard output".to_owned(), |p| p.display().to_string());
    let t = &analysis.total;
    status(
        common.quiet,
        &format!(
            "wrote {to}: {} rows, {} stream{}, {:.1} s",
            analysis.rows,
            analysis.streams.len(),
            if analysis.streams.len() == 1 { "" } else { "s" },
            t.last_arrival_ns.saturating_sub(t.first_arrival_ns) as f64 / 1e9
        ),
    );
    Ok(false)
}

fn write_out(out: Option<&Path>, bytes: &[u8]) -> Result<(), CliError> {
    let Some(path) = out else {
        let mut o = io::stdout().lock();
        return match o.write_all(bytes).and_then(|()| o.flush()) {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(CliError::failure(format!(
                "cannot write to standard output: {e}"
            ))),
            _ => Ok(()),
        };
    };
    std::fs::write(path, bytes).map_err(|e| {
        CliError::failure(format!(
            "cannot write {}: {e}",
            PathBuf::from(path).display()
        ))
    })
}
