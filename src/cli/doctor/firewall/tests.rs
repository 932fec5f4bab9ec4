//! The firewall check's unit tests: nftables and iptables rulesets, and the
//! matchers.

use super::matchers::{addr_in, iface_matches, port_in};
use super::*;

/// The handle at the end of each drop's fix (`nft delete rule … handle 2`).
fn handles(s: &Scan) -> Vec<&str> {
    s.drops
        .iter()
        .map(|h| h.fix.rsplit(' ').next().unwrap())
        .collect()
}

/// What each drop drops, in order.
fn whys(s: &Scan) -> Vec<&str> {
    s.drops.iter().map(|h| h.why.as_str()).collect()
}

fn traffic() -> Traffic {
    Traffic {
        family: Family::V4,
        port: 54321,
        group: "239.74.20.30".parse().unwrap(),
        dev: "wlan0".into(),
        peer: Some("198.18.1.20".parse().unwrap()),
        broadcast: false,
    }
}

fn traffic6() -> Traffic {
    Traffic {
        family: Family::V6,
        group: "ff05::4a14:1e".parse().unwrap(),
        peer: None,
        ..traffic()
    }
}

// `nft -a list ruleset` after the commands of the doctor's lab test,
// plus rules that must not count.
const NFT: &str = r#"table inet f { # handle 1
	set blocked { # handle 4
		type inet_service
		flags interval
		elements = { 9000-9100,
			     54321 }
	}
	chain in { # handle 1
		type filter hook input priority filter; policy accept;
		ct state established,related accept # handle 7
		udp dport 54321 drop # handle 2
		tcp dport 22 drop # handle 3
		udp dport { 53, 5353 } drop # handle 5
		iifname "eth0" drop # handle 6
		ip daddr 224.0.0.0/4 meta pkttype multicast counter packets 0 bytes 0 reject with icmp port-unreachable # handle 8
		ip6 daddr ff00::/8 drop # handle 9
		ip saddr 10.0.0.0/8 drop # handle 10
		udp dport != 54321 drop # handle 11
		udp dport @blocked counter packets 3 bytes 120 drop # handle 12
		ip protocol igmp drop # handle 13
		udp dport { 1, 2,
			    3 } drop # handle 14
	}
	chain out { # handle 15
		type filter hook output priority filter; policy accept;
		oifname "wlan*" log prefix "out " drop # handle 16
	}
}
table ip6 only6 { # handle 2
	chain in { # handle 1
		type filter hook input priority 0; policy accept;
		udp dport 54321 drop # handle 2
	}
}
"#;

#[test]
fn nft_rules_that_drop_the_group() {
    let s = scan_nft(NFT, &traffic());
    assert_eq!(handles(&s), ["2", "8", "12", "13", "16"], "{s:#?}");
    assert_eq!(s.drops[0].fix, "nft delete rule inet f in handle 2");
    assert_eq!(s.drops[0].rule, "udp dport 54321 drop");
    assert_eq!(s.drops[0].place, "table inet f chain in (hook input)");
    assert_eq!(s.drops[0].why, "UDP port 54321");
    assert!(
        s.drops[1].why.contains("239.74.20.30 (224.0.0.0/4)"),
        "{:?}",
        s.drops[1]
    );
    assert!(
        s.drops[1].why.contains("multicast packets"),
        "{:?}",
        s.drops[1]
    );
    assert_eq!(s.drops[3].why, "IGMP");
    assert_eq!(
        s.drops[4].why,
        "everything on wlan0, in what this host sends"
    );
    assert_eq!(s.rules, 13);
}

#[test]
fn nft_ipv6_sees_only_ipv6_rules() {
    let s = scan_nft(NFT, &traffic6());
    // 2 (inet, port), 9 (ip6 daddr ff00::/8), 12 (set), 16 (oifname),
    // and the ip6 table's rule; never the `ip …` ones.
    assert_eq!(handles(&s), ["2", "9", "12", "16", "2"], "{s:#?}");
    assert_eq!(s.drops[4].fix, "nft delete rule ip6 only6 in handle 2");
}

