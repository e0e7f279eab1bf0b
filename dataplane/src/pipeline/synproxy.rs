//! The SYN proxy of NAT and FullNAT services (`--synproxy`, decision 40),
//! DPVS's `synproxy` written for this pipeline.
//!
//! 1. A client's SYN to the service, with no live entry, is answered in
//!    place with a SYN-ACK whose ISN is a SYN cookie (`crate::synproxy`):
//!    no entry is made, so a spoofed flood fills nothing.
//! 2. The client's ACK whose acknowledgement is a valid cookie plus one
//!    schedules a dest and makes the entry (as a SYN would, with the
//!    client's ISN), and becomes the SYN to the real server (the client's
//!    ISN, the MSS the cookie carries; with TOA for FullNAT). A bad cookie
//!    is a counted drop (`synproxy_ack_bad`).
//! 3. The real server's SYN-ACK becomes the handshake's ACK back to the
//!    real server (with TOA for FullNAT); the entry keeps the shift, the
//!    cookie minus the real server's ISN.
//! 4. From then on the real server's sequence numbers go to the client
//!    plus the shift and the client's acknowledgements to the real server
//!    minus it, so the connection is transparent.
//!
//! What the client sends after its ACK and before the real server's
//! SYN-ACK is not held: each such segment becomes the SYN to the real
//! server again (a lost SYN or SYN-ACK is recovered so; counted
//! `synproxy_syn_resent`) and its data is left for the client to send
//! again, which TCP does. The SYN-ACK offers the MSS only: no window
//! scaling, SACK or timestamps (a cookie has no room for them without
//! timestamps, and the real server's handshake must offer what the
//! client's saw), so both sides run without them.
//!
//! Contract: only segments without IPv6 extension headers come here; every
//! packet is rewritten in place (the frame shrinks or grows by a few bytes
//! of TCP header), its checksums written whole; nothing allocates.

use rvs_api::Forward;
use std::net::IpAddr;

use super::family::{Ip, Tables, Wire};
use super::{Core, Flow, Frame, Target, Verdict};
use crate::conn::state::State;
use crate::conn::{flags, Conn, ConnExt};
use crate::proxy;
use crate::service::{Service, Snapshot};
use crate::stats::Counter;
use crate::synproxy::{self as cookie, CookieInput, MSS_V4, MSS_V6};
use crate::wire::checksum::update_u32;
use crate::wire::ethernet::EthernetFrame;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::tcp::{self, TcpPacket};

/// `ConnExt::sp`: waiting for the real server's SYN-ACK.
pub(super) const SP_WAIT: u8 = 1;
/// `ConnExt::sp`: the handshakes are joined; sequence numbers are shifted.
pub(super) const SP_SHIFT: u8 = 2;

/// The window of the director's SYN-ACK and of the real server's ACK (ten
/// segments of 1460 bytes, unscaled: the client's first flight; the real
/// server's own window comes with its first segment).
pub const WINDOW: u16 = 14600;

/// The TTL (hop limit) of the SYN-ACK the director sends.
const TTL: u8 = 64;

/// A TOA-carrying ACK is 48 to 76 bytes: any port's MTU takes it.
const TOA_MTU: u16 = 1280;

/// A segment the director writes over a packet.
struct Seg {
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    mss: Option<u16>,
}

/// A client's TCP segment as the steps take it: where its IP header starts
/// in the frame and its TCP header (from the IP header), and its flow.
#[derive(Clone, Copy)]
struct ClientSeg<'a, A> {
    l3: usize,
    l4: usize,
    flow: &'a Flow<A>,
}

/// The family's MSS table, and its MSS when a SYN has none (RFC 9293's
/// 536, IPv6's 1220).
fn mss_table<A: Wire>() -> (&'static [u16; 4], u16) {
    if A::IPV6 {
        (&MSS_V6, 1220)
    } else {
        (&MSS_V4, 536)
    }
}

