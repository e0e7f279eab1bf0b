//! Stage 1 and 2, ingress and classification: a frame's port and Ethernet
//! header, ARP, and an IPv4 packet sorted into a reply, ICMP, the kernel's,
//! or a flow to a service on its owner core.
//!
//! Contract: every frame ends in exactly one counted verdict; nothing is
//! read past the bounds the typed views checked.

use std::net::{IpAddr, Ipv4Addr};

use super::conn::flow_owner;
use super::family::Header;
use super::{Core, Flow, Frame, Verdict, WorkerEvent};
use crate::conn::ConnKey;
use crate::service::Snapshot;
use crate::stats::Counter;
use crate::wire::arp::{self, ArpPacket};
use crate::wire::ethernet::{ethertype, EthernetFrame, MacAddr};
use crate::wire::ipv4::{protocol, Ipv4Packet};
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
        let Some(port_info) = snap.ports.get(usize::from(port)).copied() else {
            return self.count(Counter::DropNotForUs);
        };
        let eth = match EthernetFrame::new_checked(frame.bytes()) {
            Ok(e) => e,
            Err(m) => return self.count(m.into()),
        };
        let dst = eth.dst();
        let src = eth.src();
        if src == port_info.mac {
            return self.count(Counter::DropLoopedBack);
        }
        if dst != port_info.mac && !dst.is_multicast() {
            return self.count(Counter::DropNotForUs);
        }
        let l3 = eth.payload_offset();
        match eth.inner_ethertype() {
            ethertype::ARP => self.handle_arp(snap, port, port_info.mac, frame, l3),
            ethertype::IPV4 if dst == port_info.mac => {
                self.handle_ipv4(snap, port, src, frame, l3, now_ms, handed_off)
            }
            // Neighbour Solicitations come to multicast addresses.
            ethertype::IPV6 => self.handle_ipv6(snap, port, src, frame, l3, now_ms, handed_off),
            _ => self.exception(),
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
        // Only about our next hops: an ARP flood from elsewhere must not
        // crowd the event ring.
        if snap.is_neighbour(IpAddr::V4(sender_ip)) && !sender_mac.is_multicast() {
            let ev = WorkerEvent::NeighLearned {
                port,
                addr: IpAddr::V4(sender_ip),
                mac: sender_mac,
            };
            if !self.outbox.event(ev) {
                self.stats.count(Counter::NeighEventLost);
            }
        }
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

    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_ipv4<F: Frame>(
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
        let ip = match Ipv4Packet::new_checked(&frame.bytes()[l3..]) {
            Ok(p) => p,
            Err(m) => return self.count(m.into()),
        };
        let vaddr = ip.dst();
        // A real server's reply to a FullNAT connection (to a local
        // address) or to a NAT one (from a NAT dest), or the kernel's.
        let h = Header {
            src: u32::from(ip.src()),
            dst: u32::from(vaddr),
            proto: ip.protocol(),
            hl: ip.header_len(),
            len: usize::from(ip.total_len()),
        };
        if snap.is_laddr(IpAddr::V4(vaddr)) {
            return self.handle_reply::<u32, F>(snap, frame, l3, h, now_ms, handed_off, true);
        }
        if !snap.is_vip(IpAddr::V4(vaddr)) {
            if snap.is_nat_dest(IpAddr::V4(ip.src())) {
                return self.handle_reply::<u32, F>(snap, frame, l3, h, now_ms, handed_off, false);
            }
            return self.exception();
        }
        if !ip.verify_checksum() {
            return self.count(Counter::DropIpv4BadChecksum);
        }
        let proto = ip.protocol();
        if ip.is_fragment() {
            return self.count(Counter::DropIpv4Fragment);
        }
        let l4 = l3 + ip.header_len();
        let l3_len = ip.total_len();
        let l4_end = l3 + usize::from(l3_len);
        let caddr = u32::from(ip.src());
        let (cport, vport, tcp_flags, seq) = match proto {
            protocol::TCP => match TcpPacket::new_checked(&frame.bytes()[l4..l4_end]) {
                Ok(t) => (t.src_port(), t.dst_port(), t.flags(), t.seq()),
                Err(m) => return self.count(m.into()),
            },
            protocol::UDP => match UdpPacket::new_checked(&frame.bytes()[l4..l4_end]) {
                Ok(u) => (u.src_port(), u.dst_port(), 0, 0),
                Err(m) => return self.count(m.into()),
            },
            protocol::ICMP => return self.handle_icmp(snap, mac, frame, l3, now_ms, handed_off),
            _ => return self.not_a_service(snap, vaddr),
        };
        let Some(service) = snap.lookup(proto, IpAddr::V4(ip.src()), IpAddr::V4(vaddr), vport)
        else {
            return self.not_a_service(snap, vaddr);
        };
        let flow = Flow {
            key: ConnKey {
                caddr,
                vaddr: u32::from(vaddr),
                cport,
                vport,
                protocol: proto,
                template: false,
            },
            tcp_flags,
            seq,
            l3_len,
            in_port: port,
            peer_mac,
        };
        if !handed_off {
            let owner = flow_owner(&self.owner_hasher, service, caddr, cport, self.workers);
            if owner != self.id {
                self.stats.count(Counter::HandedOff);
                return Verdict::Handoff(owner);
            }
        }
        match self.conn_for(snap, service, &flow, now_ms) {
            Ok(t) => self.forward(snap, frame, l3, t, service.slot, &flow),
            Err(Counter::DropNoDest) => {
                self.stats.count(Counter::DropNoDest);
                self.reply_port_unreachable(frame, l3, mac)
            }
            Err(c) => self.count(c),
        }
    }

    /// A packet to `vaddr` that no service takes: a counted drop for a VIP
    /// of ours; the kernel's for an address a classifier prefix merely
    /// covers (the director's own address may be one).
    pub(super) fn not_a_service(&self, snap: &Snapshot, vaddr: Ipv4Addr) -> Verdict {
        if snap.answers_arp_for(IpAddr::V4(vaddr)) {
            self.count(Counter::DropVipNoService)
        } else {
            self.exception()
        }
    }
}
