//! `mcast --version --json`: the facts of `mcast --version` (the line that
//! clap prints, `mcast 0.1.0 (a1b2c3d, aarch64-unknown-linux-musl, release)`,
//! set in args.rs) as one `version` object, so that a binary found on a phone
//! can say what it is to a script too. The facts come from build.rs.

use super::output::line;

/// Prints the `version` object on stdout when the command line asked for
/// `--json`; true if it did. clap stops at `--version` before it reads the
/// options after it, so `--json` is looked for among the raw arguments.
pub(super) fn json_requested_and_printed() -> bool {
    if !std::env::args_os().skip(1).any(|a| a == "--json") {
        return false;
    }
    let o = crate::cli::json::JsonObject::typed("version")
        .str("version", env!("CARGO_PKG_VERSION"))
        .str("commit", env!("MCAST_BUILD_COMMIT"));
    // `true`, `false`, or empty when the commit is unknown.
    let o = match env!("MCAST_BUILD_DIRTY") {
        "true" => o.bool("dirty", true),
        "false" => o.bool("dirty", false),
        _ => o.raw("dirty", "null"),
    };
    let o = o
        .str("target", env!("MCAST_BUILD_TARGET"))
        .str("profile", env!("MCAST_BUILD_PROFILE"));
    let _ = line(&o.finish());
    true
}
