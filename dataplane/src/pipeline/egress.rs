//! Stage 4, egress: a client's packet rewritten by its connection's method
//! (DR, NAT, TUN with IP-in-IP or GUE, FullNAT with TOA or PROXY v2) and
//! addressed to the real server's MAC.
//!
//! Contract: a packet that cannot be sent as the method requires (no MAC
//! for the next hop, too big for a tunnel) is a counted drop or an ICMP
//! error back to the client, never sent half-rewritten.

use rvs_api::{Forward, TunnelKind};

use super::family::IcmpError;
use super::family::{Ip, Wire, GUE_HEADER_LEN, MTU_MIN};
use super::{Core, Flow, Frame, Target, Verdict};
use crate::conn::{ConnKey, Family};
use crate::nat::End;
use crate::proxy;
use crate::service::{Dest, Snapshot};
use crate::stats::{bump, Counter};
use crate::wire::ethernet::EthernetFrame;
use crate::wire::tcp;
use crate::wire::udp;

impl Core {
    /// Forward by the dest's method. DR: new MACs, nothing else changes;
    /// NAT: the destination becomes the real server's address and port.
    #[inline]
    pub(super) fn forward<F: Frame, A: Ip>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        t: Target<A>,
        service_slot: u32,
        flow: &Flow<A>,
    ) -> Verdict {
        self.forward_target(snap, frame, l3, &t, service_slot, flow)
    }

    /// `forward` of a borrowed target (a `Target` is over 100 bytes: the
    /// client's main path passes it by reference rather than copy it).
    pub(super) fn forward_target<F: Frame, A: Ip>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        t: &Target<A>,
        service_slot: u32,
        flow: &Flow<A>,
    ) -> Verdict {
        let dest = &t.dest;
        let Some(dest_mac) = self.neigh.get(dest.neigh_slot) else {
            return self.count(Counter::DropNeighUnresolved);
        };
        let Some(out) = snap.ports.get(usize::from(dest.port_id)) else {
            return self.count(Counter::DropNeighUnresolved);
        };
        let daddr = A::from_ip(dest.addr).unwrap_or_default();
        let mut split_inner = false;
        let counter = match t.forward {
            Forward::Route => Counter::ForwardDr,
            Forward::Masq => {
                A::rewrite(&mut frame.bytes_mut()[l3..], End::Dst, daddr, t.dport);
                Counter::ForwardNat
            }
            Forward::Tunnel => {
                let reply_port = Some(flow.in_port);
                match self.encapsulate::<F, A>(snap, frame, l3, dest, &flow.key, reply_port) {
                    Ok(split) => split_inner = split,
                    Err(v) => return v,
                }
                Counter::ForwardTunnel
            }
            Forward::FullNat if A::from_ip(dest.addr).is_none() => {
                if let Err(v) = self.forward_xfam::<F, A>(snap, frame, l3, t, flow, out) {
                    return v;
                }
                Counter::ForwardFullNat
            }
            Forward::FullNat => {
                if t.toa {
                    self.insert_toa::<F, A>(frame, l3, &flow.key, flow.tcp_flags, out.mtu);
                }
                if t.pp2 && !self.proxy_client_segment(frame, l3, &flow.key, t.isn, out.mtu) {
                    return Verdict::Drop(Counter::ProxyNoRoom);
                }
                let b = &mut frame.bytes_mut()[l3..];
                A::rewrite(b, End::Src, t.laddr, t.lport);
                A::rewrite(b, End::Dst, daddr, t.dport);
                Counter::ForwardFullNat
            }
        };
        let mut eth = EthernetFrame::new_unchecked(frame.bytes_mut());
        eth.set_dst(dest_mac);
        eth.set_src(out.mac);
        if split_inner {
            let overhead = A::IP_HEADER_LEN
                + if dest.tunnel.kind == TunnelKind::Gue {
                    udp::HEADER_LEN + GUE_HEADER_LEN
                } else {
                    0
                };
            if let Err(v) =
                self.split_inner4(frame, l3, overhead, usize::from(out.mtu), dest.port_id)
            {
                return v;
            }
        }
        for slot in [service_slot, dest.slot] {
            if let Some(s) = self.stats.slots.get(slot as usize) {
                bump(&s.in_pkts, 1);
                bump(&s.in_bytes, u64::from(flow.l3_len));
            }
        }
        self.stats.count(counter);
        Verdict::Forward(dest.port_id)
    }

    /// FullNAT: give the real server the client's address and port in a TOA
    /// option, when the TCP header has room for it and the packet stays
    /// within the MTU; on the SYN the MSS is lowered by the option's size
    /// too. A packet without room goes on without it (counted).
    /// Either family: IPv4's option or DPVS's IPv6 one (the client's port
    /// and 16-byte address), `Wire::TOA_LEN` bytes.
    pub(super) fn insert_toa<F: Frame, A: Wire>(
        &mut self,
        frame: &mut F,
        l3: usize,
        key: &ConnKey<A>,
        tcp_flags: u8,
        mtu: u16,
    ) {
        let ip = &frame.bytes()[l3..];
        let total = A::ip_len(ip);
        if !A::toa_fits(ip) || total + A::TOA_LEN > usize::from(mtu) {
            self.stats.count(Counter::ToaNoRoom);
            return;
        }
        if !frame.set_len(l3 + total + A::TOA_LEN) {
            self.stats.count(Counter::ToaNoRoom);
            return;
        }
        let syn = tcp_flags & tcp::flags::SYN != 0;
        A::write_toa(&mut frame.bytes_mut()[l3..], key.caddr, key.cport, syn);
        self.stats.count(Counter::ToaInserted);
    }

    /// FullNAT with PROXY protocol v2, a client segment (`proxy.rs`): the
    /// first data segment gets the header in front of its payload, later
    /// ones are moved along the stream by its length. False (counted) when
    /// the first one has no room for the header: it must not go without
    /// (the later ones would leave a gap), so it is dropped and the client
    /// sends it again.
    pub(super) fn proxy_client_segment<F: Frame, A: Family>(
        &mut self,
        frame: &mut F,
        l3: usize,
        key: &ConnKey<A>,
        isn: u32,
        mtu: u16,
    ) -> bool {
        let n = proxy::header_len(A::IPV6);
        let ip = &frame.bytes()[l3..];
        let seq = proxy::seq(ip);
        let first = isn.wrapping_add(1);
        if seq == first && proxy::payload_len(ip) > 0 {
            let total = proxy::packet_len(ip);
            if total + n > usize::from(mtu) || !frame.set_len(l3 + total + n) {
                self.stats.count(Counter::ProxyNoRoom);
                return false;
            }
            let mut header = [0u8; proxy::HEADER_LEN_MAX];
            let len = proxy::write_header(
                &mut header,
                (key.caddr.to_ip(), key.cport),
                (key.vaddr.to_ip(), key.vport),
            );
            proxy::insert_header(&mut frame.bytes_mut()[l3..], &header[..len]);
            self.stats.count(Counter::ProxyHeaderInserted);
        } else if proxy::seq_after(seq, first) {
            proxy::add_seq(&mut frame.bytes_mut()[l3..], n as u32);
        }
        true
    }

    /// FullNAT with PROXY protocol v2, a real server's segment: its
    /// acknowledgements come back by the header's length, and its SYN-ACK's
    /// MSS is lowered by it.
    pub(super) fn proxy_server_segment<A: Family>(b: &mut [u8], tcp_flags: u8, isn: u32) {
        let n = proxy::header_len(A::IPV6);
        proxy::sub_ack(b, isn.wrapping_add(1), n as u32);
        if tcp_flags & tcp::flags::SYN != 0 {
            proxy::lower_mss(b, n as u16);
        }
    }

    /// TUN: put an outer header of the packet's family in front of the
    /// client's packet (which stays as it is), from the director's address
    /// on the dest's segment to the real server: IP-in-IP (IPv6-in-IPv6),
    /// or UDP to the dest's port plus a GUE header (`Wire::emit_tunnel`).
    /// The outer header copies the inner TOS and TTL (traffic class and hop
    /// limit), and IPv4's DF. A packet the encapsulation makes too big for
    /// the port's MTU is dropped; the client gets "fragmentation needed"
    /// (IPv4, with DF) or "packet too big" (IPv6) with the MTU left for it
    /// (`spec/conn.md` §11, `Wire::tells_too_big`). A client's IPv4 packet
    /// without DF (a fragment, typically) is encapsulated all the same and
    /// `Ok(true)` says it must be fragmented further to fit
    /// (`Core::split_inner4`), as a router on the path would.
    pub(super) fn encapsulate<F: Frame, A: Ip>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        dest: &Dest,
        key: &ConnKey<A>,
        reply_port: Option<u16>,
    ) -> Result<bool, Verdict> {
        let Some(out) = snap.ports.get(usize::from(dest.port_id)).copied() else {
            return Err(self.count(Counter::DropNeighUnresolved));
        };
        // No address of the family on the segment to send tunnels from.
        let Some(src) = A::tunnel_src(&out) else {
            return Err(self.count(Counter::DropNeighUnresolved));
        };
        let gue = dest.tunnel.kind == TunnelKind::Gue;
        let overhead = A::IP_HEADER_LEN
            + if gue {
                udp::HEADER_LEN + GUE_HEADER_LEN
            } else {
                0
            };
        let inner = A::tunnel_inner(&frame.bytes()[l3..]);
        let mtu = usize::from(out.mtu);
        let split = inner.len + overhead > mtu
            && !A::IPV6
            && !inner.df
            && reply_port.is_some()
            && mtu >= usize::from(MTU_MIN);
        if inner.len + overhead > mtu && !split {
            let room = mtu.saturating_sub(overhead);
            self.stats.count(Counter::DropTunnelTooBig);
            if let Some(p) = reply_port.filter(|_| A::tells_too_big(&inner, room)) {
                let mac = snap.ports[usize::from(p)].mac;
                let err = IcmpError::TooBig(room);
                let otherwise = Counter::DropTunnelTooBig;
                return Err(self.reply_icmp_error::<A, F>(frame, l3, mac, err, otherwise));
            }
            return Err(Verdict::Drop(Counter::DropTunnelTooBig));
        }
        // Drop any Ethernet padding, then make room in front.
        if !frame.set_len(l3 + inner.len) || !frame.prepend(overhead) {
            return Err(self.count(Counter::DropNoMbuf));
        }
        let b = frame.bytes_mut();
        // The Ethernet header moves back to the front; the outer headers go
        // between it and the client's packet.
        b.copy_within(overhead..overhead + l3, 0);
        A::emit_tunnel(self, &mut b[l3..], src, dest, &inner, gue, key);
        Ok(split)
    }
}