#[test]
fn nft_input_policy_drop_without_an_accept() {
    let closed = "table inet fw {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n\t\tct state established,related accept\n\t\ttcp dport 22 accept\n\t}\n}\n";
    let s = scan_nft(closed, &traffic());
    assert_eq!(s.drops.len(), 1, "{s:#?}");
    assert_eq!(s.drops[0].rule, "policy drop");
    assert!(s.drops[0]
        .fix
        .contains("nft add rule inet fw input udp dport 54321 accept"));
    assert!(s.drops[0].fix.contains("ip protocol igmp accept"));
    let open = closed.replace("tcp dport 22 accept", "udp dport 54321 accept");
    assert!(scan_nft(&open, &traffic()).drops.is_empty());
    // An empty ruleset, and the lab access point's bridge firewall
    // (multicast crossing the bridge, not this host's input).
    assert_eq!(scan_nft("", &traffic()), Scan::default());
}

/// What the issue's reproduction put on the sender: a rule in an output
/// chain that drops one datagram in ten, and a closed output policy.
#[test]
fn nft_output_rules_and_policies() {
    let text = "table ip t { # handle 2
	chain out { # handle 1
		type filter hook output priority filter; policy accept;
		ip daddr 239.74.20.30 numgen random mod 10 0 drop # handle 2
		ip daddr 239.74.20.31 drop # handle 3
	}
}
table inet f2 { # handle 3
	chain o2 { # handle 1
		type filter hook output priority filter; policy drop;
		tcp dport 22 accept # handle 2
	}
	chain i2 { # handle 3
		type filter hook input priority filter; policy accept;
		udp dport 54321 accept # handle 4
	}
}
";
    let s = scan_nft(text, &traffic());
    assert_eq!(s.drops.len(), 2, "{s:#?}");
    assert_eq!(s.drops[0].place, "table ip t chain out (hook output)");
    assert_eq!(
        s.drops[0].why,
        "239.74.20.30, in what this host sends, at random, about 1 in 10"
    );
    assert_eq!(s.drops[0].fix, "nft delete rule ip t out handle 2");
    // The accept rule of the input chain does not open the output policy.
    assert_eq!(s.drops[1].rule, "policy drop");
    assert_eq!(s.drops[1].place, "table inet f2 chain o2 (hook output)");
    assert!(s.drops[1].why.contains("in what this host sends"), "{s:#?}");
    assert!(s.drops[1]
        .fix
        .starts_with("nft add rule inet f2 o2 udp dport 54321 accept"));
    let open = text.replace("tcp dport 22 accept", "udp dport 54321 accept");
    assert_eq!(scan_nft(&open, &traffic()).drops.len(), 1);
}

#[test]
fn iptables_output_rules_and_policies() {
    let text = "*filter\n:INPUT ACCEPT [0:0]\n:OUTPUT DROP [0:0]\n\
                -A INPUT -p udp --dport 54321 -j ACCEPT\n\
                -A OUTPUT -d 239.74.20.30/32 -m statistic --mode random --probability 0.1 -j DROP\n\
                -A OUTPUT -p udp --dport 54321 -m statistic --mode nth --every 4 --packet 0 -j REJECT\n\
                COMMIT\n";
    let s = scan_iptables(text, &traffic(), false);
    let whys = whys(&s);
    assert_eq!(
        whys,
        [
            "239.74.20.30 (239.74.20.30/32), in what this host sends, at random, about 10 %",
            "UDP port 54321, in what this host sends, 1 in 4",
            "UDP port 54321 and IGMP (no rule accepts them), in what this host sends",
        ],
        "{s:#?}"
    );
    assert_eq!(s.drops[2].rule, ":OUTPUT DROP (policy)");
    assert!(s.drops[2]
        .fix
        .starts_with("iptables -t filter -A OUTPUT -p udp --dport 54321 -j ACCEPT"));
    assert!(s.drops[0]
        .fix
        .starts_with("iptables -t filter -D OUTPUT -d 239.74.20.30/32"));
}

