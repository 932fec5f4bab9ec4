//! The release binary for phones: `aarch64-unknown-linux-musl`, linked
//! statically with rust-lld (see `.cargo/config.toml`), must stay small enough
//! to `adb push` in a moment and must run on any arm64 Android or Linux
//! without a loader.
//!
//! The test builds it (`cargo build --release --target
//! aarch64-unknown-linux-musl`) into its own target directory,
//! `target/size-check`: the outer `cargo test` holds the lock of the normal
//! build directory for as long as the tests run, so building there would wait
//! forever. Cargo's freshness check makes the build a no-op when nothing
//! changed. Set `MCAST_MUSL_BIN=/path/to/mcast` to check a file that is
//! already built instead.
//!
//! Without the musl target or rust-lld the tests print `SKIPPED: …` and pass,
//! unless `MCAST_TEST_STRICT=1`, which turns the skip into a failure.
#![allow(missing_docs)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::without_outer_cargo;

const TARGET: &str = "aarch64-unknown-linux-musl";
const MAX_SIZE: u64 = 1024 * 1024; // 1 MiB = 1,048,576 bytes

fn strict() -> bool {
    matches!(
        std::env::var("MCAST_TEST_STRICT").as_deref(),
        Ok("1") | Ok("true") | Ok("yes")
    )
}

/// Prints why the test is skipped, or fails it under `MCAST_TEST_STRICT=1`.
fn skip(reason: &str) {
    if strict() {
        panic!("MCAST_TEST_STRICT=1 forbids skipping: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn rustc_output(args: &[&str]) -> Option<String> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let out = Command::new(rustc)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Why the musl binary cannot be built here, if it cannot.
fn missing_toolchain() -> Option<String> {
    let libdir = match rustc_output(&["--print", "target-libdir", "--target", TARGET]) {
        Some(d) => PathBuf::from(d),
        None => return Some(format!("rustc does not know the {TARGET} target")),
    };
    let has_std = std::fs::read_dir(&libdir)
        .map(|rd| {
            rd.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("libstd-"))
        })
        .unwrap_or(false);
    if !has_std {
        return Some(format!(
            "the {TARGET} standard library is not installed (rustup target add {TARGET})"
        ));
    }
    let sysroot = rustc_output(&["--print", "sysroot"])?;
    let host = rustc_output(&["-vV"])?
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))?;
    let lld = Path::new(&sysroot)
        .join("lib/rustlib")
        .join(host)
        .join("bin/rust-lld");
    if !lld.exists() {
        return Some(format!(
            "rust-lld is not in the toolchain ({})",
            lld.display()
        ));
    }
    None
}

/// The built binary, or `Err(reason)` when it cannot be built here.
fn musl_binary() -> &'static Result<PathBuf, String> {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("MCAST_MUSL_BIN").filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(p));
        }
        if let Some(reason) = missing_toolchain() {
            return Err(reason);
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let target_dir = root.join("target").join("size-check");
        let status = without_outer_cargo(&mut Command::new(cargo()))
            .args(["build", "--release", "--bin", "mcast", "--target", TARGET])
            .arg("--target-dir")
            .arg(&target_dir)
            .current_dir(root)
            .status()
            .expect("cannot run cargo");
        assert!(
            status.success(),
            "cargo build --release --target {TARGET} --target-dir {} failed: {status}",
            target_dir.display()
        );
        Ok(target_dir.join(TARGET).join("release").join("mcast"))
    })
}

/// Facts read from an ELF file's headers.
#[derive(Debug)]
struct Elf {
    class64: bool,
    little_endian: bool,
    e_type: u16,
    machine: u16,
    has_interp: bool,
    has_dynamic: bool,
    has_symtab: bool,
}

const EM_AARCH64: u16 = 183;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const SHT_SYMTAB: u32 = 2;

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(b[off..off + 2].try_into().unwrap())
}
fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

