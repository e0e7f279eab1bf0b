//! Stage 6, ICMP, one path for both families: echo to a VIP answered, a
//! client's error about a connection forwarded to its real server, and the
//! errors this director sends itself (port unreachable, fragmentation
//! needed, packet too big), built in place and rate limited as the kernel
//! limits its own (`ratelimit.rs`). What differs by family (the message
//! types, the headers written, IPv6's Neighbour Discovery) is behind
//! `family.rs`'s `Ip`.
//!
//! Contract: no ICMP error is ever sent about an ICMP error; an error about
//! no connection of ours is the kernel's, as in IPVS.
//!
//! One difference between the families remains, on purpose: IPv6's ICMP is
//! looked at before the address checks (`Ip::ICMP_FIRST`), so Neighbour
//! Solicitations to solicited-node multicast addresses (no VIP) are seen,
//! and its echo is answered for every address Neighbour Discovery answers
//! for (a VIP or a FullNAT local address); IPv4's echo to a local address
//! is the kernel's, as its ARP is answered apart. IPv6's errors and other
//! messages then go through the address checks as IPv4's do.

use std::net::IpAddr;

use rvs_api::Forward;

use super::conn::{flow_owner, sees_replies};
use super::family::{IcmpClass, IcmpError, Ip, Tables, Wire, QUOTE_MAX};
use super::ratelimit::Limited;
use super::{Core, Frame, Quoted, Rx, Verdict};
use crate::conn::{flags, Conn, ConnExt, ConnKey};
use crate::nat::End;
use crate::service::{Dest, Snapshot};
use crate::stats::Counter;
use crate::wire::ethernet::{EthernetFrame, MacAddr};

/// A client's ICMP error about a packet of NAT or FullNAT connection `c`
/// put in the real server's view: to the real server (`raddr`), about its
/// packet; for FullNAT from the local address, about its packet to it.
pub(super) fn error_to_server_view<A: Wire>(
    b: &mut [u8],
    c: &Conn<A>,
    ext: &ConnExt<A>,
    raddr: A,
    quote_at: usize,
) {
    if c.forward == Forward::FullNat as u8 {
        A::rewrite_addr(b, End::Src, ext.laddr);
        A::rewrite_quoted(b, quote_at, End::Dst, ext.laddr, ext.lport);
    }
    A::rewrite_addr(b, End::Dst, raddr);
    A::rewrite_quoted(b, quote_at, End::Src, raddr, c.dport);
}

