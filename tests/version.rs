//! `mcast --version`, `-V` and `--version --json`: the version, the git
//! commit (with `-dirty`), the target triple and the build profile, so that a
//! binary found on a phone says what it is.

mod common;

use std::time::Duration;

use common::{mcast_command, run_limited, Finished};

fn mcast(args: &[&str]) -> Finished {
    let f = run_limited(mcast_command(args), Duration::from_secs(20));
    assert_eq!(f.code(), 0, "mcast {args:?}: {f:?}");
    assert!(f.stderr.is_empty(), "mcast {args:?} wrote to stderr: {f:?}");
    f
}

/// The parts of `mcast 0.1.0 (a1b2c3d-dirty, TARGET, PROFILE)`, checked by
/// hand as a regular expression would: the commit, whether it is dirty
/// (`None` when unknown), the target and the profile.
fn parse_line(line: &str) -> (String, Option<bool>, String, String) {
    let rest = line
        .strip_prefix(&format!("mcast {} (", env!("CARGO_PKG_VERSION")))
        .unwrap_or_else(|| panic!("{line:?} does not start with 'mcast VERSION ('"));
    let inner = rest
        .strip_suffix(')')
        .unwrap_or_else(|| panic!("{line:?} does not end with ')'"));
    let parts: Vec<&str> = inner.split(", ").collect();
    let [commit, target, profile] = parts[..] else {
        panic!("{line:?}: expected (COMMIT, TARGET, PROFILE) in the parentheses");
    };
    let (hash, dirty) = match commit.strip_suffix("-dirty") {
        Some(h) => (h, Some(true)),
        None if commit == "unknown" => (commit, None),
        None => (commit, Some(false)),
    };
    if dirty.is_some() {
        assert!(
            (7..=40).contains(&hash.len()) && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "{line:?}: the commit {hash:?} is not a short hex hash"
        );
    }
    // A target triple: arch-vendor-os[-env], lower case.
    let fields: Vec<&str> = target.split('-').collect();
    assert!(
        (2..=4).contains(&fields.len())
            && fields.iter().all(|f| {
                !f.is_empty()
                    && f.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            }),
        "{line:?}: {target:?} is not a target triple"
    );
    assert!(
        profile == "debug" || profile == "release",
        "{line:?}: the profile {profile:?} is neither debug nor release"
    );
    (
        hash.to_owned(),
        dirty,
        target.to_owned(),
        profile.to_owned(),
    )
}

#[test]
fn version_line_names_commit_target_and_profile() {
    let f = mcast(&["--version"]);
    let line = f.stdout.trim_end();
    assert_eq!(line.lines().count(), 1, "one line: {line:?}");
    let (_, _, target, profile) = parse_line(line);
    // The test build of this very crate (not a cross-built MCAST_BIN).
    if std::env::var_os("MCAST_BIN").is_none() {
        let host = std::env::consts::ARCH;
        assert!(target.starts_with(host), "{line:?}: built for {host}");
        assert_eq!(profile, "debug", "{line:?}");
    }
    assert_eq!(mcast(&["-V"]).stdout, f.stdout, "-V and --version differ");
}

#[test]
fn version_json_is_one_object_with_the_same_facts() {
    let line = mcast(&["--version"]).stdout;
    let (commit, dirty, target, profile) = parse_line(line.trim_end());
    for args in [&["--version", "--json"][..], &["--json", "-V"][..]] {
        let f = mcast(args);
        assert_eq!(f.stdout.lines().count(), 1, "one line: {f:?}");
        let v: serde_json::Value = serde_json::from_str(&f.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {:?}", f.stdout));
        assert_eq!(v["type"], "version", "{v}");
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"), "{v}");
        assert_eq!(v["commit"], commit.as_str(), "{v}");
        match dirty {
            Some(d) => assert_eq!(v["dirty"], d, "{v}"),
            None => assert!(v["dirty"].is_null(), "{v}"),
        }
        assert_eq!(v["target"], target.as_str(), "{v}");
        assert_eq!(v["profile"], profile.as_str(), "{v}");
        assert_eq!(v.as_object().map(|o| o.len()), Some(6), "{v}");
    }
}
