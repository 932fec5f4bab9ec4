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

/// Drops the unwind tables from static musl binaries of the release profile,
/// which sets `panic = "abort"` in Cargo.toml, linked by lld (rust-lld, as
/// .cargo/config.toml sets for aarch64 musl): `.eh_frame` and
/// `.eh_frame_hdr` are 140 KiB of the phone binary's 1 MiB budget. Nothing
/// unwinds in such a binary; the tables served only the backtrace of a panic,
/// which the stripped binary could not name anyway. A panic still prints its
/// message and location, with an empty `stack backtrace:`, and aborts.
/// Only the `mcast` binary is linked this way (`rustc-link-arg-bins`), never a
/// test, which unwinds; other linkers (a C compiler driver) keep the tables.
/// Build scripts are not told the profile's panic strategy (`CARGO_CFG_PANIC`
/// is the target's default), so the profile and cargo's override of its
/// panic setting stand for it.
fn drop_unwind_tables() {
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let lld = Path::new(&var("RUSTC_LINKER"))
        .file_name()
        .is_some_and(|n| n == "rust-lld" || n == "ld.lld");
    println!("cargo:rerun-if-env-changed=CARGO_PROFILE_RELEASE_PANIC");
    let abort = var("PROFILE") == "release"
        && matches!(var("CARGO_PROFILE_RELEASE_PANIC").as_str(), "" | "abort");
    if !abort || var("CARGO_CFG_TARGET_ENV") != "musl" || !lld {
        return;
    }
    let script = Path::new(&var("OUT_DIR")).join("no-eh-frame.ld");
    // INSERT keeps lld's default layout and only adds the discard.
    std::fs::write(
        &script,
        "SECTIONS { /DISCARD/ : { *(.eh_frame) } } INSERT AFTER .text;\n",
    )
    .expect("cannot write the linker script to OUT_DIR");
    println!("cargo:rustc-link-arg-bins=--no-eh-frame-hdr");
    println!("cargo:rustc-link-arg-bins={}", script.display());
}

fn main() {
    drop_unwind_tables();
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
