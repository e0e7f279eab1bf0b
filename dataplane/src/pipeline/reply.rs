//! Stage 5, replies: a real server's packet of a NAT or FullNAT connection
//! (or an ICMP error about one) put back in the client's view and sent the
//! way the client's packets came.
//!
//! Contract: a reply runs on the core owning its connection (else handed
//! off); one that matches no live connection is the kernel's.

use rvs_api::Forward;

use super::conn::reply_key;
use super::family::{Header, Ip, Tables, Wire};
use super::{owner_of, Core, Frame, Verdict};
use crate::conn::sctp;
use crate::conn::state::Direction;
use crate::conn::{Conn, ConnExt, Family, ReplyKey};
use crate::laddr;
use crate::nat::End;
use crate::service::Snapshot;
use crate::stats::{bump, Counter};
use crate::wire::ethernet::{EthernetFrame, MacAddr};
use crate::wire::icmp;
use crate::wire::ipv4::protocol;
use crate::wire::sctp::SctpPacket;
use crate::wire::tcp::TcpPacket;
use crate::wire::udp::UdpPacket;

/// A real server's packet of NAT or FullNAT connection `c` (the bytes from
/// its IP header on) put in the client's view: from VIP:vport, and for
/// FullNAT to the client rather than the local address. An ICMP error
/// (`quote_at`: where its quoted header starts) gets the same done to its
/// outer source and destination and, reversed, to the packet it quotes
/// (`spec/conn.md` §10).
pub(super) fn to_client_view<A: Wire>(b: &mut [u8], c: &Conn<A>, quote_at: Option<usize>) {
    let fullnat = c.forward == Forward::FullNat as u8;
    match quote_at {
        None => {
            A::rewrite(b, End::Src, c.key.vaddr, c.key.vport);
            if fullnat {
                A::rewrite(b, End::Dst, c.key.caddr, c.key.cport);
            }
        }
        Some(q) => {
            A::rewrite_addr(b, End::Src, c.key.vaddr);
            if fullnat {
                A::rewrite_addr(b, End::Dst, c.key.caddr);
                A::rewrite_quoted(b, q, End::Src, c.key.caddr, c.key.cport);
            }
            A::rewrite_quoted(b, q, End::Dst, c.key.vaddr, c.key.vport);
        }
    }
}

