//! Build facts for `mcast --version`: the git commit the binary was built
//! from (with whether the tree had uncommitted changes), the target triple
//! and the build profile, passed to the crate as `MCAST_BUILD_*` variables.
//!
//! Git is optional: without `git`, without a `.git` (a source tarball, the
//! container of scripts/cross-test.sh, where the worktree's `.git` points
//! outside the mount) or when git refuses the repository, the commit is
//! "unknown". `MCAST_BUILD_COMMIT` set in the environment wins (for builds
//! whose git facts are known outside, e.g. `abc1234` or `abc1234-dirty`).

use std::path::Path;
use std::process::Command;

/// Runs `git ARGS` in the package directory; its trimmed stdout on success.
fn git(args: &[&str]) -> Option<String> {
    let out = match Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            eprintln!("git {}: {e}", args.join(" "));
            return None;
        }
    };
    if !out.status.success() {
        // Shown with `cargo build -vv`; the commit is then "unknown".
        eprintln!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?;
    Some(s.trim().to_owned())
}

/// Tells cargo to run this script again when `path` (relative to the
/// repository, as `git rev-parse --git-path` gives it) changes.
fn watch(path: &str) {
    let p = Path::new(path);
    let p = if p.is_absolute() {
        p.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
    };
    println!("cargo:rerun-if-changed={}", p.display());
}

/// The short commit and whether the tree is dirty; `None` without git.
fn commit() -> Option<(String, bool)> {
    let hash = git(&["rev-parse", "--short=7", "HEAD"])?;
    // Rebuilt when HEAD moves (a commit, a checkout) or the index changes
    // (staging clears or makes the dirty mark); the sources are watched below.
    for p in ["HEAD", "index", "packed-refs"] {
        if let Some(path) = git(&["rev-parse", "--git-path", p]) {
            watch(&path);
        }
    }
    if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
        if let Some(path) = git(&["rev-parse", "--git-path", &r]) {
            watch(&path);
        }
    }
    // Untracked files do not make a build dirty: only changes to what git
    // tracks change what was built.
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some((hash, dirty))
}

fn main() {
    println!("cargo:rerun-if-env-changed=MCAST_BUILD_COMMIT");
    println!("cargo:rerun-if-changed=build.rs");
    // Edits to the sources change the dirty mark.
    for p in ["src", "platform", "Cargo.toml", "Cargo.lock"] {
        watch(p);
    }
    let (hash, dirty) = match std::env::var("MCAST_BUILD_COMMIT") {
        Ok(c) if !c.trim().is_empty() => {
            let c = c.trim();
            match c.strip_suffix("-dirty") {
                Some(h) => (h.to_owned(), "true".to_owned()),
                None => (c.to_owned(), "false".to_owned()),
            }
        }
        _ => match commit() {
            Some((h, d)) => (h, d.to_string()),
            None => ("unknown".to_owned(), String::new()),
        },
    };
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_owned());
    let profile = std::env::var("PROFILE").unwrap_or_else(|_| "unknown".to_owned());
    let desc = if dirty == "true" {
        format!("{hash}-dirty")
    } else {
        hash.clone()
    };
    println!("cargo:rustc-env=MCAST_BUILD_COMMIT={hash}");
    // The commit as `--version` shows it: `a1b2c3d`, `a1b2c3d-dirty`, `unknown`.
    println!("cargo:rustc-env=MCAST_BUILD_DESCRIBE={desc}");
    // "true", "false", or empty when the commit is unknown.
    println!("cargo:rustc-env=MCAST_BUILD_DIRTY={dirty}");
    println!("cargo:rustc-env=MCAST_BUILD_TARGET={target}");
    println!("cargo:rustc-env=MCAST_BUILD_PROFILE={profile}");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    println!("cargo:rustc-env=MCAST_BUILD_VERSION_LINE={version} ({desc}, {target}, {profile})");
}