/// Turn the TCP packet at `l3` (its TCP header `l4` bytes further) into
/// `seg`, sent back to where it came from when `swap`: addresses and
/// ports exchanged, a fresh TTL. The frame's length, the IP length and the
/// checksums follow. False when the frame cannot take it.
fn write_segment<A: Wire, F: Frame>(
    frame: &mut F,
    l3: usize,
    l4: usize,
    swap: bool,
    seg: &Seg,
) -> bool {
    let tcp_len = tcp::HEADER_LEN_MIN + if seg.mss.is_some() { 4 } else { 0 };
    if !frame.set_len(l3 + l4 + tcp_len) {
        return false;
    }
    let ip = &mut frame.bytes_mut()[l3..];
    let (src, dst) = if A::IPV6 {
        let mut p = Ipv6Packet::new_unchecked(&mut *ip);
        let (mut s, mut d) = (p.src(), p.dst());
        if swap {
            std::mem::swap(&mut s, &mut d);
            p.set_src(s);
            p.set_dst(d);
            p.set_hop_limit(TTL);
        }
        p.set_payload_len((l4 - crate::wire::ipv6::HEADER_LEN + tcp_len) as u16);
        (IpAddr::V6(s), IpAddr::V6(d))
    } else {
        let mut p = Ipv4Packet::new_unchecked(&mut *ip);
        let (mut s, mut d) = (p.src(), p.dst());
        if swap {
            std::mem::swap(&mut s, &mut d);
            p.set_src(s);
            p.set_dst(d);
            p.set_ttl(TTL);
        }
        p.set_total_len((l4 + tcp_len) as u16);
        p.fill_checksum();
        (IpAddr::V4(s), IpAddr::V4(d))
    };
    let seg_bytes = &mut ip[l4..l4 + tcp_len];
    // Data offset, reserved bits and NS cleared; set below.
    seg_bytes[12] = 0;
    let mut t = TcpPacket::new_unchecked(seg_bytes);
    if swap {
        let (sp, dp) = (t.src_port(), t.dst_port());
        t.set_src_port(dp);
        t.set_dst_port(sp);
    }
    t.set_seq(seg.seq);
    t.set_ack_number(seg.ack);
    t.set_header_len(tcp_len);
    t.set_flags(seg.flags);
    t.set_window(seg.window);
    t.set_urgent(0);
    if let Some(m) = seg.mss {
        let [hi, lo] = m.to_be_bytes();
        t.options_mut()
            .copy_from_slice(&[tcp::option::MSS, 4, hi, lo]);
    }
    t.fill_checksum(src, dst);
    true
}

/// The MSS option of the TCP header at `at`, if any.
fn client_mss<F: Frame>(frame: &mut F, at: usize) -> Option<u16> {
    let mut mss = None;
    let mut t = TcpPacket::new_unchecked(&mut frame.bytes_mut()[at..]);
    tcp::walk_options(t.options_mut(), |kind, data| {
        if kind == tcp::option::MSS && data.len() == 2 {
            mss = Some(u16::from_be_bytes([data[0], data[1]]));
        }
    });
    mss
}

/// What the cookie of `flow`'s client with ISN `isn` is made from.
fn cookie_input<A: Wire>(flow: &Flow<A>, isn: u32) -> CookieInput<A> {
    CookieInput {
        caddr: flow.key.caddr,
        vaddr: flow.key.vaddr,
        cport: flow.key.cport,
        vport: flow.key.vport,
        isn,
    }
}

/// Add `delta` to the sequence number (`ack` false) or the acknowledgement
/// number (`ack` true) of the TCP header at `at`, the checksum updated.
fn shift<F: Frame>(frame: &mut F, at: usize, ack: bool, delta: u32) {
    let mut t = TcpPacket::new_unchecked(&mut frame.bytes_mut()[at..]);
    let old = if ack { t.ack_number() } else { t.seq() };
    let new = old.wrapping_add(delta);
    if ack {
        t.set_ack_number(new);
    } else {
        t.set_seq(new);
    }
    let sum = update_u32(t.checksum(), old, new);
    t.set_checksum(sum);
}