/// Parses a 64-bit little-endian ELF file (the only kind aarch64 Linux uses).
fn parse_elf(b: &[u8]) -> Result<Elf, String> {
    if b.len() < 64 || &b[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    let class64 = b[4] == 2;
    let little_endian = b[5] == 1;
    if !class64 || !little_endian {
        return Ok(Elf {
            class64,
            little_endian,
            e_type: 0,
            machine: 0,
            has_interp: false,
            has_dynamic: false,
            has_symtab: false,
        });
    }
    let e_type = u16_at(b, 16);
    let machine = u16_at(b, 18);
    let phoff = u64_at(b, 32) as usize;
    let shoff = u64_at(b, 40) as usize;
    let phentsize = u16_at(b, 54) as usize;
    let phnum = u16_at(b, 56) as usize;
    let shentsize = u16_at(b, 58) as usize;
    let shnum = u16_at(b, 60) as usize;

    let mut has_interp = false;
    let mut has_dynamic = false;
    for i in 0..phnum {
        let off = phoff + i * phentsize;
        if off + 4 > b.len() {
            return Err(format!("program header {i} is outside the file"));
        }
        match u32_at(b, off) {
            PT_INTERP => has_interp = true,
            PT_DYNAMIC => has_dynamic = true,
            _ => {}
        }
    }
    let mut has_symtab = false;
    for i in 0..shnum {
        let off = shoff + i * shentsize;
        if off + 8 > b.len() {
            return Err(format!("section header {i} is outside the file"));
        }
        if u32_at(b, off + 4) == SHT_SYMTAB {
            has_symtab = true;
        }
    }
    Ok(Elf {
        class64,
        little_endian,
        e_type,
        machine,
        has_interp,
        has_dynamic,
        has_symtab,
    })
}

/// The built binary and its parsed headers, or `None` after a skip.
fn built() -> Option<(PathBuf, u64, Elf)> {
    let bin = match musl_binary() {
        Ok(p) => p.clone(),
        Err(reason) => {
            skip(&format!(
                "cannot build the static {TARGET} binary: {reason}"
            ));
            return None;
        }
    };
    let bytes =
        std::fs::read(&bin).unwrap_or_else(|e| panic!("cannot read {}: {e}", bin.display()));
    let elf = parse_elf(&bytes).unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    Some((bin, bytes.len() as u64, elf))
}

#[test]
fn musl_release_binary_is_at_most_one_mebibyte() {
    let Some((bin, size, _)) = built() else {
        return;
    };
    eprintln!("{}: {size} bytes (limit {MAX_SIZE})", bin.display());
    assert!(
        size <= MAX_SIZE,
        "{} is {size} bytes, over the {MAX_SIZE}-byte (1 MiB) budget for the phone binary",
        bin.display()
    );
}

#[test]
fn musl_release_binary_is_aarch64() {
    let Some((bin, _, elf)) = built() else { return };
    assert!(
        elf.class64 && elf.little_endian,
        "{} is not a 64-bit little-endian ELF file: {elf:?}",
        bin.display()
    );
    assert_eq!(
        elf.machine,
        EM_AARCH64,
        "{} is not an aarch64 executable (e_machine {})",
        bin.display(),
        elf.machine
    );
    assert!(
        elf.e_type == ET_EXEC || elf.e_type == ET_DYN,
        "{} is not an executable (e_type {})",
        bin.display(),
        elf.e_type
    );
}

#[test]
fn musl_release_binary_is_static() {
    let Some((bin, _, elf)) = built() else { return };
    assert!(
        !elf.has_interp,
        "{} has a PT_INTERP program header: it needs a dynamic loader, which Android does not have for musl",
        bin.display()
    );
    assert!(
        !elf.has_dynamic,
        "{} has a dynamic section: it is not fully statically linked",
        bin.display()
    );
}

#[test]
fn musl_release_binary_is_stripped() {
    let Some((bin, _, elf)) = built() else { return };
    assert!(
        !elf.has_symtab,
        "{} still has a symbol table; [profile.release] strip = true should remove it",
        bin.display()
    );
}

/// Runs `mcast --help` under qemu-aarch64 (when installed) to show the static
/// binary starts without a loader or libraries.
#[test]
fn musl_release_binary_runs_under_qemu() {
    let Some((bin, _, _)) = built() else { return };
    let qemu = std::env::var("MCAST_QEMU_AARCH64").unwrap_or_else(|_| "qemu-aarch64".to_owned());
    let out = match Command::new(&qemu).arg(&bin).arg("--help").output() {
        Ok(out) => out,
        Err(e) => {
            skip(&format!(
                "cannot run {qemu} (apt-get install qemu-user): {e}"
            ));
            return;
        }
    };
    assert!(
        out.status.success(),
        "{qemu} {} --help failed: {}\nstdout: {}\nstderr: {}",
        bin.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// scripts/build-targets.sh packages the musl binary (built above, in the
/// same target directory, so its build is a no-op) with the README, the
/// changelog, the licenses, the man pages and the shell completions of
/// `cargo xtask dist`, and a SHA256SUMS that checks.
#[test]
fn release_tarball_holds_binary_docs_man_pages_and_completions() {
    if built().is_none() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_dir = root.join("target").join("size-check");
    let dist = target_dir.join("dist-test");
    let _ = std::fs::remove_dir_all(&dist);
    let out = without_outer_cargo(&mut Command::new("bash"))
        .arg(root.join("scripts/build-targets.sh"))
        .arg("--dist-dir")
        .arg(&dist)
        .arg(TARGET)
        .current_dir(root)
        .env("CARGO", cargo())
        .env("CARGO_TARGET_DIR", &target_dir)
        .output()
        .expect("cannot run scripts/build-targets.sh");
    assert!(
        out.status.success(),
        "build-targets.sh {TARGET} failed: {}
stdout: {}
stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let name = format!("mcast-{}-{TARGET}", env!("CARGO_PKG_VERSION"));
    let tarball = dist.join(format!("{name}.tar.gz"));
    let list = Command::new("tar")
        .arg("-tzvf")
        .arg(&tarball)
        .output()
        .expect("cannot run tar");
    assert!(list.status.success(), "tar -tzvf {}", tarball.display());
    let list = String::from_utf8_lossy(&list.stdout);
    // `-rwxr-xr-x 0/0 1043536 2026-12-02 15:00 mcast-0.1.0-T/mcast`
    let entries: Vec<(&str, &str)> = list
        .lines()
        .filter_map(|l| Some((l.split_whitespace().next()?, l.split_whitespace().last()?)))
        .collect();
    let mode = |path: &str| {
        entries
            .iter()
            .find(|(_, p)| *p == format!("{name}/{path}"))
            .map(|(m, _)| *m)
            .unwrap_or_else(|| {
                panic!(
                    "{} lacks {path}:
{list}",
                    tarball.display()
                )
            })
    };
    assert_eq!(mode("mcast"), "-rwxr-xr-x");
    let mut files = vec![
        "README.md".to_owned(),
        "CHANGELOG.md".to_owned(),
        "LICENSE-MIT".to_owned(),
        "LICENSE-APACHE".to_owned(),
        "man/mcast.1".to_owned(),
        "complete/mcast.bash".to_owned(),
        "complete/_mcast".to_owned(),
        "complete/mcast.fish".to_owned(),
    ];
    for sub in ["ifaces", "send", "recv", "ping", "doctor", "report"] {
        files.push(format!("man/mcast-{sub}.1"));
    }
    for f in &files {
        assert_eq!(mode(f), "-rw-r--r--", "{f}");
    }
    let sums = Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(&dist)
        .output()
        .expect("cannot run sha256sum");
    assert!(
        sums.status.success(),
        "SHA256SUMS does not check: {}",
        String::from_utf8_lossy(&sums.stdout)
    );
}

#[test]
fn elf_parser_reads_a_host_binary() {
    // The parser itself, on a file that certainly exists: this test binary.
    let me = std::env::current_exe().expect("current_exe");
    let bytes = std::fs::read(&me).expect("read self");
    let elf = parse_elf(&bytes).expect("parse self");
    if cfg!(all(target_pointer_width = "64", target_endian = "little")) {
        assert!(elf.class64 && elf.little_endian, "{elf:?}");
        // Test binaries are dynamically linked on glibc hosts.
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert!(elf.has_interp && elf.has_dynamic, "{elf:?}");
        }
    }
    assert!(parse_elf(b"not an elf file at all, just text padding it out to 64b").is_err());
}
