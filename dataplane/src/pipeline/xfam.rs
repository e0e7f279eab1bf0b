//! FullNAT between address families (decision 42): an IPv6 VIP in front of
//! IPv4 real servers and the reverse, as DPVS's "nat64" does. The
//! connection lives in the client family's table, flagged `XFAM`; its
//! local address (a slot of the other family's among the service's) and
//! real server are of the other family, the real server's address kept in
//! the companion (`ConnExt::xaddr`). Its reply is indexed in the other
//! family's cross index (`Tables::xreplies`). A client's packet is
//! rewritten as FullNAT rewrites it (TOA or PROXY v2 of the client's
//! family, the ports) and then translated (`nat::xlat`, RFC 7915); a reply
//! (or a real server's ICMP error) is translated back and rewritten to VIP
//! → client.
//!
//! Contract: nothing is sent half-translated: a packet that cannot be is a
//! counted drop (`drop_xlat`: fragments, IPv6 extension headers, ICMP
//! RFC 7915 drops), a client's packet too big once translated gets "too
//! big" back as a tunnel's would (`drop_xlat_too_big` otherwise), and so is
//! a real server's (counted; TCP's MSS was lowered in the handshake so
//! segments fit). A client's ICMP error about such a connection's reply
//! goes to its real server translated too. Such connections are not synced
//! to a backup.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::family::{IcmpError, Ip, Tables, Wire};
use super::{Core, Flow, Frame, Target, Verdict};
use crate::conn::state::Direction;
use crate::conn::{Conn, ConnExt, Family, ReplyKey, XReplyEntry};
use crate::laddr;
use crate::nat::xlat::Addrs;
use crate::nat::End;
use crate::service::{Dest, PortInfo, Snapshot};
use crate::stats::{lower, Counter};
use crate::wire::ethernet::EthernetFrame;
use crate::wire::ethernet::MacAddr;
use crate::wire::ipv4::protocol;

/// `ip` as `ConnExt::xaddr` holds it.
pub(super) fn xaddr_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)).to_be_bytes(),
        IpAddr::V6(a) => a.octets(),
    }
}

/// The address `ConnExt::xaddr` holds (an IPv6 one when `v6`).
pub(super) fn xaddr_ip(x: [u8; 16], v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(x))
    } else {
        IpAddr::V4(Ipv4Addr::from(u128::from_be_bytes(x) as u32))
    }
}

/// The address `ConnExt::xaddr` holds, as family `B`.
fn xaddr_of<B: Family>(x: [u8; 16]) -> B {
    B::from_ip(xaddr_ip(x, B::IPV6)).unwrap_or_default()
}

impl Core {
    /// The reply tuple of between-families connection `c`: from its real
    /// server to its local address, in the other family.
    fn xreply_key<A: Tables>(&self, c: &Conn<A>, ext: &ConnExt<A>) -> Option<ReplyKey<A::Other>> {
        let laddr = self
            .laddrs
            .addr(ext.laddr_slot)
            .and_then(<A::Other as Family>::from_ip)?;
        Some(ReplyKey {
            raddr: xaddr_of(ext.xaddr),
            laddr,
            rport: c.dport,
            lport: ext.lport,
            protocol: c.key.protocol,
        })
    }

    /// A between-families connection's local address (slot `laddr_slot`)
    /// and real server (`daddr`), both of the other family than `A`.
    fn other_ends<A: Tables>(
        &self,
        laddr_slot: u16,
        daddr: IpAddr,
    ) -> Option<(A::Other, A::Other)> {
        let laddr = self.laddrs.addr(laddr_slot)?;
        Some((
            <A::Other as Family>::from_ip(laddr)?,
            <A::Other as Family>::from_ip(daddr)?,
        ))
    }

    /// Index the reply of between-families connection `conn` (a key there
    /// already is an older entry's, which the new one replaces).
    pub(super) fn index_xreply<A: Tables>(&mut self, conn: &Conn<A>, ext: &ConnExt<A>) {
        let Some(key) = self.xreply_key(conn, ext) else {
            self.stats.count(Counter::DropNatTableFull);
            return;
        };
        let table = <A::Other as Tables>::xreplies(self);
        if let Some(r) = table.find(&key) {
            table.get_mut(r).conn = conn.key;
        } else if table
            .insert(XReplyEntry {
                key,
                conn: conn.key,
            })
            .is_err()
        {
            self.stats.count(Counter::DropNatTableFull);
        }
    }

