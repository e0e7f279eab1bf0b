//! Which VIPs are announced.
//!
//! Contract:
//! - the VIPs are the addresses of the services' keys (a
//!   `virtual_server_group`'s members included); firewall-mark services
//!   have no address and announce nothing (announce their VIPs through an
//!   address service, or the operator's own BIRD configuration);
//! - a VIP is announced when the director is not drained, the dataplane
//!   answers, and **every** service on that address has its quorum: ECMP
//!   sends every port of the VIP to this director, so one port it cannot
//!   serve is a reason to let the other directors take the whole address;
//! - its communities are the block's, then each of its services'
//!   `bgp_community`, in that order, without repeats.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rvs_api::ServiceKey;

use crate::config::bgp::Community;
use crate::config::Model;

/// Why a VIP is or is not announced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Why {
    Announced,
    Drained,
    DataplaneDown,
    /// A service on the address (the first one found) has lost its quorum.
    NoQuorum,
}

/// A VIP and what this director does with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vip {
    pub addr: IpAddr,
    pub why: Why,
    pub communities: Vec<Community>,
    /// The hash of its `mh` services' dests ([`super::dest_set`]), carried
    /// as a large community; `None` without an `mh` service (and from
    /// [`decide`], which does not see the dests' health: the caller sets it).
    pub dest_set: Option<u32>,
}

impl Vip {
    pub fn announce(&self) -> bool {
        self.why == Why::Announced
    }
}

/// The VIPs of `model`, by address, when service `i` has its quorum iff
/// `quorum(i)`.
pub fn decide(
    model: &Model,
    quorum: &dyn Fn(usize) -> bool,
    dataplane_up: bool,
    drained: bool,
) -> Vec<Vip> {
    let block: &[Community] = model.bgp.as_ref().map_or(&[], |b| &b.communities);
    let mut vips: BTreeMap<IpAddr, Vip> = BTreeMap::new();
    for (i, s) in model.services.iter().enumerate() {
        let up = quorum(i);
        for key in &s.keys {
            let ServiceKey::Inet { addr, .. } = key else {
                continue;
            };
            let vip = vips.entry(addr.ip()).or_insert_with(|| Vip {
                addr: addr.ip(),
                why: if drained {
                    Why::Drained
                } else if !dataplane_up {
                    Why::DataplaneDown
                } else {
                    Why::Announced
                },
                communities: block.to_vec(),
                dest_set: None,
            });
            if !up && vip.why == Why::Announced {
                vip.why = Why::NoQuorum;
            }
            for c in &s.bgp_communities {
                if !vip.communities.contains(c) {
                    vip.communities.push(*c);
                }
            }
        }
    }
    vips.into_values().collect()
}