const IPTABLES: &str = "\
# Generated by iptables-save v1.8.9 (nf_tables) on Mon Jan  1 00:00:00 2026
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:ufw-user-input - [0:0]
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p udp -m udp --dport 54321 -j DROP
-A INPUT -p tcp -m tcp --dport 22 -j DROP
-A INPUT -d 224.0.0.0/4 -j DROP
-A INPUT -p igmp -j REJECT --reject-with icmp-port-unreachable
-A INPUT -m pkttype --pkt-type multicast -j DROP
-A INPUT -i eth0 -j DROP
-A INPUT ! -d 224.0.0.0/4 -j DROP
-A INPUT -s 198.18.1.20/32 -j DROP
-A ufw-user-input -p udp -m multiport --dports 5000:60000 -j DROP
-A ufw-user-input -p udp -m multiport --dports 53,5353 -j DROP
-A ufw-user-input -j DROP
-A INPUT -j DROP
COMMIT
# Completed on Mon Jan  1 00:00:00 2026
";

#[test]
fn iptables_rules_that_drop_the_group() {
    let s = scan_iptables(IPTABLES, &traffic(), false);
    let rules: Vec<&str> = s.drops.iter().map(|h| h.rule.as_str()).collect();
    assert_eq!(
        rules,
        [
            "-A INPUT -p udp -m udp --dport 54321 -j DROP",
            "-A INPUT -d 224.0.0.0/4 -j DROP",
            "-A INPUT -p igmp -j REJECT --reject-with icmp-port-unreachable",
            "-A INPUT -m pkttype --pkt-type multicast -j DROP",
            "-A INPUT -s 198.18.1.20/32 -j DROP",
            "-A ufw-user-input -p udp -m multiport --dports 5000:60000 -j DROP",
            "-A INPUT -j DROP",
        ],
        "{s:#?}"
    );
    assert_eq!(
        s.drops[0].fix,
        "iptables -t filter -D INPUT -p udp -m udp --dport 54321 -j DROP"
    );
    assert_eq!(s.drops[4].why, "the peer 198.18.1.20");
    assert_eq!(s.drops[6].why, "everything");
    assert_eq!(s.rules, 13);
}

#[test]
fn iptables_input_policy_drop() {
    let ufw = "*filter\n:INPUT DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 22 -j ACCEPT\n-A INPUT -d 224.0.0.251/32 -p udp -m udp --dport 5353 -j ACCEPT\nCOMMIT\n";
    let s = scan_iptables(ufw, &traffic(), false);
    assert_eq!(s.drops.len(), 1, "{s:#?}");
    assert_eq!(s.drops[0].rule, ":INPUT DROP (policy)");
    assert!(s.drops[0]
        .fix
        .starts_with("iptables -t filter -A INPUT -p udp --dport 54321 -j ACCEPT"));
    let open = ufw
        .replace("--dport 5353", "--dport 54321")
        .replace(" -d 224.0.0.251/32", "");
    assert!(scan_iptables(&open, &traffic(), false).drops.is_empty());
}

#[test]
fn ip6tables_mld() {
    let text = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 143 -j DROP\n-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j DROP\n-A INPUT -d ff00::/8 -j DROP\nCOMMIT\n";
    let s = scan_iptables(text, &traffic6(), true);
    let whys = whys(&s);
    assert_eq!(whys, ["MLD", "ff05::4a14:1e (ff00::/8)"], "{s:#?}");
    assert!(s.drops[0].fix.starts_with("ip6tables -t filter -D INPUT"));
}

#[test]
fn values() {
    assert_eq!(port_in("54321", 54321), Some(true));
    assert_eq!(port_in("5000-60000", 54321), Some(true));
    assert_eq!(port_in("5000:6000", 54321), Some(false));
    assert_eq!(port_in("http", 54321), None);
    let g: IpAddr = "239.74.20.30".parse().unwrap();
    assert_eq!(addr_in("224.0.0.0/4", g), Some(true));
    assert_eq!(addr_in("239.74.20.30", g), Some(true));
    assert_eq!(addr_in("232.0.0.0/8", g), Some(false));
    assert_eq!(addr_in("ff00::/8", g), None);
    assert_eq!(addr_in("239.0.0.0-239.255.255.255", g), Some(true));
    assert!(iface_matches("wlan*", "wlan0") && iface_matches("wlan+", "wlan0"));
    assert!(!iface_matches("eth0", "wlan0"));
}
