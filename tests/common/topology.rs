//! Small topologies that several tests build from namespaces and veths:
//! two hosts on one link ([`wlan_pair`]) and a phone with a Wi-Fi and a
//! cellular peer ([`phone`]). Addresses are in 198.18.0.0/15 and
//! fd6d:6361:7374::/48; the namespaces clean up after themselves
//! ([`Netns`]).
//!
//! Reached as `common::topology` (declared in `tests/common/mod.rs`).

use super::{addr, can_netns, veth, Netns};

/// One link between two hosts: a veth from `a`'s `dev_a` to `b`'s `dev_b`,
/// with the address (CIDR) `cidr_a` on one end and `cidr_b` on the other.
pub fn link(a: &Netns, dev_a: &str, cidr_a: &str, b: &Netns, dev_b: &str, cidr_b: &str) {
    veth(a, dev_a, b, dev_b);
    addr(a, dev_a, cidr_a);
    addr(b, dev_b, cidr_b);
}

/// Two hosts on one link, both `wlan0`: `tx` 198.18.NET.1/24 and `rx`
/// 198.18.NET.2/24, and with `v6` also fd6d:6361:7374:NET::1/64 and ::2.
/// `None` (after a skip) where namespaces cannot be made.
pub fn wlan_pair(tag: &str, net: u8, v6: bool) -> Option<(Netns, Netns)> {
    if !can_netns() {
        return None;
    }
    let tx = Netns::new(&format!("{tag}t"));
    let rx = Netns::new(&format!("{tag}r"));
    veth(&tx, "wlan0", &rx, "wlan0");
    addr(&tx, "wlan0", &format!("198.18.{net}.1/24"));
    addr(&rx, "wlan0", &format!("198.18.{net}.2/24"));
    if v6 {
        addr(&tx, "wlan0", &format!("fd6d:6361:7374:{net}::1/64"));
        addr(&rx, "wlan0", &format!("fd6d:6361:7374:{net}::2/64"));
    }
    Some((tx, rx))
}

/// A phone and its two peers, `(phone, wifi, cell)`: the phone's `wlan0`
/// (198.18.WIFI.10, the peer .20) reaches `wifi`, its `rmnet_data0`
/// (198.18.CELL.10) reaches `cell` (`rmnet0`, 198.18.CELL.1), and its
/// default route goes out cellular, as on a phone.
pub fn phone(tag: &str, wifi_net: u8, cell_net: u8) -> (Netns, Netns, Netns) {
    let phone = Netns::new(&format!("{tag}phone"));
    let wifi = Netns::new(&format!("{tag}wifi"));
    let cell = Netns::new(&format!("{tag}cell"));
    veth(&phone, "wlan0", &wifi, "wlan0");
    veth(&phone, "rmnet_data0", &cell, "rmnet0");
    addr(&phone, "wlan0", &format!("198.18.{wifi_net}.10/24"));
    addr(&wifi, "wlan0", &format!("198.18.{wifi_net}.20/24"));
    addr(&phone, "rmnet_data0", &format!("198.18.{cell_net}.10/24"));
    addr(&cell, "rmnet0", &format!("198.18.{cell_net}.1/24"));
    let gateway = format!("198.18.{cell_net}.1");
    phone.ip(&[
        "route",
        "add",
        "default",
        "via",
        &gateway,
        "dev",
        "rmnet_data0",
    ]);
    (phone, wifi, cell)
}