impl Core {
    /// The family's ICMP to the dataplane (header `h`): Neighbour Discovery
    /// (IPv6), echo to an address of ours answered, an error quoting a
    /// connection's packet forwarded along that connection (`spec/conn.md`
    /// §10), anything else the local stack's. `before_routing` (IPv6,
    /// `Ip::ICMP_FIRST`): only Neighbour Discovery and echo are taken, and
    /// `None` sends the rest on through the address checks; after them the
    /// answer is always `Some`.
    pub(super) fn handle_icmp<A: Ip, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        rx: Rx<A>,
        before_routing: bool,
    ) -> Option<Verdict> {
        let Rx { port, l3, h, .. } = rx;
        let (l4, l4_end) = (l3 + h.hl, l3 + h.len);
        let class = match A::icmp_class(&frame.bytes()[l4..l4_end]) {
            Ok(c) => c,
            Err(c) => return Some(self.count(c)),
        };
        match class {
            IcmpClass::Neighbour => Some(A::handle_neighbour(self, snap, frame, rx)),
            IcmpClass::EchoRequest => {
                // A VIP answers pings; an address a classifier prefix covers
                // is not ours to answer for.
                if !snap.answers_arp_for(h.dst.to_ip()) {
                    return Some(self.exception());
                }
                let mac = snap.ports[usize::from(port)].mac;
                Some(self.reply_echo::<A, F>(frame, l3, h.hl, mac))
            }
            _ if before_routing => None,
            IcmpClass::Error => Some(self.error_from_client::<A, F>(snap, frame, rx)),
            // Not ours to handle: the local stack's, as in IPVS.
            IcmpClass::Other => Some(self.exception()),
        }
    }

    /// An ICMP error from a client to a VIP: the packet it quotes went from
    /// the VIP to the client; about a connection of ours it goes on to the
    /// connection's real server.
    fn error_from_client<A: Ip, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        rx: Rx<A>,
    ) -> Verdict {
        let Rx {
            l3,
            h,
            now_ms,
            handed_off,
            ..
        } = rx;
        let q = match A::quoted(&frame.bytes()[l3 + h.hl..l3 + h.len]) {
            Ok(Some(q)) => q,
            Ok(None) => return self.exception(),
            Err(c) => return self.count(c),
        };
        let (key, c, ext, dest, macs) = match self.error_conn::<A>(snap, &q, handed_off, now_ms) {
            Ok(found) => found,
            Err(v) => return v,
        };
        let quote_at = h.hl + A::ICMP_HEADER_LEN;
        self.forward_error::<A, F>(snap, frame, l3, quote_at, (&key, &c, &ext), &dest, macs)
    }

    /// A client's ICMP error about connection `c` (key `key`), on to its
    /// real server: translated for NAT and FullNAT, encapsulated for TUN,
    /// with new MACs for DR.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward_error<A: Ip, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        quote_at: usize,
        (key, c, ext): (&ConnKey<A>, &Conn<A>, &ConnExt<A>),
        dest: &Dest,
        macs: (MacAddr, MacAddr),
    ) -> Verdict {
        if c.flags & flags::XFAM != 0 {
            // Between families (decision 42): translated too.
            return self.xfam_error::<A, F>(frame, l3, (c, ext), dest, macs);
        }
        if sees_replies(c.forward) {
            let raddr = A::from_ip(dest.addr).unwrap_or_default();
            error_to_server_view(&mut frame.bytes_mut()[l3..], c, ext, raddr, quote_at);
        } else if c.forward == Forward::Tunnel as u8 {
            // No ICMP error is ever sent about an ICMP error.
            if let Err(v) = self.encapsulate::<F, A>(snap, frame, l3, dest, key, None) {
                return v;
            }
        }
        self.error_to_dest(frame, dest, macs)
    }

    /// The connection an ICMP error from a client is about (it quotes a
    /// packet of ours, VIP -> client), on its owner core: (its key, entry,
    /// companion, dest, and the dest's and the output port's MACs). About
    /// no service or connection of ours it is the local stack's, as in IPVS.
    #[allow(clippy::type_complexity)]
    pub(super) fn error_conn<A: Tables>(
        &mut self,
        snap: &Snapshot,
        q: &Quoted<A>,
        handed_off: bool,
        now_ms: u64,
    ) -> Result<(ConnKey<A>, Conn<A>, ConnExt<A>, Dest, (MacAddr, MacAddr)), Verdict> {
        let key = ConnKey {
            caddr: q.dst,
            vaddr: q.src,
            cport: q.dport,
            vport: q.sport,
            protocol: q.protocol,
            template: false,
        };
        let Some(service) = snap.lookup(q.protocol, q.dst.to_ip(), q.src.to_ip(), q.sport) else {
            return Err(self.exception());
        };
        if !handed_off {
            let owner = flow_owner(
                &self.owner_hasher,
                service,
                key.caddr,
                key.cport,
                self.workers,
            );
            if owner != self.id {
                self.stats.count(Counter::HandedOff);
                return Err(Verdict::Handoff(owner));
            }
        }
        let Some(idx) = A::conns(self).find(&key) else {
            return Err(self.exception());
        };
        let c = *A::conns(self).get(idx);
        let ext = *A::conns(self).ext(idx);
        let dest = match snap.dest(c.dest_slot) {
            Some(d) if c.expires_ms > now_ms => *d,
            _ => return Err(self.count(Counter::DropDestUnavailable)),
        };
        let Some(dest_mac) = self.neigh.get(c.neigh_slot) else {
            return Err(self.count(Counter::DropNeighUnresolved));
        };
        let Some(out_mac) = snap.ports.get(usize::from(dest.port_id)).map(|p| p.mac) else {
            return Err(self.count(Counter::DropNeighUnresolved));
        };
        Ok((key, c, ext, dest, (dest_mac, out_mac)))
    }

    /// Send a client's ICMP error on to the connection's real server.
    pub(super) fn error_to_dest<F: Frame>(
        &self,
        frame: &mut F,
        dest: &Dest,
        macs: (MacAddr, MacAddr),
    ) -> Verdict {
        let mut eth = EthernetFrame::new_unchecked(frame.bytes_mut());
        eth.set_dst(macs.0);
        eth.set_src(macs.1);
        self.stats.count(Counter::IcmpErrorForwarded);
        Verdict::Forward(dest.port_id)
    }

    /// Turn an echo request into its reply, in place.
    fn reply_echo<A: Ip, F: Frame>(
        &mut self,
        frame: &mut F,
        l3: usize,
        hl: usize,
        mac: MacAddr,
    ) -> Verdict {
        let b = frame.bytes_mut();
        let mut eth = EthernetFrame::new_unchecked(&mut *b);
        let peer = eth.src();
        eth.set_dst(peer);
        eth.set_src(mac);
        A::echo_to_reply(&mut b[l3..], hl);
        self.stats.count(Counter::IcmpEchoReplied);
        Verdict::Reply
    }

    /// Turn the client's packet (its IP header at `l3`) into the ICMP error
    /// `err` back to it, from the address it was sent to, quoting its first
    /// bytes, sent from `mac`; built in place. Counted as sent
    /// (`icmp_unreachable_sent`, `icmp_frag_needed_sent`), or, over the rate
    /// limits, as limited (`icmp_ratelimit_global`, `icmp_ratelimit_host`)
    /// and dropped with `otherwise` (which the caller counted).
    pub(super) fn reply_icmp_error<A: Ip, F: Frame>(
        &mut self,
        frame: &mut F,
        l3: usize,
        mac: MacAddr,
        err: IcmpError,
        otherwise: Counter,
    ) -> Verdict {
        let b = frame.bytes();
        let (client, vip, quote_len) = A::error_parts(&b[l3..]);
        let (kind, code, rest) = A::error_message(err);
        let peer = match client.to_ip() {
            IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
            IpAddr::V6(a) => u128::from(a),
        };
        match self
            .icmp_limiter
            .allow(A::IPV6, kind, code, peer, self.now_ms)
        {
            Ok(()) => {}
            Err(Limited::Global) => {
                self.stats.count(Counter::IcmpRateLimitedGlobal);
                return Verdict::Drop(otherwise);
            }
            Err(Limited::Host) => {
                self.stats.count(Counter::IcmpRateLimitedHost);
                return Verdict::Drop(otherwise);
            }
        }
        self.stats.count(match err {
            IcmpError::PortUnreachable => Counter::IcmpUnreachableSent,
            IcmpError::TooBig(_) => Counter::IcmpFragNeededSent,
        });
        let quote_len = quote_len.min(QUOTE_MAX);
        let mut quote = [0u8; QUOTE_MAX];
        quote[..quote_len].copy_from_slice(&b[l3..l3 + quote_len]);
        let new_len = l3 + A::IP_HEADER_LEN + A::ICMP_HEADER_LEN + quote_len;
        if !frame.set_len(new_len) {
            return self.count(Counter::DropNoMbuf);
        }
        let b = frame.bytes_mut();
        let mut eth = EthernetFrame::new_unchecked(&mut *b);
        let peer = eth.src();
        eth.set_dst(peer);
        eth.set_src(mac);
        A::emit_error(
            &mut b[l3..new_len],
            vip,
            client,
            (kind, code, rest),
            &quote[..quote_len],
        );
        Verdict::Reply
    }
}