    /// Remove the reply index entry of between-families connection `c` and
    /// give its local port back.
    pub(super) fn unindex_xreply<A: Tables>(&mut self, c: &Conn<A>, ext: &ConnExt<A>) {
        if let Some(key) = self.xreply_key(c, ext) {
            let table = <A::Other as Tables>::xreplies(self);
            if let Some(r) = table.find(&key) {
                if table.get(r).conn == c.key {
                    table.remove(r);
                }
            }
        }
        self.give_xlport(ext);
    }

    /// Give back the local port (of the other family) of a between-families
    /// connection.
    pub(super) fn give_xlport<A: Family>(&mut self, ext: &ConnExt<A>) {
        if let Some(addr) = self.laddrs.addr(ext.laddr_slot) {
            self.laddrs.give(ext.laddr_slot, addr, ext.lport);
        }
        if let Some(l) = self.stats.laddrs.get(usize::from(ext.laddr_slot)) {
            lower(&l.used, 1);
        }
    }

    /// Translate the packet at `l3` (family `S`, `len` bytes) into the
    /// other family with `to`'s addresses: the frame grows at the front
    /// (IPv4 to IPv6, into headroom) or shrinks there, the Ethernet header
    /// moving with the IP header's start, and takes the new ethertype.
    fn translate_frame<S: Wire, F: Frame>(
        &mut self,
        frame: &mut F,
        l3: usize,
        len: usize,
        to: &Addrs<S::Other>,
    ) -> Result<(), Verdict> {
        let grow = S::GROWTH_TO_OTHER;
        // Room behind for an ICMP error's quote, in front for the header.
        if !frame.set_len(l3 + len + grow) || !frame.prepend(grow) {
            return Err(self.count(Counter::DropNoMbuf));
        }
        let b = frame.bytes_mut();
        b.copy_within(grow..grow + l3, 0);
        let Ok(r) = S::translate(b, l3 + grow, to) else {
            return Err(self.count(Counter::DropXlat));
        };
        let front = r.start - l3;
        b.copy_within(0..l3, front);
        if !frame.trim_front(front) || !frame.set_len(l3 + r.len()) {
            return Err(self.count(Counter::DropNoMbuf));
        }
        EthernetFrame::new_unchecked(frame.bytes_mut())
            .set_inner_ethertype(<S::Other as Wire>::ETHERTYPE);
        self.stats.count(Counter::XlatTranslated);
        Ok(())
    }

