//! `mcast --version` (and `-V`): what this binary is, so that one found on a
//! phone can say so. One line, `mcast 0.1.0 (a1b2c3d, aarch64-unknown-linux-musl,
//! release)`, or with `--json` one `version` object; the facts come from
//! build.rs.

use clap::{CommandFactory, FromArgMatches};

use super::args::Cli;
use super::output::{line, EXIT_OK};

/// The commit (`a1b2c3d`, or `unknown` when built without git).
const COMMIT: &str = env!("MCAST_BUILD_COMMIT");
/// `true`, `false`, or empty when the commit is unknown.
const DIRTY: &str = env!("MCAST_BUILD_DIRTY");
const TARGET: &str = env!("MCAST_BUILD_TARGET");
const PROFILE: &str = env!("MCAST_BUILD_PROFILE");

/// What `--version` prints after `mcast `.
const LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("MCAST_BUILD_DESCRIBE"),
    ", ",
    env!("MCAST_BUILD_TARGET"),
    ", ",
    env!("MCAST_BUILD_PROFILE"),
    ")"
);

/// The `version` object of `--version --json`.
fn json() -> String {
    let o = mcast::JsonObject::typed("version")
        .str("version", env!("CARGO_PKG_VERSION"))
        .str("commit", COMMIT);
    let o = match DIRTY {
        "true" => o.bool("dirty", true),
        "false" => o.bool("dirty", false),
        _ => o.raw("dirty", "null"),
    };
    o.str("target", TARGET).str("profile", PROFILE).finish()
}

/// Parses the command line; `Err(exit code)` once clap printed help, the
/// version or a usage error.
pub(super) fn parse() -> Result<Cli, i32> {
    let matches = Cli::command().version(LINE).try_get_matches();
    let err = match matches.and_then(|m| Cli::from_arg_matches(&m)) {
        Ok(cli) => return Ok(cli),
        Err(e) => e,
    };
    // clap stops at --version before it reads the options after it, so
    // --json is looked for among the raw arguments.
    if err.kind() == clap::error::ErrorKind::DisplayVersion
        && std::env::args_os().skip(1).any(|a| a == "--json")
    {
        let _ = line(&json());
        return Err(EXIT_OK);
    }
    // Usage errors exit 2; --help and --version exit 0.
    let _ = err.print();
    Err(err.exit_code())
}
