//! mcast's release tasks, run as `cargo xtask …` (the cargo-xtask
//! convention; the alias is in `.cargo/config.toml`).
//!
//! `cargo xtask dist` writes to `target/dist/`: the man pages (`mcast.1` and
//! one `mcast-SUBCOMMAND.1` each, with clap_mangen), the shell completions
//! for bash, zsh and fish (`mcast.bash`, `_mcast`, `mcast.fish`, with
//! clap_complete), then the release tarballs of `scripts/build-targets.sh`,
//! which decides their layout and puts these files inside. Both generators
//! read the very clap definition that the binary parses with,
//! `src/cli/args.rs`, included here: they cannot drift from `--help`.
//! clap_mangen and clap_complete are dependencies of this crate only, never
//! of the phone binary.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::Shell;

// The binary's own definition. Its fields are read by the binary only; its
// doc comments are help texts (`[ADDR6]:PORT`), not rustdoc links.
#[allow(dead_code, rustdoc::broken_intra_doc_links)]
#[path = "../../src/cli/args.rs"]
mod args;

/// mcast's release tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Xtask {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Man pages, shell completions and release tarballs in target/dist/.
    Dist {
        /// Where the files go (default: target/dist in the workspace).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Only the man pages and completions: no release builds, no
        /// tarballs.
        #[arg(long)]
        no_tarballs: bool,
        /// Passed on to scripts/build-targets.sh: targets, --skip-android,
        /// --strict (after `--`).
        #[arg(last = true, value_name = "BUILD-TARGETS ARGS")]
        build_args: Vec<OsString>,
    },
}

/// The workspace root (this crate is its `xtask/` member).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ has a parent")
        .to_path_buf()
}

/// The binary's command, as `mcast --help` shows it.
fn mcast_command() -> clap::Command {
    args::Cli::command()
}

/// Writes `mcast.1` and one `mcast-SUBCOMMAND.1` per subcommand into `dir`.
fn man_pages(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut cmd = mcast_command().disable_help_subcommand(true);
    cmd.build();
    let mut written = vec![clap_mangen::Man::new(cmd.clone()).generate_to(dir)?];
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        written.push(clap_mangen::Man::new(sub.clone()).generate_to(dir)?);
    }
    Ok(written)
}

/// Writes the completions for bash, zsh and fish into `dir`.
fn completions(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut cmd = mcast_command();
    [Shell::Bash, Shell::Zsh, Shell::Fish]
        .into_iter()
        .map(|shell| clap_complete::generate_to(shell, &mut cmd, "mcast", dir))
        .collect()
}

/// The man pages and completions into `out`; with tarballs, then the
/// release builds of scripts/build-targets.sh, packaged with them.
fn dist(out: &Path, tarballs: bool, build_args: &[OsString]) -> Result<(), String> {
    fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let man = man_pages(out).map_err(|e| format!("cannot write the man pages: {e}"))?;
    let comp = completions(out).map_err(|e| format!("cannot write the completions: {e}"))?;
    for p in man.iter().chain(&comp) {
        println!("{}", p.display());
    }
    if !tarballs {
        return Ok(());
    }
    let script = root().join("scripts/build-targets.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg("--dist-dir")
        .arg(out)
        .arg("--docs")
        .arg(out)
        .args(build_args)
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} failed: {status}", script.display()))
    }
}

fn main() -> ExitCode {
    let Xtask { task } = Xtask::parse();
    let result = match task {
        Task::Dist {
            out,
            no_tarballs,
            build_args,
        } => {
            let out = out.unwrap_or_else(|| root().join("target/dist"));
            dist(&out, !no_tarballs, &build_args)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e}");
            ExitCode::FAILURE
        }
    }
}