impl Core {
    /// A packet from a NAT real server to an address that is not a VIP. The
    /// reply of one of this director's NAT connections (or an ICMP error
    /// about one) is rewritten to come from the VIP and sent to the client
    /// the way its packets came; anything else is the kernel's (the real
    /// server answering the director itself, e.g. a health check). Either
    /// family: IPv4 checks the header's checksum first (`Ip::check_reply`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn handle_reply<A: Ip, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        h: Header<A>,
        now_ms: u64,
        handed_off: bool,
        fullnat: bool,
    ) -> Verdict {
        if let Err(e) = A::check_reply(&frame.bytes()[l3..]) {
            return match e {
                Some(c) => self.count(c),
                None => self.exception(),
            };
        }
        let l4 = l3 + h.hl;
        let l4_end = l3 + h.len;
        let proto = h.proto;
        let (src, dst) = (h.src, h.dst);
        // The reply's tuple and, for an ICMP error, where its quote starts.
        let (key, tcp_flags, quote_at) = match proto {
            protocol::TCP => match TcpPacket::new_checked(&frame.bytes()[l4..l4_end]) {
                Ok(t) => (
                    ReplyKey {
                        raddr: src,
                        laddr: dst,
                        rport: t.src_port(),
                        lport: t.dst_port(),
                        protocol: proto,
                    },
                    t.flags(),
                    None,
                ),
                Err(m) => return self.count(m.into()),
            },
            protocol::UDP => match UdpPacket::new_checked(&frame.bytes()[l4..l4_end]) {
                Ok(u) => (
                    ReplyKey {
                        raddr: src,
                        laddr: dst,
                        rport: u.src_port(),
                        lport: u.dst_port(),
                        protocol: proto,
                    },
                    0,
                    None,
                ),
                Err(m) => return self.count(m.into()),
            },
            protocol::SCTP => match SctpPacket::new_checked(&frame.bytes()[l4..l4_end]) {
                Ok(s) => (
                    ReplyKey {
                        raddr: src,
                        laddr: dst,
                        rport: s.src_port(),
                        lport: s.dst_port(),
                        protocol: proto,
                    },
                    sctp::Event::of(s.first_chunk(), s.second_chunk()) as u8,
                    None,
                ),
                Err(m) => return self.count(m.into()),
            },
            p if p == A::ICMP => match A::quoted(&frame.bytes()[l4..l4_end]) {
                // The quote is of a packet toward the real server.
                Ok(Some(q)) => (
                    ReplyKey {
                        raddr: q.dst,
                        laddr: q.src,
                        rport: q.dport,
                        lport: q.sport,
                        protocol: q.protocol,
                    },
                    0,
                    // ICMP's and ICMPv6's headers are both 8 bytes.
                    Some(h.hl + icmp::HEADER_LEN),
                ),
                Ok(None) => return self.exception(),
                Err(c) => return self.count(c),
            },
            _ => return self.exception(),
        };
        if fullnat {
            let facts = (proto, tcp_flags, quote_at);
            if let Some(v) =
                self.xfam_reply::<A, F>(snap, frame, l3, h.len, &key, facts, now_ms, handed_off)
            {
                return v;
            }
        }
        let (ci, c, ext, out_mac) =
            match self.reply_conn::<A>(snap, &key, fullnat, handed_off, now_ms) {
                Ok(found) => found,
                Err(v) => return v,
            };
        self.finish_reply::<A, F>(
            snap,
            frame,
            l3,
            (ci, &c, &ext, out_mac),
            (proto, tcp_flags, quote_at),
            h.len as u64,
            now_ms,
        )
    }

    /// The connection of a reply (`key`), on its owner core: the frame is
    /// handed over when this is not the owner (FullNAT's is the local
    /// port's, NAT's the client's, by address and port or, for a
    /// persistent service, by network); a reply that matches no live
    /// connection is the kernel's. Returns (entry index, entry, its
    /// companion, the MAC to send from).
    #[allow(clippy::type_complexity)]
    pub(super) fn reply_conn<A: Tables>(
        &mut self,
        snap: &Snapshot,
        key: &ReplyKey<A>,
        fullnat: bool,
        handed_off: bool,
        now_ms: u64,
    ) -> Result<(usize, Conn<A>, ConnExt<A>, MacAddr), Verdict> {
        if !handed_off {
            let owner = if fullnat {
                // Each core hands out its own slice of local ports.
                laddr::owner_of_port(key.lport, self.workers)
            } else {
                match snap.nat_persist_mask(key.raddr.to_ip(), key.rport) {
                    Some(mask) => {
                        owner_of(&self.owner_hasher, key.laddr.masked(mask), 0, self.workers)
                    }
                    None => owner_of(&self.owner_hasher, key.laddr, key.lport, self.workers),
                }
            };
            if owner != self.id {
                self.stats.count(Counter::HandedOff);
                return Err(Verdict::Handoff(owner));
            }
        }
        let Some(ci) = A::replies(self)
            .find(key)
            .map(|r| A::replies(self).get(r).conn as usize)
        else {
            return Err(self.exception());
        };
        let c = *A::conns(self).get(ci);
        let ext = *A::conns(self).ext(ci);
        // The index goes with its entry (`drop_conn`), so the entry at `ci`
        // is this reply's; it is checked all the same, on lines already
        // read, as a wrong one would send the reply to another client.
        let its_own = reply_key(&c, &ext) == *key;
        debug_assert!(its_own, "a reply index entry outlived its connection");
        if c.expires_ms <= now_ms || !its_own {
            return Err(self.exception());
        }
        let Some(out_mac) = snap.ports.get(usize::from(ext.in_port)).map(|p| p.mac) else {
            return Err(self.count(Counter::DropNotForUs));
        };
        Ok((ci, c, ext, out_mac))
    }

    /// A translated reply of `c`, `l3_len` bytes: the service's and the
    /// dest's out counters, and the verdict's.
    pub(super) fn count_reply<A: Family>(&self, c: &Conn<A>, l3_len: u64) {
        for slot in [c.service_slot, c.dest_slot] {
            if let Some(s) = self.stats.slots.get(slot as usize) {
                bump(&s.out_pkts, 1);
                bump(&s.out_bytes, l3_len);
            }
        }
        self.stats.count(if c.forward == Forward::FullNat as u8 {
            Counter::ForwardFullNatReply
        } else {
            Counter::ForwardNatReply
        });
    }

    /// The rest of a reply of `c` (entry `ci`, sent from `out_mac`): a
    /// segment runs the OUTPUT table (and FullNAT's PROXY header is
    /// accounted for), then the packet is put in the client's view and sent
    /// back the way the client's packets came.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finish_reply<A: Ip + Tables, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        (ci, c, ext, out_mac): (usize, &Conn<A>, &ConnExt<A>, MacAddr),
        (proto, tcp_flags, quote_at): (u8, u8, Option<usize>),
        l3_len: u64,
        now_ms: u64,
    ) -> Verdict {
        if quote_at.is_none() {
            self.advance::<A>(snap, ci, Direction::Output, tcp_flags, now_ms);
            if ext.sp != 0 && proto == protocol::TCP {
                if let Some(v) = self.synproxy_server::<A, F>(frame, l3, (ci, c, ext), tcp_flags) {
                    return v;
                }
            }
        }
        let b = &mut frame.bytes_mut()[l3..];
        if quote_at.is_none()
            && c.forward == Forward::FullNat as u8
            && ext.pp2
            && proto == protocol::TCP
        {
            Self::proxy_server_segment::<A>(b, tcp_flags, ext.isn);
        }
        to_client_view(b, c, quote_at);
        if quote_at.is_some() {
            self.stats.count(Counter::IcmpErrorForwarded);
        } else {
            self.count_reply(c, l3_len);
        }
        Self::to_client(frame, ext.peer_mac, out_mac, ext.in_port)
    }

    /// Send a translated reply back the way the client's packets came.
    #[inline]
    pub(super) fn to_client<F: Frame>(
        frame: &mut F,
        peer_mac: MacAddr,
        out_mac: MacAddr,
        port: u16,
    ) -> Verdict {
        let mut eth = EthernetFrame::new_unchecked(frame.bytes_mut());
        eth.set_dst(peer_mac);
        eth.set_src(out_mac);
        Verdict::Forward(port)
    }
}
