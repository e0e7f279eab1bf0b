//! Which mid-connection packets a director adopts (decisions 39 and 45):
//! a TCP packet without an entry that `conn_for` may schedule and give an
//! ESTABLISHED entry, and the dests such a connection may go to.

#![forbid(unsafe_code)]

use rvs_api::Forward;

use crate::service::Service;
use crate::wire::tcp;

/// Whether `service` adopts a TCP packet with `tcp_flags` (not a SYN) that
/// has no entry: the packet is an ACK without RST (a RST or a flagless
/// segment makes no entry) and either the service is sloppy (`sloppy`:
/// its `--sloppy-tcp` or the global `sloppy_tcp`, decision 45) or its
/// scheduler picks the same dest on every director with the same dests
/// (`mh`) and it has no persistence (templates are not shared between
/// directors; decision 39). Whether the picked dest's method allows it is
/// [`adopts_onto`]'s question, after the pick.
#[inline]
pub(super) fn adopts_mid_flow(service: &Service, tcp_flags: u8, sloppy: bool) -> bool {
    tcp_flags & tcp::flags::ACK != 0
        && tcp_flags & tcp::flags::RST == 0
        && (sloppy || (service.persistence.is_none() && service.scheduler.same_pick_everywhere()))
}

/// Whether an adopted connection may go to a dest of method `forward`: DR
/// and TUN always; NAT only when the operator asked (`sloppy`), since its
/// replies must come back through this director; FullNAT never, since the
/// real server knows the connection by another director's local address
/// and port (and sequence offset): an adopted packet could only be reset.
#[inline]
pub(super) fn adopts_onto(forward: Forward, sloppy: bool) -> bool {
    match forward {
        Forward::Route | Forward::Tunnel => true,
        Forward::Masq => sloppy,
        Forward::FullNat => false,
    }
}
