//! The `mcast` command line: the parsed arguments (defined in `args.rs`)
//! handed to the subcommands, and the map from results to exit codes. Each
//! subcommand lives in its own file.

use std::net::IpAddr;

use clap::error::ErrorKind;
use clap::Parser;
use mcast::{Family, Group, Interface, Purpose};

mod advice;
mod args;
mod choose;
mod doctor;
mod hex;
mod ifaces;
mod json;
mod logger;
mod output;
mod ping;
mod recv;
mod report;
mod send;
mod signals;
mod stats_view;

mod version;

use args::{
    Cli, Command, DoctorArgs, IfacesArgs, PingArgs, RecvArgs, ReportArgs, ScopedAddr, SendArgs,
};
use output::{CliError, EXIT_INTERRUPTED, EXIT_OK};

/// Options every subcommand shares.
#[derive(Debug, Clone, Copy)]
struct Common {
    quiet: bool,
    json: bool,
}

impl ScopedAddr {
    /// The address, once the scope (if any) is known to name `iface`: an
    /// unknown scope, or one that names another interface, is bad input.
    fn on(self, what: &str, iface: &Interface) -> Result<IpAddr, CliError> {
        if let Some(z) = self.zone {
            let list = mcast::interfaces().map_err(|e| {
                CliError::failure(format!("cannot list the network interfaces: {e}"))
            })?;
            match z.resolve(&list) {
                None => {
                    return Err(CliError::usage(format!(
                        "the scope of {what} {}%{z} names no interface; available: {}",
                        self.ip,
                        available(&list)
                    )))
                }
                Some(i) if i.index() != iface.index() => {
                    return Err(CliError::usage(format!(
                        "{what} {}%{z} is scoped to {i}, but the interface is {iface}; \
                         drop the scope or make it agree",
                        self.ip
                    )))
                }
                Some(_) => {}
            }
        }
        Ok(self.ip)
    }
}

/// `lo (1), wlan0 (3)`: the interfaces a scope or `-i` may name.
fn available(list: &[Interface]) -> String {
    let names: Vec<String> = list
        .iter()
        .map(|i| format!("{} ({})", i.name(), i.index()))
        .collect();
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

fn purpose(broadcast: bool) -> Purpose {
    if broadcast {
        Purpose::Broadcast
    } else {
        Purpose::Multicast
    }
}

/// Warns about reserved groups (224.0.0.0/24, ff02::1, ff02::2): they are
/// allowed, but the user should know what they are for.
fn warn_reserved(groups: &[Group]) {
    let mut reserved = groups
        .iter()
        .filter_map(|g| g.reserved_use().map(|what| (g, what)));
    if let Some((g, what)) = reserved.next() {
        let more = reserved.count();
        log::warn!(
            "{} is reserved ({what}): other hosts' traffic arrives there too, and what you \
             send reaches every member on the link; for your own traffic use a group in {}{}",
            g.addr(),
            if g.addr().is_ipv4() {
                "239.0.0.0/8"
            } else {
                "ff05::/16 (or ff02::/16 other than ::1 and ::2)"
            },
            if more > 0 {
                format!(
                    " (and {more} more reserved group{})",
                    if more == 1 { "" } else { "s" }
                )
            } else {
                String::new()
            }
        );
    }
}

/// Checks what a person wrote as groups, before an interface is chosen: one
/// address family, and each group fit for multicast (or broadcast). The
/// same messages for every subcommand.
fn check_groups(groups: &[Group], broadcast: bool) -> Result<(), CliError> {
    let Some(first) = groups.first() else {
        return Ok(());
    };
    if let Some(g) = groups
        .iter()
        .find(|g| g.addr().is_ipv4() != first.addr().is_ipv4())
    {
        return Err(CliError::usage(format!(
            "{g} and {first} are of different address families; one run uses one family \
             (start two, one with IPv4 groups and one with IPv6 groups)"
        )));
    }
    for g in groups {
        g.check(purpose(broadcast), None)?;
    }
    if broadcast && groups.len() > 1 {
        return Err(CliError::usage("--broadcast takes one broadcast address"));
    }
    warn_reserved(groups);
    Ok(())
}

/// The interface that the groups' scopes name (`ff02::1%wlan0`), with the
/// first scoped group; `None` when no group has a scope. Every scope must
/// name the same interface.
fn scoped_interface<'a>(
    groups: &[Group],
    list: &'a [Interface],
) -> Result<Option<(&'a Interface, Group)>, CliError> {
    let mut by_scope: Option<(&Interface, Group)> = None;
    for g in groups {
        let Some(z) = g.zone() else { continue };
        let i = z.resolve(list).ok_or_else(|| {
            CliError::usage(format!(
                "the scope of {g} names no interface; available: {}",
                available(list)
            ))
        })?;
        match by_scope {
            None => by_scope = Some((i, *g)),
            Some((first, g0)) if first.index() != i.index() => {
                return Err(CliError::usage(format!(
                    "{g0} and {g} are scoped to different interfaces ({first} and {i}); one run \
                     uses one interface"
                )))
            }
            Some(_) => {}
        }
    }
    Ok(by_scope)
}