impl Core {
    /// A TCP segment to a SYN-proxy service, before `conn_for` (`found`:
    /// the index of its entry, as `handle_ip` looked it up): a SYN without
    /// a live entry is answered with a cookie, an ACK without one opens the
    /// connection if its cookie is good. `None`: the segment goes the usual
    /// way (it has a live entry, or is a RST or something else `conn_for`
    /// refuses without one), and no table was changed, so `found` still
    /// holds for `conn_for_found`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn synproxy_in<A: Ip + Tables, F: Frame>(
        &mut self,
        snap: &Snapshot,
        service: &Service,
        frame: &mut F,
        l3: usize,
        l4: usize,
        flow: &Flow<A>,
        found: Option<usize>,
        now_ms: u64,
    ) -> Option<Verdict> {
        let f = flow.tcp_flags;
        if f & tcp::flags::RST != 0 {
            return None;
        }
        // A closing entry: a SYN may open the port anew, but an ACK
        // without a good cookie is the old connection's (its last ACK).
        let mut closing = false;
        if let Some(i) = found {
            let c = A::conns(self).get(i);
            if c.expires_ms > now_ms {
                if !matches!(c.state(), State::TimeWait | State::Close) {
                    return None;
                }
                closing = true;
            }
        }
        let client = ClientSeg { l3, l4, flow };
        match (f & tcp::flags::SYN != 0, f & tcp::flags::ACK != 0) {
            (true, false) => Some(self.synproxy_syn::<A, F>(snap, service, frame, client)),
            // A SYN-ACK to a VIP opens nothing.
            (true, true) => Some(self.count(Counter::DropTcpNoConn)),
            (false, true) => {
                self.synproxy_open::<A, F>(snap, service, frame, client, now_ms, closing)
            }
            (false, false) => None,
        }
    }

    /// Step 1: the SYN-ACK with a cookie, in place of the client's SYN.
    fn synproxy_syn<A: Ip, F: Frame>(
        &mut self,
        snap: &Snapshot,
        service: &Service,
        frame: &mut F,
        client: ClientSeg<A>,
    ) -> Verdict {
        let ClientSeg { l3, l4, flow } = client;
        let Some(mac) = snap.ports.get(usize::from(flow.in_port)).map(|p| p.mac) else {
            return self.count(Counter::DropNotForUs);
        };
        let (table, default) = mss_table::<A>();
        let mss = client_mss(frame, l3 + l4).unwrap_or(default);
        let idx = cookie::mss_index(table, mss);
        let isn = cookie::make(&self.syn_keys, &cookie_input(flow, flow.seq), idx);
        // The PROXY header goes in front of the client's first segment: it
        // must still fit the real server's MSS.
        let pp2 = if service.proxy_protocol {
            proxy::header_len(A::IPV6) as u16
        } else {
            0
        };
        let seg = Seg {
            seq: isn,
            ack: flow.seq.wrapping_add(1),
            flags: tcp::flags::SYN | tcp::flags::ACK,
            window: WINDOW,
            mss: Some(table[usize::from(idx)] - pp2),
        };
        if !write_segment::<A, F>(frame, l3, l4, true, &seg) {
            return self.count(Counter::DropNoMbuf);
        }
        let mut eth = EthernetFrame::new_unchecked(frame.bytes_mut());
        eth.set_dst(flow.peer_mac);
        eth.set_src(mac);
        self.stats.count(Counter::SynproxyCookieSent);
        Verdict::Reply
    }

    /// Step 2: the client's ACK; a good cookie makes the connection and
    /// the SYN to the real server. A bad one is dropped, or goes the usual
    /// way (`None`) when a `closing` entry has the tuple (its last ACK).
    fn synproxy_open<A: Ip + Tables, F: Frame>(
        &mut self,
        snap: &Snapshot,
        service: &Service,
        frame: &mut F,
        client: ClientSeg<A>,
        now_ms: u64,
        closing: bool,
    ) -> Option<Verdict> {
        let ClientSeg { l3, l4, flow } = client;
        let ack = TcpPacket::new_unchecked(&frame.bytes()[l3 + l4..]).ack_number();
        let isn = flow.seq.wrapping_sub(1);
        let sent = ack.wrapping_sub(1);
        if cookie::check(&self.syn_keys, &cookie_input(flow, isn), sent).is_none() {
            return (!closing).then(|| self.count(Counter::SynproxyAckBad));
        }
        self.stats.count(Counter::SynproxyAckValid);
        let syn = Flow {
            tcp_flags: tcp::flags::SYN,
            seq: isn,
            ..*flow
        };
        let t = match self.conn_for::<A>(snap, service, &syn, now_ms) {
            Ok(t) => t,
            Err(c) => return Some(self.count(c)),
        };
        if !matches!(t.forward, Forward::Masq | Forward::FullNat) {
            // The admin API refuses DR and TUN dests in a SYN-proxy service.
            return Some(self.count(Counter::DropTcpNoConn));
        }
        if let Some(i) = A::conns(self).find(&flow.key) {
            A::conns(self).get_mut(i).flags |= flags::SYNPROXY;
            let e: &mut ConnExt<A> = A::conns(self).ext_mut(i);
            e.sp = SP_WAIT;
            e.sp_seq = sent;
            e.isn = isn;
        }
        self.stats.count(Counter::SynproxyConn);
        let t = Target {
            sp: SP_WAIT,
            sp_seq: sent,
            isn,
            ..t
        };
        let client = ClientSeg {
            flow: &syn,
            ..client
        };
        Some(self.synproxy_send_syn::<A, F>(snap, frame, client, t, service.slot))
    }

    /// The SYN to the real server, written over a client's segment: the
    /// client's ISN and the MSS its cookie carries (TOA for FullNAT).
    fn synproxy_send_syn<A: Ip, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        client: ClientSeg<A>,
        t: Target<A>,
        service_slot: u32,
    ) -> Verdict {
        let ClientSeg { l3, l4, flow } = client;
        let (table, _) = mss_table::<A>();
        let window = TcpPacket::new_unchecked(&frame.bytes()[l3 + l4..]).window();
        let seg = Seg {
            seq: t.isn,
            ack: 0,
            flags: tcp::flags::SYN,
            window,
            mss: Some(table[usize::from(cookie::cookie_mss_index(t.sp_seq))]),
        };
        if !write_segment::<A, F>(frame, l3, l4, false, &seg) {
            return self.count(Counter::DropNoMbuf);
        }
        let syn = Flow {
            tcp_flags: tcp::flags::SYN,
            seq: t.isn,
            l3_len: (l4 + tcp::HEADER_LEN_MIN + 4) as u16,
            ..*flow
        };
        let t = Target {
            toa: t.forward == Forward::FullNat && !t.pp2,
            ..t
        };
        self.forward(snap, frame, l3, t, service_slot, &syn)
    }

    /// A client's segment of a SYN-proxy connection (`t.sp` set), after
    /// `conn_for`: while the real server has not answered, it becomes the
    /// SYN again (its data left for the client to send again); once it
    /// has, its acknowledgement moves into the real server's numbers.
    /// `Some` when it was sent as a SYN.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn synproxy_client<A: Ip, F: Frame>(
        &mut self,
        snap: &Snapshot,
        frame: &mut F,
        l3: usize,
        l4: usize,
        t: Target<A>,
        service_slot: u32,
        flow: &Flow<A>,
    ) -> Option<Verdict> {
        match t.sp {
            SP_WAIT if flow.tcp_flags & tcp::flags::RST == 0 => {
                self.stats.count(Counter::SynproxySynResent);
                let client = ClientSeg { l3, l4, flow };
                Some(self.synproxy_send_syn::<A, F>(snap, frame, client, t, service_slot))
            }
            SP_SHIFT if flow.tcp_flags & tcp::flags::ACK != 0 => {
                shift(frame, l3 + l4, true, t.sp_seq.wrapping_neg());
                None
            }
            _ => None,
        }
    }

    /// A real server's segment of SYN-proxy connection `c` (entry `ci`,
    /// `ext.sp` set): its SYN-ACK becomes the handshake's ACK back to it
    /// (`Some`); other segments move into the client's numbers.
    pub(super) fn synproxy_server<A: Ip + Tables, F: Frame>(
        &mut self,
        frame: &mut F,
        l3: usize,
        (ci, c, ext): (usize, &Conn<A>, &ConnExt<A>),
        tcp_flags: u8,
    ) -> Option<Verdict> {
        let l4 = if A::IPV6 {
            crate::wire::ipv6::HEADER_LEN
        } else {
            Ipv4Packet::new_unchecked(&frame.bytes()[l3..]).header_len()
        };
        let (seq, ack) = {
            let t = TcpPacket::new_unchecked(&frame.bytes()[l3 + l4..]);
            (t.seq(), t.ack_number())
        };
        let syn_ack = tcp::flags::SYN | tcp::flags::ACK;
        if tcp_flags & syn_ack == syn_ack {
            if ext.sp == SP_WAIT {
                let e = A::conns(self).ext_mut(ci);
                e.sp = SP_SHIFT;
                e.sp_seq = ext.sp_seq.wrapping_sub(seq);
            }
            let seg = Seg {
                seq: ack,
                ack: seq.wrapping_add(1),
                flags: tcp::flags::ACK,
                window: WINDOW,
                mss: None,
            };
            if !write_segment::<A, F>(frame, l3, l4, true, &seg) {
                return Some(self.count(Counter::DropNoMbuf));
            }
            if c.forward == Forward::FullNat as u8 && !ext.pp2 {
                self.insert_toa::<F, A>(frame, l3, &c.key, tcp::flags::ACK, TOA_MTU);
            }
            let mut eth = EthernetFrame::new_unchecked(frame.bytes_mut());
            let (src, dst) = (eth.src(), eth.dst());
            eth.set_src(dst);
            eth.set_dst(src);
            return Some(Verdict::Reply);
        }
        match ext.sp {
            SP_SHIFT => shift(frame, l3 + l4, false, ext.sp_seq),
            // The real server refused: the client's reset must be in its
            // window, the cookie's.
            SP_WAIT if tcp_flags & tcp::flags::RST != 0 => shift(
                frame,
                l3 + l4,
                false,
                ext.sp_seq.wrapping_add(1).wrapping_sub(seq),
            ),
            _ => {}
        }
        None
    }
}
