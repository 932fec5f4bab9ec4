//! `cargo xtask dist --no-tarballs`: the man pages and shell completions,
//! generated from the binary's own clap definition (src/cli/args.rs). The
//! completions must parse (`bash -n`, `zsh -n`, `fish --no-execute`), the man
//! pages must render with `groff -man -Tutf8 -ww` without a warning, and
//! both must know every subcommand and option that `mcast --help` lists.
//!
//! The xtask is built in its own target directory, `target/dist-check`: the
//! outer `cargo test` holds the lock of the normal one while tests run (see
//! tests/build_targets.rs). A missing shell or groff prints `SKIPPED: …`, or
//! fails under `MCAST_TEST_STRICT=1` (scripts/test.sh installs them).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use common::{mcast_command, run_limited, skip, without_outer_cargo};

/// The directory the xtask wrote, once per test run.
fn dist() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target_dir = root.join("target").join("dist-check");
        let out = target_dir.join("out");
        let _ = std::fs::remove_dir_all(&out);
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let o = without_outer_cargo(&mut Command::new(cargo))
            .args(["run", "-q", "--package", "xtask", "--target-dir"])
            .arg(&target_dir)
            .args(["--", "dist", "--no-tarballs", "--out"])
            .arg(&out)
            .current_dir(root)
            .output()
            .expect("cannot run cargo");
        assert!(
            o.status.success(),
            "cargo xtask dist --no-tarballs failed: {}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        out
    })
}

/// The subcommands that `mcast --help` lists (without `help`).
fn subcommands() -> Vec<String> {
    let f = run_limited(mcast_command(&["--help"]), Duration::from_secs(20));
    assert_eq!(f.code(), 0, "{f:?}");
    let names: Vec<String> = f
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(str::to_owned)
        .collect();
    assert!(names.len() >= 6, "too few subcommands in --help: {names:?}");
    names
}

/// The long options `mcast SUB --help` lists, e.g. `--interval`.
fn long_options(sub: &str) -> Vec<String> {
    let f = run_limited(mcast_command(&[sub, "--help"]), Duration::from_secs(20));
    assert_eq!(f.code(), 0, "{f:?}");
    f.stdout
        .lines()
        .filter(|l| l.trim_start().starts_with('-'))
        .flat_map(|l| l.split(|c: char| c.is_whitespace() || c == ','))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        // `--verbose...`, `--interval <DUR>`: the name only.
        .map(|w| {
            let end = w[2..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .map_or(w.len(), |i| i + 2);
            w[..end].to_owned()
        })
        .collect()
}

/// Runs a checker; `None` (after a skip) when it is not installed.
fn check(program: &str, args: &[&str], file: &Path) -> Option<Output> {
    match Command::new(program).args(args).arg(file).output() {
        Ok(o) => Some(o),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            skip(&format!(
                "{program} is not installed (apt-get install {program}; scripts/test.sh does)"
            ));
            None
        }
        Err(e) => panic!("cannot run {program}: {e}"),
    }
}

fn assert_clean(what: &str, o: &Output) {
    assert!(
        o.status.success() && o.stderr.is_empty(),
        "{what}: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

fn completion_parses(shell: &str, args: &[&str], file: &str) {
    let path = dist().join(file);
    assert!(path.is_file(), "no {}", path.display());
    if let Some(o) = check(shell, args, &path) {
        assert_clean(&format!("{shell} {args:?} {file}"), &o);
    }
}

#[test]
fn bash_completion_parses() {
    completion_parses("bash", &["-n"], "mcast.bash");
}

#[test]
fn zsh_completion_parses() {
    completion_parses("zsh", &["-n"], "_mcast");
}

#[test]
fn fish_completion_parses() {
    completion_parses("fish", &["--no-execute"], "mcast.fish");
}

#[test]
fn completions_know_every_subcommand_and_option() {
    for file in ["mcast.bash", "_mcast", "mcast.fish"] {
        let text = std::fs::read_to_string(dist().join(file)).expect("read completion");
        for sub in subcommands() {
            assert!(text.contains(&sub), "{file} lacks the subcommand {sub}");
            for opt in long_options(&sub) {
                // fish writes `-l interval`, bash and zsh `--interval`.
                let fish = format!("-l {}", &opt[2..]);
                assert!(
                    text.contains(&opt) || text.contains(&fish),
                    "{file} lacks {sub} {opt}"
                );
            }
        }
    }
}

#[test]
fn man_pages_render_without_warnings() {
    let mut pages = vec!["mcast.1".to_owned()];
    pages.extend(subcommands().iter().map(|s| format!("mcast-{s}.1")));
    for page in pages {
        let path = dist().join(&page);
        assert!(path.is_file(), "no {}", path.display());
        let Some(o) = check("groff", &["-man", "-Tutf8", "-ww"], &path) else {
            return;
        };
        assert_clean(&format!("groff -man -Tutf8 -ww {page}"), &o);
        assert!(!o.stdout.is_empty(), "{page} renders empty");
    }
}

#[test]
fn man_page_names_every_subcommand_and_its_options() {
    let path = dist().join("mcast.1");
    let Some(o) = check("groff", &["-man", "-Tutf8", "-P-c", "-P-b", "-P-u"], &path) else {
        return;
    };
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "{text}");
    for sub in subcommands() {
        assert!(
            text.contains(&format!("mcast-{sub}(1)")),
            "mcast.1 lacks {sub}: {text}"
        );
        let page = dist().join(format!("mcast-{sub}.1"));
        let Some(o) = check("groff", &["-man", "-Tutf8", "-P-c", "-P-b", "-P-u"], &page) else {
            return;
        };
        let text = String::from_utf8_lossy(&o.stdout);
        for opt in long_options(&sub) {
            // groff renders the hyphens of options as U+2010 or '-'.
            let alt = opt.replace('-', "\u{2010}");
            assert!(
                text.contains(&opt) || text.contains(&alt),
                "mcast-{sub}.1 lacks {opt}: {text}"
            );
        }
    }
}
