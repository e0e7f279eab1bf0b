//! What IPv6 does its own way: Neighbour Discovery for VIPs and local
//! addresses, and ICMPv6 (echo, errors about connections, the errors this
//! director sends). The rest is the one path of both families
//! (`handle_ip::<u128>`, `conn_for`, `forward`, `encapsulate`,
//! `handle_reply`) over the family traits (`family.rs`).
//!
//! Extension headers are walked to the transport by `Ip::header`
//! (`wire::ipv6ext`); ICMPv6 behind them, or fragmented, is the kernel's,
//! so the messages here start right after the fixed header. ICMPv6 is
//! taken before the address checks (`Ip::ICMP_FIRST`): Neighbour
//! Solicitations come to solicited-node multicast addresses.

use std::net::IpAddr;

use super::family::{header6, quoted_tuple6};
use super::{Core, Frame, Verdict, WorkerEvent};
use crate::service::Snapshot;
use crate::stats::Counter;
use crate::wire::checksum;
use crate::wire::ethernet::{EthernetFrame, MacAddr};
use crate::wire::icmpv6::{self, Icmpv6Packet};
use crate::wire::ipv4::protocol;
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::ndp::{self, NdpPacket};

/// How much of an offending packet an ICMPv6 error this director sends
/// quotes (the whole packet would do up to 1232 bytes; the headers are what
/// a client needs).
const QUOTE6_MAX: usize = 128;

