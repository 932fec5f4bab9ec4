//! Group memberships: the socket calls that join a group on an interface
//! (by index, else by address; source-specific where the system can, else
//! any-source with mcast filtering), and the sockets that hold them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use log::{debug, info};
use mcast_platform::Interface;
use socket2::{InterfaceIndexOrAddress, Socket};

use crate::error::{Error, Operation};
use crate::group::Group;
use crate::sockopt as raw;

/// The socket call that made a membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinMechanism {
    /// `IP_ADD_MEMBERSHIP` with an `ip_mreqn` naming the interface by index.
    Mreqn,
    /// `IP_ADD_MEMBERSHIP` with an `ip_mreq` naming the interface by its
    /// address: the fallback where `ip_mreqn` is missing or mis-copied.
    Mreq,
    /// `IPV6_JOIN_GROUP` with the interface index.
    Ipv6Mreq,
    /// `MCAST_JOIN_SOURCE_GROUP` (source-specific, interface by index).
    SourceGroup,
    /// `IP_ADD_SOURCE_MEMBERSHIP` (source-specific, interface by address).
    MreqSource,
}

impl JoinMechanism {
    /// A short name for messages and JSON: `ip_mreqn`, `ip_mreq`, …
    pub fn as_str(self) -> &'static str {
        match self {
            JoinMechanism::Mreqn => "ip_mreqn",
            JoinMechanism::Mreq => "ip_mreq",
            JoinMechanism::Ipv6Mreq => "ipv6_mreq",
            JoinMechanism::SourceGroup => "group_source_req",
            JoinMechanism::MreqSource => "ip_mreq_source",
        }
    }
}

impl fmt::Display for JoinMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Membership {
    pub(super) group: IpAddr,
    pub(super) source: Option<IpAddr>,
    /// The interface address used by the address-based mechanisms.
    pub(super) iface_v4: Ipv4Addr,
    pub(super) how: JoinMechanism,
    /// The kernel joined any-source; mcast drops datagrams from other sources.
    pub(super) user_filter: bool,
}

/// One socket of a receiver and the memberships it holds.
#[derive(Debug)]
pub(super) struct Member {
    pub(super) socket: Socket,
    pub(super) memberships: Vec<Membership>,
    /// Bound to the port and read (else it only holds memberships).
    pub(super) reads: bool,
    /// The socket's cumulative drop counter (`SO_RXQ_OVFL`).
    pub(super) kernel_drops: u64,
}

impl Member {
    pub(super) fn new(socket: Socket, reads: bool) -> Member {
        Member {
            socket,
            memberships: Vec::new(),
            reads,
            kernel_drops: 0,
        }
    }
}

/// Joins `group` on `iface` with `socket`. `mreqn` says whether `ip_mreqn`
/// joins may be trusted here (see [`raw::mreqn_reaches`]); if not, IPv4
/// any-source joins go straight to `ip_mreq`.
pub(super) fn join(
    socket: &Socket,
    group: &Group,
    source: Option<IpAddr>,
    iface: &Interface,
    mreqn: bool,
) -> Result<Membership, Error> {
    let idx = iface.index().get();
    let iface_v4 = iface.ipv4().unwrap_or(Ipv4Addr::UNSPECIFIED);
    let what = |e| {
        let op = Operation::Join {
            group: group.addr(),
            source,
        };
        Error::io_on(op, iface, e)
    };
    // Where the kernel cannot filter by source: join any-source, and the
    // receiver drops the other sources.
    let any_source =
        || join(socket, group, None, iface, mreqn).map(|m| filtered_by_mcast(m, source));
    let how = match (group.addr(), source) {
        (IpAddr::V4(g), None) if !mreqn => {
            socket
                .join_multicast_v4(&g, &iface_v4)
                .map_err(|e| what(e).tried(format!("ip_mreq with {iface_v4}")))?;
            JoinMechanism::Mreq
        }
        (IpAddr::V4(g), None) => {
            match socket.join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(idx)) {
                Ok(()) => JoinMechanism::Mreqn,
                Err(e) if raw::is_unsupported_mreqn(&e) => {
                    debug!("ip_mreqn join failed ({e}); joining with ip_mreq and {iface_v4}");
                    socket.join_multicast_v4(&g, &iface_v4).map_err(|e2| {
                        what(e2).tried(format!("ip_mreqn: {e}; ip_mreq with {iface_v4}"))
                    })?;
                    JoinMechanism::Mreq
                }
                Err(e) => return Err(what(e)),
            }
        }
        (IpAddr::V4(g), Some(IpAddr::V4(s))) => {
            match raw::source_group(socket, true, idx, group.addr(), IpAddr::V4(s)) {
                Ok(()) => JoinMechanism::SourceGroup,
                Err(e) if raw::is_unsupported_mreqn(&e) => {
                    debug!("MCAST_JOIN_SOURCE_GROUP failed ({e}); using IP_ADD_SOURCE_MEMBERSHIP with {iface_v4}");
                    match socket.join_ssm_v4(&s, &g, &iface_v4) {
                        Ok(()) => JoinMechanism::MreqSource,
                        Err(e2) if raw::is_unsupported(&e2) => {
                            debug!("IP_ADD_SOURCE_MEMBERSHIP unsupported ({e2}); joining any-source and filtering {s} in mcast");
                            return any_source();
                        }
                        Err(e2) => {
                            return Err(what(e2).tried(format!(
                                "MCAST_JOIN_SOURCE_GROUP: {e}; IP_ADD_SOURCE_MEMBERSHIP"
                            )))
                        }
                    }
                }
                Err(e) => return Err(what(e)),
            }
        }
        (IpAddr::V6(g), None) => {
            socket.join_multicast_v6(&g, idx).map_err(what)?;
            JoinMechanism::Ipv6Mreq
        }
        (IpAddr::V6(_), Some(s @ IpAddr::V6(_))) => {
            match raw::source_group(socket, true, idx, group.addr(), s) {
                Ok(()) => JoinMechanism::SourceGroup,
                Err(e) if raw::is_unsupported(&e) => {
                    // Linux has no other IPv6 source-specific option.
                    debug!("MCAST_JOIN_SOURCE_GROUP unsupported ({e}); joining any-source and filtering {s} in mcast");
                    return any_source();
                }
                Err(e) => return Err(what(e)),
            }
        }
        (_, Some(_)) => unreachable!("families checked by build()"),
    };
    info!("joined {} on {iface} with {how}", group.addr());
    Ok(Membership {
        group: group.addr(),
        source,
        iface_v4,
        how,
        user_filter: false,
    })
}

/// The any-source membership `asm` standing in for a source-specific one
/// from `source` the system cannot make: the receiver drops other sources
/// itself.
fn filtered_by_mcast(asm: Membership, source: Option<IpAddr>) -> Membership {
    Membership {
        user_filter: true,
        source,
        ..asm
    }
}
