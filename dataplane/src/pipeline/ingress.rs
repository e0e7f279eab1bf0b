//! Stage 1 and 2, ingress and classification: a frame's port and Ethernet
//! header, ARP, and an IP packet of either family (`handle_ip`) sorted into
//! a reply, ICMP, the kernel's, or a flow to a service on its owner core.
//!
//! Contract: every frame ends in exactly one counted verdict; nothing is
//! read past the bounds the typed views checked.

use std::net::IpAddr;

use super::conn::flow_owner;
use super::family::IcmpError;
use super::frag::FragFamily;
use super::{Core, Frame, Rx, Verdict, WorkerEvent};
use crate::conn::sctp;
use crate::service::{PortInfo, Snapshot};
use crate::stats::Counter;
use crate::wire::arp::{self, ArpPacket};
use crate::wire::ethernet::{ethertype, EthernetFrame, MacAddr};
use crate::wire::ipv4::protocol;
use crate::wire::sctp::SctpPacket;
use crate::wire::tcp::TcpPacket;
use crate::wire::udp::UdpPacket;

impl Core {
    pub(super) fn handle_frame<F: Frame>(
        &mut self,
        snap: &Snapshot,
        port: u16,
        frame: &mut F,
        now_ms: u64,
        handed_off: bool,
    ) -> Verdict {
        // The ICMP rate limits' clock (`ratelimit.rs`).
        self.now_ms = now_ms;
        let Some(&PortInfo { mac: port_mac, .. }) = snap.ports.get(usize::from(port)) else {
            return self.count(Counter::DropNotForUs);
        };
        let eth = match EthernetFrame::new_checked(frame.bytes()) {
            Ok(e) => e,
            Err(m) => return self.count(m.into()),
        };
        let dst = eth.dst();
        let src = eth.src();
        if src == port_mac {
            return self.count(Counter::DropLoopedBack);
        }
        if dst != port_mac && !dst.is_multicast() {
            return self.count(Counter::DropNotForUs);
        }
        let (inner, l3) = eth.inner();
        match inner {
            ethertype::ARP => self.handle_arp(snap, port, port_mac, frame, l3),
            ethertype::IPV4 if dst == port_mac => {
                self.handle_ip::<u32, F>(snap, port, src, frame, l3, now_ms, handed_off)
            }
            // Neighbour Solicitations come to multicast addresses.
            ethertype::IPV6 => {
                self.handle_ip::<u128, F>(snap, port, src, frame, l3, now_ms, handed_off)
            }
            _ => self.exception(),
        }
    }

    /// A neighbour's MAC seen (an ARP sender, an NDP solicitation's
    /// source or advertisement's target): an event for the worker, only
    /// about our next hops (an ARP or NDP flood from elsewhere must not
    /// crowd the event ring) and never a multicast MAC; a full ring is
    /// counted.
    pub(super) fn learn_neighbour(
        &mut self,
        snap: &Snapshot,
        port: u16,
        addr: IpAddr,
        mac: MacAddr,
    ) {
        if snap.is_neighbour(addr) && !mac.is_multicast() {
            let ev = WorkerEvent::NeighLearned { port, addr, mac };
            if !self.outbox.event(ev) {
                self.stats.count(Counter::NeighEventLost);
            }
        }
    }

    pub(super) fn handle_arp<F: Frame>(
        &mut self,
        snap: &Snapshot,
        port: u16,
        mac: MacAddr,
        frame: &mut F,
        l3: usize,
    ) -> Verdict {
        let (op, sender_mac, sender_ip, target_ip) =
            match ArpPacket::new_checked(&frame.bytes()[l3..]) {
                Ok(a) => (a.operation(), a.sender_mac(), a.sender_ip(), a.target_ip()),
                Err(m) => return self.count(m.into()),
            };
        self.learn_neighbour(snap, port, IpAddr::V4(sender_ip), sender_mac);
        if op == arp::op::REQUEST && snap.answers_arp_for(IpAddr::V4(target_ip)) {
            let b = frame.bytes_mut();
            let mut eth = EthernetFrame::new_unchecked(&mut *b);
            eth.set_dst(sender_mac);
            eth.set_src(mac);
            let mut a = ArpPacket::new_unchecked(&mut b[l3..]);
            a.set_operation(arp::op::REPLY);
            a.set_target(sender_mac, sender_ip);
            a.set_sender(mac, target_ip);
            self.stats.count(Counter::ArpReplied);
            return Verdict::Reply;
        }
        self.exception()
    }

