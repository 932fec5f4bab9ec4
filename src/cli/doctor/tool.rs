//! Running an external tool (`nft`, `iptables-save`, `dumpsys`, …): found
//! where system tools live, with stdin closed, its output collected and a
//! time limit after which the doctor kills it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What running an external tool gave.
#[derive(Debug)]
pub(crate) enum Tool {
    /// Not installed (not on PATH).
    Missing,
    /// Did not end within the time limit (it was killed).
    TimedOut,
    /// It ran: its exit code (None if killed by a signal) and output.
    Ran {
        ok: bool,
        stdout: String,
        stderr: String,
    },
}

/// Where `program` is: a path as given, else the first executable file of
/// that name in PATH or in the usual system directories (which a user's PATH
/// often lacks: nft and iptables-save live in /usr/sbin, dumpsys in
/// /system/bin). Looked up here rather than by exec, because an emulator
/// (qemu-user) may not report a failed exec as "not found".
fn locate(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_exe = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_exe(&p).then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/sbin", "/sbin", "/usr/bin", "/bin", "/system/bin"]
                .iter()
                .map(PathBuf::from),
        )
        .map(|d| d.join(program))
        .find(|p| is_exe(p))
}

/// Runs `program args…` with stdin closed, collects its output, and kills it
/// (our own child, by its handle) after `limit`.
pub(crate) fn run_tool(program: &str, args: &[&str], limit: Duration) -> Tool {
    let Some(path) = locate(program) else {
        return Tool::Missing;
    };
    let mut child = match Command::new(path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Tool::Missing,
        Err(e) => {
            return Tool::Ran {
                ok: false,
                stdout: String::new(),
                stderr: e.to_string(),
            }
        }
    };
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut v);
            }
            String::from_utf8_lossy(&v).into_owned()
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    match status {
        None => Tool::TimedOut,
        Some(s) => Tool::Ran {
            ok: s.success(),
            stdout,
            stderr,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_that_are_missing_or_slow() {
        assert!(matches!(
            run_tool("mcast-no-such-tool-here", &[], Duration::from_secs(1)),
            Tool::Missing
        ));
        assert!(matches!(
            run_tool("sleep", &["5"], Duration::from_millis(100)),
            Tool::TimedOut
        ));
        match run_tool(
            "sh",
            &["-c", "echo out; echo err >&2; exit 3"],
            Duration::from_secs(5),
        ) {
            Tool::Ran { ok, stdout, stderr } => {
                assert!(!ok);
                assert_eq!((stdout.as_str(), stderr.as_str()), ("out\n", "err\n"));
            }
            other => panic!("{other:?}"),
        }
    }
}
