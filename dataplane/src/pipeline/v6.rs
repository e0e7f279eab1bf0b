//! What IPv6 does its own way: Neighbour Discovery for VIPs and local
//! addresses (`handle_ndp`, `Ip::handle_neighbour`). The rest is the one
//! path of both families (`handle_ip::<u128>`, `handle_icmp`, `conn_for`,
//! `forward`, `encapsulate`, `handle_reply`) over the family traits
//! (`family.rs`).
//!
//! Extension headers are walked to the transport by `Ip::header`
//! (`wire::ipv6ext`); ICMPv6 behind them, or fragmented, is the kernel's,
//! so the messages here start right after the fixed header. ICMPv6 is
//! taken before the address checks (`Ip::ICMP_FIRST`): Neighbour
//! Solicitations come to solicited-node multicast addresses.

use std::net::IpAddr;

use super::{Core, Frame, Rx, Verdict};
use crate::service::Snapshot;
use crate::stats::Counter;
use crate::wire::icmpv6;
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::ndp::{self, NdpPacket};

impl Core {
    /// A Neighbour Solicitation or Advertisement (header `h`): a next hop's
    /// address learned, a solicitation for a VIP or a local address
    /// answered; the rest is the kernel's.
    pub(super) fn handle_ndp<F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        rx: Rx<u128>,
    ) -> Verdict {
        let Rx {
            port,
            peer_mac,
            l3,
            h,
            ..
        } = rx;
        let mac = snap.ports[usize::from(port)].mac;
        let hops = Ipv6Packet::new_unchecked(&frame.bytes()[l3..]).hop_limit();
        let (src, dst) = (
            std::net::Ipv6Addr::from(h.src),
            std::net::Ipv6Addr::from(h.dst),
        );
        let (l4, l4_end) = (l3 + h.hl, l3 + h.len);
        let nd = match NdpPacket::new_checked(&frame.bytes()[l4..l4_end]) {
            Ok(n) => n,
            Err(m) => return self.count(m.into()),
        };
        let kind = nd.kind();
        // RFC 4861 §7.1: hop limit 255 (so it was not routed here),
        // code 0 and a true checksum.
        if hops != ndp::HOP_LIMIT || nd.code() != 0 || !nd.verify_checksum(src, dst) {
            return self.exception();
        }
        let target = nd.target();
        let ll = if kind == icmpv6::kind::NEIGHBOR_SOLICIT {
            nd.option_mac(ndp::option::SOURCE_LL)
        } else {
            nd.option_mac(ndp::option::TARGET_LL)
        };
        // Learn a next hop: an NA for it, or its NS with its MAC.
        let learned = if kind == icmpv6::kind::NEIGHBOR_ADVERT {
            Some((target, ll.unwrap_or(peer_mac)))
        } else {
            ll.filter(|_| !src.is_unspecified()).map(|m| (src, m))
        };
        if let Some((addr, m)) = learned {
            self.learn_neighbour(snap, port, IpAddr::V6(addr), m);
        }
        // Answered in place for untagged frames (NDP's builder
        // writes a whole untagged frame).
        if kind == icmpv6::kind::NEIGHBOR_SOLICIT
            && snap.answers_arp_for(IpAddr::V6(target))
            && !src.is_unspecified()
            && l3 == 14
        {
            let reply_mac = ll.unwrap_or(peer_mac);
            if !frame.set_len(ndp::FRAME_LEN) {
                return self.count(Counter::DropNoMbuf);
            }
            // The NA is built whole over the NS.
            let len = ndp::emit_neighbor_advert(
                frame.bytes_mut(),
                mac,
                reply_mac,
                target,
                src,
                target,
                true,
            );
            if !frame.set_len(len) {
                return self.count(Counter::DropNoMbuf);
            }
            self.stats.count(Counter::ArpReplied);
            return Verdict::Reply;
        }
        self.exception()
    }
}