    /// Stage 2 for an IP packet of either family (the module doc of
    /// `pipeline`): a reply, ICMP, the kernel's, or a flow to a service, on
    /// to its connection and egress.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_ip<A: FragFamily, F: Frame>(
        &mut self,
        snap: &Snapshot,
        port: u16,
        peer_mac: MacAddr,
        frame: &mut F,
        l3: usize,
        now_ms: u64,
        handed_off: bool,
    ) -> Verdict {
        let h = match A::header(&frame.bytes()[l3..]) {
            Ok(h) => h,
            Err(c) => return self.count(c),
        };
        // The packet as the later stages take it, made where one is called
        // (made here once, it cost the fast path its copy of the header).
        let rx = || Rx {
            port,
            peer_mac,
            l3,
            h,
            now_ms,
            handed_off,
        };
        if A::ICMP_FIRST && h.proto == A::ICMP {
            // ICMPv6 behind extension headers (MLD's hop-by-hop) or
            // fragmented is the kernel's.
            if h.ext || h.frag.is_some() {
                return self.exception();
            }
            let before_routing = true;
            if let Some(v) = self.handle_icmp::<A, F>(snap, frame, rx(), before_routing) {
                return v;
            }
        }
        let vaddr = h.dst.to_ip();
        // A fragmented reply, or an IPv6 one with extension headers, is the
        // kernel's (as an IPv4 fragment was before: `frag.rs`).
        if (h.frag.is_some() || h.ext) && (snap.is_laddr(vaddr) || !snap.is_vip(vaddr)) {
            return self.exception();
        }
        // A real server's reply to a FullNAT connection (to a local
        // address) or to a NAT one (from a NAT dest), or the kernel's.
        if snap.is_laddr(vaddr) {
            return self.handle_reply::<A, F>(snap, frame, l3, h, now_ms, handed_off, true);
        }
        if !snap.is_vip(vaddr) {
            if snap.is_nat_dest(h.src.to_ip()) {
                return self.handle_reply::<A, F>(snap, frame, l3, h, now_ms, handed_off, false);
            }
            return self.exception();
        }
        // The packet is only read from here to the transport's ports: one
        // slice of it, not one per view.
        let ip = &frame.bytes()[l3..];
        if let Err(c) = A::check_to_vip(ip) {
            return self.count(c);
        }
        if h.routed {
            return self.count(Counter::DropIpv6RoutingHeader);
        }
        if let Some(fr) = h.frag {
            return self.handle_fragment::<A, F>(snap, frame, rx(), fr);
        }
        let proto = h.proto;
        let l4 = &ip[h.hl..h.len];
        let (cport, vport, tcp_flags, seq) = match proto {
            protocol::TCP => match TcpPacket::new_checked(l4) {
                Ok(t) => (t.src_port(), t.dst_port(), t.flags(), t.seq()),
                Err(m) => return self.count(m.into()),
            },
            protocol::UDP => match UdpPacket::new_checked(l4) {
                Ok(u) => (u.src_port(), u.dst_port(), 0, 0),
                Err(m) => return self.count(m.into()),
            },
            protocol::SCTP => match SctpPacket::new_checked(l4) {
                Ok(s) => {
                    let event = sctp::Event::of(s.first_chunk(), s.second_chunk());
                    (s.src_port(), s.dst_port(), event as u8, 0)
                }
                Err(m) => return self.count(m.into()),
            },
            p if p == A::ICMP => {
                let before_routing = false;
                return self
                    .handle_icmp::<A, F>(snap, frame, rx(), before_routing)
                    .unwrap_or_else(|| self.exception());
            }
            _ => return self.not_a_service(snap, vaddr),
        };
        let flow = rx().flow(cport, vport, tcp_flags, seq);
        // The entry first, as IPVS looks (`spec/conn.md` §1.3): the
        // service that made it is the packet's when the generation cannot
        // say otherwise (`Snapshot::entry_service`), and `lookup` is asked
        // only for the rest.
        let found = A::conns(self).find(&flow.key);
        let by_entry = match found {
            Some(i) => snap.entry_service(A::conns(self).get(i).service_slot, proto, vaddr, vport),
            None => None,
        };
        let service = match by_entry {
            Some(s) => s,
            None => match snap.lookup(proto, h.src.to_ip(), vaddr, vport) {
                Some(s) => s,
                None => return self.not_a_service(snap, vaddr),
            },
        };
        let caddr = h.src;
        if !handed_off {
            let owner = flow_owner(&self.owner_hasher, service, caddr, cport, self.workers);
            if owner != self.id {
                self.stats.count(Counter::HandedOff);
                return Verdict::Handoff(owner);
            }
        }
        // The SYN proxy (`synproxy.rs`); IPv6 with extension headers goes
        // the usual way.
        let synproxy = service.synproxy && proto == protocol::TCP && !h.ext;
        if synproxy {
            if let Some(v) =
                self.synproxy_in::<A, F>(snap, service, frame, l3, h.hl, &flow, found, now_ms)
            {
                return v;
            }
        }
        // `found` still holds: the SYN proxy goes on only where it changed
        // no table.
        match self.conn_for_found::<A>(snap, service, &flow, now_ms, found) {
            Ok(mut t) => {
                if h.ext {
                    if let Err(v) = self.whole_segment_only(&mut t) {
                        return v;
                    }
                }
                if synproxy && t.sp != 0 {
                    let slot = service.slot;
                    if let Some(v) =
                        self.synproxy_client::<A, F>(snap, frame, l3, h.hl, t, slot, &flow)
                    {
                        return v;
                    }
                }
                self.forward_target(snap, frame, l3, &t, service.slot, &flow)
            }
            Err(Counter::DropNoDest) => {
                self.stats.count(Counter::DropNoDest);
                let mac = snap.ports[usize::from(port)].mac;
                let err = IcmpError::PortUnreachable;
                self.reply_icmp_error::<A, F>(frame, l3, mac, err, Counter::DropNoDest)
            }
            Err(c) => self.count(c),
        }
    }

    /// A packet to `vaddr` that no service takes: a counted drop for a VIP
    /// of ours; the kernel's for an address a classifier prefix merely
    /// covers (the director's own address may be one).
    pub(super) fn not_a_service(&self, snap: &Snapshot, vaddr: IpAddr) -> Verdict {
        if snap.answers_arp_for(vaddr) {
            self.count(Counter::DropVipNoService)
        } else {
            self.exception()
        }
    }
}