    /// FullNAT between families, a client's packet (family `A`) of
    /// connection target `t`: TOA or PROXY v2 of the client's family, the
    /// ports rewritten, then translated from the local address to the real
    /// server. Too big for port `out` once translated: "too big" to the
    /// client when it can be told (with the room left), else dropped.
    pub(super) fn forward_xfam<F: Frame, A: Ip>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        t: &Target<A>,
        flow: &Flow<A>,
        out: &PortInfo,
    ) -> Result<(), Verdict> {
        let grow = A::GROWTH_TO_OTHER;
        let mtu = usize::from(out.mtu);
        let ip = &frame.bytes()[l3..];
        if A::ip_len(ip) + grow > mtu {
            let room = mtu.saturating_sub(grow);
            self.stats.count(Counter::DropXlatTooBig);
            if A::tells_too_big(&A::tunnel_inner(ip), room) {
                let mac = snap.ports[usize::from(flow.in_port)].mac;
                let err = IcmpError::TooBig(room);
                let otherwise = Counter::DropXlatTooBig;
                return Err(self.reply_icmp_error::<A, F>(frame, l3, mac, err, otherwise));
            }
            return Err(Verdict::Drop(Counter::DropXlatTooBig));
        }
        let room = (mtu - grow) as u16;
        if t.toa {
            self.insert_toa::<F, A>(frame, l3, &flow.key, flow.tcp_flags, room);
        }
        if t.pp2 && !self.proxy_client_segment(frame, l3, &flow.key, t.isn, room) {
            return Err(Verdict::Drop(Counter::ProxyNoRoom));
        }
        let b = &mut frame.bytes_mut()[l3..];
        A::rewrite(b, End::Src, flow.key.caddr, t.lport);
        A::rewrite(b, End::Dst, flow.key.vaddr, t.dport);
        let Some((laddr, daddr)) = self.other_ends::<A>(t.laddr_slot, t.dest.addr) else {
            return Err(self.count(Counter::DropXlat));
        };
        let len = A::ip_len(&frame.bytes()[l3..]);
        let to = Addrs::between(laddr, daddr);
        self.translate_frame::<A, F>(frame, l3, len, &to)
    }

    /// A real server's reply (family `B`, tuple `key`) to a between-families
    /// connection, if it is one: `None` when no such connection has it (the
    /// caller goes on with its own family's), else the verdict. On its
    /// owner core (by the local port, as FullNAT's) the segment runs the
    /// OUTPUT table, is translated to the client's family (an ICMP error
    /// with its quote) and rewritten to VIP → client.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn xfam_reply<B: Ip, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        len: usize,
        key: &ReplyKey<B>,
        (proto, tcp_flags, quote_at): (u8, u8, Option<usize>),
        now_ms: u64,
        handed_off: bool,
    ) -> Option<Verdict> {
        if B::xreplies(self).is_empty() {
            return None;
        }
        if !handed_off {
            let owner = laddr::owner_of_port(key.lport, self.workers);
            if owner != self.id {
                // The owner looks in both indexes.
                self.stats.count(Counter::HandedOff);
                return Some(Verdict::Handoff(owner));
            }
        }
        let table = B::xreplies(self);
        let conn_key = table.find(key).map(|r| table.get(r).conn)?;
        let ci = <B::Other as Tables>::conns(self).find(&conn_key)?;
        let c = *<B::Other as Tables>::conns(self).get(ci);
        let ext = *<B::Other as Tables>::conns(self).ext(ci);
        if c.expires_ms <= now_ms {
            return None;
        }
        let Some(out) = snap.ports.get(usize::from(ext.in_port)).copied() else {
            return Some(self.count(Counter::DropNotForUs));
        };
        if len + B::GROWTH_TO_OTHER > usize::from(out.mtu) {
            return Some(self.count(Counter::DropXlatTooBig));
        }
        if quote_at.is_none() {
            self.advance::<B::Other>(snap, ci, Direction::Output, tcp_flags, now_ms);
        }
        let (caddr, vaddr) = (c.key.caddr, c.key.vaddr);
        let to = Addrs::between(vaddr, caddr);
        if let Err(v) = self.translate_frame::<B, F>(frame, l3, len, &to) {
            return Some(v);
        }
        let b = &mut frame.bytes_mut()[l3..];
        match quote_at {
            None => {
                if ext.pp2 && proto == protocol::TCP {
                    Self::proxy_server_segment::<B::Other>(b, tcp_flags, ext.isn);
                }
                <B::Other as Wire>::rewrite(b, End::Src, vaddr, c.key.vport);
                <B::Other as Wire>::rewrite(b, End::Dst, caddr, c.key.cport);
                let n = <B::Other as Wire>::ip_len(b) as u64;
                self.count_reply(&c, n);
            }
            Some(_) => {
                // The translated error's quote follows the family's
                // fixed header and the ICMP header (8 bytes in both).
                let q = <B::Other as Wire>::IP_HEADER_LEN + <B::Other as Ip>::ICMP_HEADER_LEN;
                <B::Other as Wire>::rewrite_quoted(b, q, End::Src, caddr, c.key.cport);
                <B::Other as Wire>::rewrite_quoted(b, q, End::Dst, vaddr, c.key.vport);
                self.stats.count(Counter::IcmpErrorForwarded);
            }
        }
        Some(Self::to_client(frame, ext.peer_mac, out.mac, ext.in_port))
    }

    /// A client's ICMP error (family `A`) about a reply of between-families
    /// connection `c`: translated to the real server's family, from the
    /// local address to the real server, quoting the real server's packet
    /// to the local address (RFC 7915's types and codes; "packet too big"'s
    /// MTU less 20 as "fragmentation needed"), sent to the real server.
    pub(super) fn xfam_error<A: Ip, F: Frame>(
        &mut self,
        frame: &mut F,
        l3: usize,
        (c, ext): (&Conn<A>, &ConnExt<A>),
        dest: &Dest,
        macs: (MacAddr, MacAddr),
    ) -> Verdict {
        let Some((laddr, raddr)) = self.other_ends::<A>(ext.laddr_slot, dest.addr) else {
            return self.count(Counter::DropXlat);
        };
        let len = A::ip_len(&frame.bytes()[l3..]);
        let to = Addrs::between(laddr, raddr);
        if let Err(v) = self.translate_frame::<A, F>(frame, l3, len, &to) {
            return v;
        }
        let b = &mut frame.bytes_mut()[l3..];
        let q = <A::Other as Wire>::IP_HEADER_LEN + <A::Other as Ip>::ICMP_HEADER_LEN;
        <A::Other as Wire>::rewrite_quoted(b, q, End::Src, raddr, c.dport);
        <A::Other as Wire>::rewrite_quoted(b, q, End::Dst, laddr, ext.lport);
        self.error_to_dest(frame, dest, macs)
    }
}
