//! `mcast ifaces`: every interface, which one automatic selection picks, and
//! why each other one was not picked.

use crate::cli::json::JsonObject;
use mcast::{select, Family, Group, Interface, Purpose, Verdict};

use super::choose::rejection_text;
use super::output::{line, CliError};
use super::IfacesArgs;

pub(crate) fn run(args: &IfacesArgs, json: bool) -> Result<(), CliError> {
    // The group is checked as send and recv check it, with the same messages.
    if let Some(g) = args.group {
        super::check_groups(&[g], args.broadcast)?;
    }
    let group = args
        .group
        .map_or_else(Group::default_group, Group::without_zone);
    let family = if args.broadcast {
        Family::V4
    } else {
        Family::of(&group.addr())
    };
    let purpose = super::choose::purpose(args.broadcast);
    let list = super::choose::list()?;
    // A scope must name an interface; the list shows them all anyway.
    super::scoped_interface(args.group.as_slice(), &list)?;
    let selection = select(&list, family, purpose);
    let what = match purpose {
        Purpose::Multicast => format!("{family} multicast to {group}"),
        Purpose::Broadcast => "IPv4 broadcast".to_owned(),
    };
    if !json {
        line(&format!(
            "Automatic choice for {what}: {}",
            selection.reason()
        ))?;
    }
    for (iface, verdict) in selection.verdicts() {
        let (picked, reason) = match verdict {
            Verdict::Chosen => (true, selection.reason()),
            Verdict::Rejected(r) => (false, rejection_text(r, iface.name())),
        };
        if json {
            line(&to_json(iface, picked, &reason))?;
        } else {
            text(iface, picked, &reason)?;
        }
    }
    Ok(())
}

fn text(iface: &Interface, picked: bool, reason: &str) -> Result<(), CliError> {
    let flags: Vec<&str> = iface
        .flags()
        .names()
        .into_iter()
        .filter(|f| *f != "up")
        .collect();
    line(&format!(
        "{} {:>3}  {:<14} {:<5} {:<9} {}",
        if picked { '*' } else { ' ' },
        iface.index(),
        iface.name(),
        if iface.is_up() { "up" } else { "down" },
        iface.kind().as_str(),
        flags.join(",")
    ))?;
    for a in iface.addresses() {
        match a.broadcast() {
            Some(b) => line(&format!("{:>8}{a} brd {b}", ""))?,
            None => line(&format!("{:>8}{a}", ""))?,
        }
    }
    line(&format!(
        "{:>8}{}: {reason}",
        "",
        if picked { "picked" } else { "not picked" }
    ))
}

fn to_json(iface: &Interface, picked: bool, reason: &str) -> String {
    JsonObject::typed("interface")
        .int("index", iface.index().get())
        .str("name", iface.name())
        .bool("up", iface.is_up())
        .str("kind", iface.kind().as_str())
        .strs("flags", iface.flags().names())
        .objects(
            "addresses",
            iface.addresses().iter().map(|a| {
                JsonObject::new()
                    .str("family", if a.ip().is_ipv4() { "ipv4" } else { "ipv6" })
                    .str("address", &a.ip().to_string())
                    .int("prefix_len", a.prefix_len())
                    .opt_str("broadcast", a.broadcast().map(|b| b.to_string()).as_deref())
            }),
        )
        .bool("selected", picked)
        .str("reason", reason)
        .finish()
}