impl Core {
    /// ICMPv6 to the dataplane: Neighbour Solicitations for a VIP or a local
    /// address are answered, Neighbour Advertisements of next hops learned,
    /// echo to a VIP answered, errors about a connection forwarded along it
    /// (`spec/conn.md` §10); the rest is the kernel's.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_icmp6<F: Frame>(
        &mut self,
        snap: &Snapshot,
        port: u16,
        peer_mac: MacAddr,
        frame: &mut F,
        l3: usize,
        now_ms: u64,
        handed_off: bool,
    ) -> Verdict {
        let mac = snap.ports[usize::from(port)].mac;
        let ip = Ipv6Packet::new_unchecked(&frame.bytes()[l3..]);
        let (src, dst) = (ip.src(), ip.dst());
        let hops = ip.hop_limit();
        let payload_len = usize::from(ip.payload_len());
        let l4 = l3 + ipv6::HEADER_LEN;
        let l4_end = l4 + payload_len;
        let kind = match Icmpv6Packet::new_checked(&frame.bytes()[l4..l4_end]) {
            Ok(i) => i.kind(),
            Err(m) => return self.count(m.into()),
        };
        match kind {
            icmpv6::kind::NEIGHBOR_SOLICIT | icmpv6::kind::NEIGHBOR_ADVERT => {
                let nd = match NdpPacket::new_checked(&frame.bytes()[l4..l4_end]) {
                    Ok(n) => n,
                    Err(m) => return self.count(m.into()),
                };
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
                    if snap.is_neighbour(IpAddr::V6(addr)) && !m.is_multicast() {
                        let ev = WorkerEvent::NeighLearned {
                            port,
                            addr: IpAddr::V6(addr),
                            mac: m,
                        };
                        if !self.outbox.event(ev) {
                            self.stats.count(Counter::NeighEventLost);
                        }
                    }
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
            icmpv6::kind::ECHO_REQUEST => {
                if !snap.answers_arp_for(IpAddr::V6(dst)) {
                    return self.exception();
                }
                let b = frame.bytes_mut();
                let mut eth = EthernetFrame::new_unchecked(&mut *b);
                eth.set_dst(peer_mac);
                eth.set_src(mac);
                let mut ip = Ipv6Packet::new_unchecked(&mut b[l3..]);
                ip.set_src(dst);
                ip.set_dst(src);
                ip.set_hop_limit(64);
                // Swapped addresses leave the pseudo-header's sum as it was:
                // only the type changes.
                let mut icmp = Icmpv6Packet::new_unchecked(&mut b[l4..l4_end]);
                let code = icmp.code();
                let old = u16::from_be_bytes([icmpv6::kind::ECHO_REQUEST, code]);
                let new = u16::from_be_bytes([icmpv6::kind::ECHO_REPLY, code]);
                icmp.set_kind(icmpv6::kind::ECHO_REPLY);
                let c = checksum::update_u16(icmp.checksum(), old, new);
                icmp.set_checksum(c);
                self.stats.count(Counter::IcmpEchoReplied);
                Verdict::Reply
            }
            k if k < 128 => self.handle_icmp6_error(snap, frame, l3, now_ms, handed_off),
            _ => self.exception(),
        }
    }

    /// An ICMPv6 error from a client: about a packet of ours (VIP -> client)
    /// it is forwarded to the connection's real server (translated for NAT
    /// and FullNAT); from a real server to a client or a local address, it
    /// is a reply. Anything else is the kernel's.
    fn handle_icmp6_error<F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        now_ms: u64,
        handed_off: bool,
    ) -> Verdict {
        let ip = Ipv6Packet::new_unchecked(&frame.bytes()[l3..]);
        let (src, dst) = (IpAddr::V6(ip.src()), IpAddr::V6(ip.dst()));
        let l4 = l3 + ipv6::HEADER_LEN;
        let l4_end = l4 + usize::from(ip.payload_len());
        let h = header6(&ip);
        if snap.is_laddr(dst) {
            return self.handle_reply::<u128, F>(snap, frame, l3, h, now_ms, handed_off, true);
        }
        if !snap.is_vip(dst) {
            if snap.is_nat_dest(src) {
                return self.handle_reply::<u128, F>(snap, frame, l3, h, now_ms, handed_off, false);
            }
            return self.exception();
        }
        let q = match quoted_tuple6(&frame.bytes()[l4..l4_end]) {
            Ok(q) => q,
            Err(c) => return self.count(c),
        };
        let (key, c, ext, dest, macs) = match self.error_conn::<u128>(snap, &q, handed_off, now_ms)
        {
            Ok(found) => found,
            Err(v) => return v,
        };
        let quote_at = ipv6::HEADER_LEN + icmpv6::HEADER_LEN;
        self.forward_error::<u128, F>(snap, frame, l3, quote_at, (&key, &c, &ext), &dest, macs)
    }

    /// Turn the client's IPv6 packet into an ICMPv6 error of `kind`/`code`
    /// back to it, from the address it was sent to, quoting its first bytes;
    /// `rest` is the header's last 4 bytes (the MTU of "packet too big").
    /// Built in place.
    pub(super) fn reply_icmp6_error<F: Frame>(
        &mut self,
        frame: &mut F,
        l3: usize,
        mac: MacAddr,
        kind: u8,
        code: u8,
        rest: [u8; 4],
    ) -> Verdict {
        let b = frame.bytes();
        let ip = Ipv6Packet::new_unchecked(&b[l3..]);
        let total = ipv6::HEADER_LEN + usize::from(ip.payload_len());
        let quote_len = total.min(QUOTE6_MAX);
        let (client, vip) = (ip.src(), ip.dst());
        let mut quote = [0u8; QUOTE6_MAX];
        quote[..quote_len].copy_from_slice(&b[l3..l3 + quote_len]);
        let icmp_len = icmpv6::HEADER_LEN + quote_len;
        let new_len = l3 + ipv6::HEADER_LEN + icmp_len;
        if !frame.set_len(new_len) {
            return self.count(Counter::DropNoMbuf);
        }
        let b = frame.bytes_mut();
        let mut eth = EthernetFrame::new_unchecked(&mut *b);
        let peer = eth.src();
        eth.set_dst(peer);
        eth.set_src(mac);
        let mut o = Ipv6Packet::new_unchecked(&mut b[l3..l3 + ipv6::HEADER_LEN]);
        o.set_version_class_flow(0, 0);
        o.set_payload_len(icmp_len as u16);
        o.set_next_header(protocol::ICMPV6);
        o.set_hop_limit(64);
        o.set_src(vip);
        o.set_dst(client);
        let at = l3 + ipv6::HEADER_LEN;
        let m = &mut b[at..new_len];
        m[0] = kind;
        m[1] = code;
        m[2] = 0;
        m[3] = 0;
        m[4..8].copy_from_slice(&rest);
        m[8..].copy_from_slice(&quote[..quote_len]);
        let c = icmpv6::checksum6(vip, client, m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        Verdict::Reply
    }
}
