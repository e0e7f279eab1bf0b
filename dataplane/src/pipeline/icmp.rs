//! Stage 6, ICMP: echo to a VIP answered, a client's error about a
//! connection forwarded to its real server, and the errors this director
//! sends itself (port unreachable, fragmentation needed), built in place.
//!
//! Contract: no ICMP error is ever sent about an ICMP error; an error about
//! no connection of ours is the kernel's, as in IPVS.

use std::net::IpAddr;

use rvs_api::Forward;

use super::conn::{flow_owner, sees_replies};
use super::family::{quoted_tuple, Tables, Wire};
use super::{Core, Frame, Quoted, Verdict};
use crate::conn::{Conn, ConnExt, ConnKey};
use crate::nat::End;
use crate::service::{Dest, Snapshot};
use crate::stats::Counter;
use crate::wire::checksum;
use crate::wire::ethernet::{EthernetFrame, MacAddr};
use crate::wire::icmp::{self, IcmpPacket};
use crate::wire::ipv4::{self, protocol, Ipv4Packet, Ipv4Repr};

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
    /// ICMP to a VIP: echo is answered here (the VIP is ours); an error
    /// quoting a connection's packet is forwarded along that connection
    /// (`spec/conn.md` §10); anything else goes to the local stack.
    pub(super) fn handle_icmp<F: Frame>(
        &mut self,
        snap: &Snapshot,
        mac: MacAddr,
        frame: &mut F,
        l3: usize,
        now_ms: u64,
        handed_off: bool,
    ) -> Verdict {
        let ip = Ipv4Packet::new_unchecked(&frame.bytes()[l3..]);
        let hl = ip.header_len();
        let l3_len = ip.total_len();
        let l4 = l3 + hl;
        let l4_end = l3 + usize::from(l3_len);
        let (kind, is_error) = match IcmpPacket::new_checked(&frame.bytes()[l4..l4_end]) {
            Ok(i) => (i.kind(), i.is_error()),
            Err(m) => return self.count(m.into()),
        };
        if kind == icmp::kind::ECHO_REQUEST {
            // A VIP answers pings; an address a classifier prefix covers is
            // not ours to answer for.
            if !snap.answers_arp_for(IpAddr::V4(ip.dst())) {
                return self.exception();
            }
            return self.reply_echo(frame, l3, mac);
        }
        if !is_error {
            // Not ours to handle: the local stack's, as in IPVS.
            return self.exception();
        }
        // The quoted packet went from the VIP to the client.
        let q = match quoted_tuple(&frame.bytes()[l4..l4_end]) {
            Ok(Some(q)) => q,
            Ok(None) => return self.exception(),
            Err(c) => return self.count(c),
        };
        let (key, c, ext, dest, macs) = match self.error_conn::<u32>(snap, &q, handed_off, now_ms) {
            Ok(found) => found,
            Err(v) => return v,
        };
        let quote_at = hl + icmp::HEADER_LEN;
        self.forward_error::<u32, F>(snap, frame, l3, quote_at, (&key, &c, &ext), &dest, macs)
    }

    /// A client's ICMP error about connection `c` (key `key`), on to its
    /// real server: translated for NAT and FullNAT, encapsulated for TUN,
    /// with new MACs for DR.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn forward_error<A: Wire, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        quote_at: usize,
        (key, c, ext): (&ConnKey<A>, &Conn<A>, &ConnExt<A>),
        dest: &Dest,
        macs: (MacAddr, MacAddr),
    ) -> Verdict {
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
    pub(super) fn reply_echo<F: Frame>(
        &mut self,
        frame: &mut F,
        l3: usize,
        mac: MacAddr,
    ) -> Verdict {
        let b = frame.bytes_mut();
        let mut eth = EthernetFrame::new_unchecked(&mut *b);
        let peer = eth.src();
        eth.set_dst(peer);
        eth.set_src(mac);
        let mut ip = Ipv4Packet::new_unchecked(&mut b[l3..]);
        let (src, dst) = (ip.src(), ip.dst());
        ip.set_src(dst);
        ip.set_dst(src);
        ip.set_ttl(64);
        ip.fill_checksum();
        let mut icmp = IcmpPacket::new_unchecked(ip.payload_mut());
        let old = u16::from_be_bytes([icmp::kind::ECHO_REQUEST, icmp.code()]);
        icmp.set_kind(icmp::kind::ECHO_REPLY);
        let new = u16::from_be_bytes([icmp::kind::ECHO_REPLY, icmp.code()]);
        let c = checksum::update_u16(icmp.checksum(), old, new);
        icmp.set_checksum(c);
        self.stats.count(Counter::IcmpEchoReplied);
        Verdict::Reply
    }

    /// No dest for a new connection: ICMP port unreachable to the client,
    /// from the VIP (`spec/schedulers.md` §0.6).
    pub(super) fn reply_port_unreachable<F: Frame>(
        &mut self,
        frame: &mut F,
        l3: usize,
        mac: MacAddr,
    ) -> Verdict {
        self.stats.count(Counter::IcmpUnreachableSent);
        self.reply_icmp_error(frame, l3, mac, icmp::unreach::PORT, [0; 4])
    }

    /// Turn the client's packet into an ICMP "destination unreachable" of
    /// `code` back to it, from the address it was sent to, quoting its IP
    /// header and 8 bytes; `rest` is the header's last 4 bytes (the next-hop
    /// MTU of "fragmentation needed"). Built in place.
    pub(super) fn reply_icmp_error<F: Frame>(
        &mut self,
        frame: &mut F,
        l3: usize,
        mac: MacAddr,
        code: u8,
        rest: [u8; 4],
    ) -> Verdict {
        const QUOTE_MAX: usize = 60 + 8;
        let b = frame.bytes();
        let ip = Ipv4Packet::new_unchecked(&b[l3..]);
        let quote_len = (ip.header_len() + 8).min(usize::from(ip.total_len()));
        let (client, vip) = (ip.src(), ip.dst());
        let mut quote = [0u8; QUOTE_MAX];
        quote[..quote_len].copy_from_slice(&b[l3..l3 + quote_len]);
        let new_len = l3 + ipv4::HEADER_LEN_MIN + icmp::HEADER_LEN + quote_len;
        if !frame.set_len(new_len) {
            return self.count(Counter::DropNoMbuf);
        }
        let b = frame.bytes_mut();
        let mut eth = EthernetFrame::new_unchecked(&mut *b);
        let peer = eth.src();
        eth.set_dst(peer);
        eth.set_src(mac);
        Ipv4Repr {
            src: vip,
            dst: client,
            protocol: protocol::ICMP,
            payload_len: icmp::HEADER_LEN + quote_len,
            ttl: 64,
            tos: 0,
            ident: 0,
            dont_frag: false,
        }
        .emit(&mut b[l3..]);
        let at = l3 + ipv4::HEADER_LEN_MIN;
        let mut icmp = IcmpPacket::new_unchecked(&mut b[at..new_len]);
        icmp.set_kind(icmp::kind::DEST_UNREACHABLE);
        icmp.set_code(code);
        icmp.set_rest(rest);
        b[at + icmp::HEADER_LEN..new_len].copy_from_slice(&quote[..quote_len]);
        IcmpPacket::new_unchecked(&mut b[at..new_len]).fill_checksum();
        Verdict::Reply
    }
}
