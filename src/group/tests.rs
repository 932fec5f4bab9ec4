//! Unit tests of groups, ports and zones: parsing, display and the checks
//! against a purpose and an interface.

use super::*;

fn g(s: &str) -> Group {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn default_group_is_the_articles() {
    let d = Group::default_group();
    assert_eq!(d.to_string(), "239.74.20.30:54321");
    assert!(d.is_multicast());
}

#[test]
fn forms() {
    assert_eq!(
        g("239.1.2.3"),
        Group::new("239.1.2.3".parse().unwrap(), Port::DEFAULT)
    );
    assert_eq!(g("239.1.2.3:5000").port().get(), 5000);
    assert_eq!(g("ff02::1").addr(), "ff02::1".parse::<IpAddr>().unwrap());
    assert_eq!(g("ff02::1").port(), Port::DEFAULT);
    assert_eq!(
        g("[ff05::4a14:1e]:6000").to_string(),
        "[ff05::4a14:1e]:6000"
    );
    assert_eq!(g("[ff05::1]").port(), Port::DEFAULT);
    assert_eq!(g(" 239.1.2.3:65535 ").port().get(), 65535);
    // Broadcast addresses parse; whether they are allowed is the builder's call.
    assert!(!g("198.18.1.255").is_multicast());
}

#[test]
fn scopes() {
    assert_eq!(g("ff02::1").scope_v6(), Some(2));
    assert_eq!(g("ff05::1").scope_v6(), Some(5));
    assert_eq!(g("ff0e::1").scope_v6(), Some(14));
    assert_eq!(g("239.1.1.1").scope_v6(), None);
}

#[test]
fn scopes_name_the_interface_and_print_back() {
    let g1 = g("ff02::1%wlan0");
    assert_eq!(g1.zone().unwrap().as_str(), "wlan0");
    assert_eq!(g1.zone().unwrap().index(), None);
    assert_eq!(g1.to_string(), "[ff02::1%wlan0]:54321");
    assert_eq!(g(&g1.to_string()), g1);
    // What the sender prints for a link-local destination.
    let g3 = g("[ff02::1%3]:54321");
    assert_eq!(g3.zone().unwrap().index(), Some(3));
    assert_eq!(g3.port().get(), 54321);
    assert_eq!(g3.without_zone(), g("[ff02::1]:54321"));
    assert_ne!(g3, g3.without_zone());
    assert_eq!(g("ff05::1%eth0.100").zone().unwrap().as_str(), "eth0.100");
    refused(
        &[
            ("239.1.1.1%wlan0", "belongs to IPv6 addresses"),
            ("239.1.1.1%wlan0:5000", "belongs to IPv6 addresses"),
            ("ff02::1%", "the scope after '%' is empty"),
            ("[ff02::1%]:5000", "the scope after '%' is empty"),
            ("ff02::1%0", "names no interface"),
            ("ff02::1%abcdefghijklmnop", "not an interface name or index"),
            ("ff02::1%a/b", "not an interface name or index"),
            ("ff02::1%wl%an", "not an interface name or index"),
        ],
        &[],
    );
}

#[test]
fn scopes_resolve_by_name_then_index() {
    use mcast_platform::{Flags, InterfaceIndex};
    let list = vec![
        Interface::new(InterfaceIndex::new(1).unwrap(), "lo", Flags::UP),
        Interface::new(InterfaceIndex::new(3).unwrap(), "wlan0", Flags::UP),
        // A name that looks like an index wins, as with `ip`.
        Interface::new(InterfaceIndex::new(7).unwrap(), "1", Flags::UP),
    ];
    let zone = |s: &str| s.parse::<Zone>().unwrap();
    assert_eq!(zone("wlan0").resolve(&list).unwrap().index().get(), 3);
    assert_eq!(zone("3").resolve(&list).unwrap().name(), "wlan0");
    assert_eq!(zone("1").resolve(&list).unwrap().index().get(), 7);
    assert!(zone("nosuch").resolve(&list).is_none());
    assert!(zone("9").resolve(&list).is_none());
}

#[test]
fn checks_per_purpose() {
    use mcast_platform::{Address, Flags, InterfaceIndex};
    let wlan = Interface::new(
        InterfaceIndex::new(3).unwrap(),
        "wlan0",
        Flags::UP | Flags::MULTICAST | Flags::BROADCAST,
    )
    .with_address(
        Address::new("198.18.1.10".parse().unwrap(), 24)
            .with_broadcast("198.18.1.255".parse().unwrap()),
    );
    let m = Purpose::Multicast;
    let b = Purpose::Broadcast;
    let err = |grp: &str, p, i: Option<&Interface>| g(grp).check(p, i).unwrap_err().to_string();
    assert!(g("239.1.1.1").check(m, None).is_ok());
    assert!(g("239.1.1.1").check(m, Some(&wlan)).is_ok());
    assert!(err("10.0.0.1", m, None).contains("10.0.0.1 is not a multicast group"));
    assert!(err("10.0.0.1", m, None).contains("add --broadcast"));
    assert!(err("ff05::1", b, None).contains("broadcast is IPv4 only, but ff05::1 is IPv6"));
    assert!(err("239.1.1.1", b, None).contains("is a multicast group, not a broadcast"));
    // Without an interface, any IPv4 unicast address may be a broadcast.
    assert!(g("10.0.0.255").check(b, None).is_ok());
    assert!(g("198.18.1.255").check(b, Some(&wlan)).is_ok());
    assert!(g("255.255.255.255").check(b, Some(&wlan)).is_ok());
    let e = err("10.0.0.255", b, Some(&wlan));
    assert!(
        e.contains("not a broadcast address of wlan0 (index 3)"),
        "{e}"
    );
    assert!(e.contains("use 198.18.1.255 or 255.255.255.255"), "{e}");
    let e = err("ff05::1", m, Some(&wlan));
    assert!(e.contains("wlan0 (index 3) has no IPv6 address"), "{e}");
}

#[test]
fn reserved_groups_say_what_they_are_for() {
    let use_of = |s: &str| g(s).reserved_use();
    assert!(use_of("224.0.0.0").unwrap().contains("base address"));
    assert!(use_of("224.0.0.1").unwrap().contains("all-hosts"));
    assert!(use_of("224.0.0.251").unwrap().contains("mDNS"));
    assert!(use_of("224.0.0.77")
        .unwrap()
        .contains("Local Network Control Block"));
    assert!(use_of("ff02::1").unwrap().contains("all-nodes"));
    assert!(use_of("ff02::2").unwrap().contains("all-routers"));
    for free in ["224.0.1.1", "239.74.20.30", "ff02::3", "ff05::1", "ff12::1"] {
        assert_eq!(use_of(free), None, "{free}");
    }
}

#[test]
fn errors_name_the_value_and_the_forms() {
    refused(
        &[
            ("239.1.2.3:0", "port 0 is out of range"),
            ("239.1.2.3:65536", "port 65536 is out of range"),
            ("239.1.2.3:99999999999999999999", "is not a number"),
            ("239.1.2.3:x", "port 'x' is not a number"),
            ("239.1.2.3:+5", "port '+5' is not a number"),
            ("nope", "'nope' is not an IP address"),
            ("[ff02::1", "missing ']'"),
            ("[ff02::1]x", "unexpected 'x'"),
            (":5000", "the address is missing"),
            ("", "the address is missing"),
            ("239.1.2.300", "is not an IP address"),
        ],
        &["ADDR:PORT"],
    );
}

#[test]
fn a_group_needs_the_purpose_of_its_address() {
    for (group, broadcast) in [
        ("239.1.1.1", false),
        ("[ff05::1]:5000", false),
        ("10.0.0.255", true),
    ] {
        assert_eq!(g(group).purpose(), purpose(broadcast), "{group}");
    }
    assert_eq!(purpose(true), Purpose::Broadcast);
}

/// Each input is refused with a message that says `needle` and shows each
/// of the accepted `forms`.
fn refused(cases: &[(&str, &str)], forms: &[&str]) {
    for (input, needle) in cases {
        let e = input.parse::<Group>().unwrap_err().to_string();
        assert!(e.contains(needle), "{input}: {e}");
        assert!(forms.iter().all(|f| e.contains(f)), "{e}");
    }
}