/// A group's scope and `-i` must name the same interface.
fn agree(g: &Group, by_scope: &Interface, named: &Interface) -> Result<(), CliError> {
    if named.index() == by_scope.index() {
        return Ok(());
    }
    Err(CliError::usage(format!(
        "{g} is scoped to {by_scope}, but -i names {named}; give one of them, or make them agree"
    )))
}

/// The interface: the one `-i` names, or the one the groups' scope names
/// (`ff02::1%wlan0`); when both are given they must agree.
fn interface_for(
    groups: &[Group],
    spec: Option<&str>,
    family: Family,
    purpose: Purpose,
) -> Result<Interface, CliError> {
    if groups.iter().all(|g| g.zone().is_none()) {
        return choose::choose(spec, family, purpose);
    }
    let list = mcast::interfaces()
        .map_err(|e| CliError::failure(format!("cannot list the network interfaces: {e}")))?;
    let Some((by_scope, g)) = scoped_interface(groups, &list)? else {
        return choose::choose(spec, family, purpose);
    };
    let iface = choose::choose(Some(spec.unwrap_or(by_scope.name())), family, purpose)?;
    agree(&g, by_scope, &iface)?;
    Ok(iface)
}

/// The groups without their scopes (the interface is chosen now), each once.
fn unscoped(groups: Vec<Group>) -> Vec<Group> {
    let mut seen = std::collections::HashSet::new();
    groups
        .into_iter()
        .map(Group::without_zone)
        .filter(|g| seen.insert(*g))
        .collect()
}

/// Resolves the groups (default: 239.74.20.30:54321), the interface and,
/// with broadcast, the destination.
fn targets(
    specs: &[String],
    broadcast: bool,
    iface: Option<&str>,
) -> Result<(Vec<Group>, Interface), CliError> {
    let groups = if specs.is_empty() {
        Vec::new()
    } else {
        mcast::parse_groups(specs).map_err(CliError::usage)?
    };
    let first = groups.first().copied().unwrap_or_else(Group::default_group);
    if groups.is_empty() && !broadcast {
        check_groups(&[first], broadcast)?;
    } else {
        check_groups(&groups, broadcast)?;
    }
    let family = if broadcast {
        Family::V4
    } else {
        Family::of(&first.addr())
    };
    let iface = interface_for(&groups, iface, family, purpose(broadcast))?;
    let groups = unscoped(groups);
    if !broadcast {
        return Ok((
            if groups.is_empty() {
                vec![first]
            } else {
                groups
            },
            iface,
        ));
    }
    match groups.first() {
        None => {
            let b = iface
                .broadcast_v4()
                .ok_or_else(|| CliError::usage(format!("{iface} has no IPv4 broadcast address")))?;
            Ok((vec![Group::new(IpAddr::V4(b), first.port())], iface))
        }
        Some(g) => {
            g.check(Purpose::Broadcast, Some(&iface))?;
            Ok((vec![*g], iface))
        }
    }
}

/// Runs the command line and returns the exit code.
pub(crate) fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e)
            if e.kind() == ErrorKind::DisplayVersion && version::json_requested_and_printed() =>
        {
            return EXIT_OK;
        }
        Err(e) => {
            // Usage errors exit 2; --help and --version exit 0.
            let _ = e.print();
            return e.exit_code();
        }
    };
    logger::init(logger::level(
        cli.verbose,
        cli.quiet,
        std::env::var("RUST_LOG").ok().as_deref(),
    ));
    let common = Common {
        quiet: cli.quiet,
        json: cli.json,
    };
    let result = match &cli.command {
        Command::Ifaces(a) => ifaces::run(a, cli.json).map(|()| false),
        Command::Send(a) => {
            signals::install();
            send::run(a, &common)
        }
        Command::Recv(a) => {
            signals::install();
            recv::run(a, &common)
        }
        Command::Ping(a) => {
            signals::install();
            ping::run(a, &common)
        }
        Command::Doctor(a) => doctor::run(a, &common),
        Command::Report(a) => report::run(a, &common),
    };
    match result {
        Ok(false) => EXIT_OK,
        Ok(true) => EXIT_INTERRUPTED,
        Err(e) => {
            if !e.msg.is_empty() {
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "mcast: error: {}", e.msg);
            }
            e.code
        }
    }
}
