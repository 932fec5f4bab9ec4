//! `mcast report FILE`: reads a record of `mcast recv --record` and draws
//! the run as one self-contained SVG.

use std::fs::File;
use std::io::{self, BufReader, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::cli::json::JsonObject;
use mcast::recording::{
    DelayPolicy, Figures, RecordAnalysis, RecordAnalyzer, RecordError, RecordReader,
};

use super::output::{line, status, CliError};
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
    if common.json && out.is_none() {
        return Err(CliError::usage(
            "--json prints its report object on standard output, where the SVG would go; \
             name a file with -o",
        ));
    }
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
    let bad = |e: RecordError| CliError::failure(format!("cannot read {name}: {e}"));
    let mut reader = RecordReader::new(input).map_err(bad)?;
    let mut analyzer = RecordAnalyzer::new(policy);
    while let Some(row) = reader.read_row().map_err(bad)? {
        analyzer.add(&row);
    }
    let analysis = analyzer.finish();
    let picture = svg::render(&analysis, &name);
    write_out(out.as_deref(), picture.as_bytes())?;
    let to = out.map_or("standard output".to_owned(), |p| p.display().to_string());
    if common.json {
        line(&json(&analysis, &name, &to))?;
    }
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

/// The `report` object: the figures of the record and of each stream.
fn json(a: &RecordAnalysis, file: &str, svg: &str) -> String {
    let streams = a.streams.iter().map(|s| {
        let st = &s.stream;
        let o = JsonObject::new()
            .str("group", &st.group.addr().to_string())
            .int("port", st.group.port().get())
            .str("source", &st.source.to_string())
            .str("sender_id", &st.sender_id.to_string());
        let b = s.basic_rate;
        figures(o, &s.figures)
            .raw("burst_period_ms", &opt(s.bursts.map(|b| b.period_ms())))
            .raw("loss_above_bps", &opt(b.map(|b| b.clean_up_to_bps as f64)))
            .raw("lossy_from_bps", &opt(b.map(|b| b.lossy_from_bps as f64)))
            .raw("delivered_bps", &opt(b.map(|b| b.delivered_bps as f64)))
    });
    JsonObject::typed("report")
        .str("file", file)
        .str("svg", svg)
        .int("rows", a.rows)
        .int("streams_evicted", a.evicted_streams)
        .raw("total", &figures(JsonObject::new(), &a.total).finish())
        .objects("streams", streams)
        .finish()
}

/// Counters, delay and gap percentiles (ms) and loss runs; null where
/// there is nothing to say.
fn figures(o: JsonObject, f: &Figures) -> JsonObject {
    let c = &f.counts;
    let ms = |v: Option<u64>| opt(v.map(|ns| ns as f64 / 1e6));
    let delay = f.delay.as_ref().ok();
    let q = |p: f64| ms(delay.and_then(|h| h.quantile(p)));
    o.int("received", c.received)
        .int("lost", c.lost)
        .raw("loss_pct", &opt(Some(c.loss_percent())))
        .int("duplicates", c.duplicates)
        .int("reordered", c.reordered)
        .int("late", c.late)
        .int("loss_runs", f.loss_runs.count())
        .raw("loss_run_max", &opt(f.loss_runs.max().map(|m| m as f64)))
        .raw("delay_p50_ms", &q(0.5))
        .raw("delay_p90_ms", &q(0.9))
        .raw("delay_p99_ms", &q(0.99))
        .raw("delay_p999_ms", &q(0.999))
        .raw("delay_max_ms", &ms(delay.and_then(|h| h.max())))
        .opt_str(
            "delay_missing",
            f.delay.as_ref().err().map(|e| e.to_string()).as_deref(),
        )
        .raw("gap_p50_ms", &ms(f.gaps.quantile(0.5)))
        .raw("gap_p99_ms", &ms(f.gaps.quantile(0.99)))
        .raw("gap_max_ms", &ms(f.gaps.max()))
}

/// A number rounded to 3 decimals, or `null`.
fn opt(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite()).map_or("null".to_owned(), |v| {
        format!("{}", (v * 1000.0).round() / 1000.0)
    })
}
