//! Per-core counters (a counter for every verdict and every drop reason) and
//! per-core service/dest statistics indexed by stable slots.
//!
//! Contract: each [`CoreStats`] has exactly one writer, its worker, which
//! bumps with a relaxed load and store (no read-modify-write atomics, no
//! locks); the control thread reads every core's values and sums them. A
//! reader may see a value one packet old, never a torn one.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

macro_rules! counters {
    ($($name:ident => $text:literal,)*) => {
        /// Every verdict and drop reason the pipeline counts.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(usize)]
        pub enum Counter { $($name,)* }

        impl Counter {
            pub const ALL: &'static [Counter] = &[$(Counter::$name,)*];
            pub const COUNT: usize = Counter::ALL.len();

            /// The name the admin API and logs use.
            pub fn name(self) -> &'static str {
                match self { $(Counter::$name => $text,)* }
            }
        }
    };
}

counters! {
    RxPackets => "rx_packets",
    TxPackets => "tx_packets",
    ForwardDr => "forward_dr",
    ForwardStateless => "forward_stateless",
    ForwardNat => "forward_nat",
    ForwardNatReply => "forward_nat_reply",
    ForwardTunnel => "forward_tunnel",
    ForwardFullNat => "forward_fullnat",
    ForwardFullNatReply => "forward_fullnat_reply",
    XlatTranslated => "xlat_translated",
    DropXlat => "drop_xlat",
    DropXlatTooBig => "drop_xlat_too_big",
    ToaInserted => "toa_inserted",
    ToaNoRoom => "toa_no_room",
    ProxyHeaderInserted => "proxy_header_inserted",
    ProxyNoRoom => "proxy_no_room",
    ArpReplied => "arp_replied",
    IcmpEchoReplied => "icmp_echo_replied",
    IcmpUnreachableSent => "icmp_unreachable_sent",
    IcmpFragNeededSent => "icmp_frag_needed_sent",
    IcmpErrorForwarded => "icmp_error_forwarded",
    IcmpRateLimitedGlobal => "icmp_ratelimit_global",
    IcmpRateLimitedHost => "icmp_ratelimit_host",
    ToException => "to_exception",
    FromException => "from_exception",
    HandedOff => "handed_off",
    ConnCreated => "conn_created",
    ConnExpired => "conn_expired",
    ConnReused => "conn_reused",
    ConnOnePacket => "conn_one_packet",
    ConnNodestExpired => "conn_nodest_expired",
    ConnAdopted => "conn_adopted",
    TemplateCreated => "template_created",
    TemplateExpired => "template_expired",
    ConnTableFull => "conn_table_full",
    SyncQueued => "sync_queued",
    SyncRingFull => "sync_ring_full",
    SyncInstalled => "sync_installed",
    SyncUpdated => "sync_updated",
    SyncStale => "sync_stale",
    SyncNoDest => "sync_no_dest",
    SyncUnplaceable => "sync_unplaceable",
    SyncTableFull => "sync_table_full",
    NeighEventLost => "neigh_event_lost",
    DropEthernetTruncated => "drop_ethernet_truncated",
    DropVlanTruncated => "drop_vlan_truncated",
    DropArpTruncated => "drop_arp_truncated",
    DropArpUnsupported => "drop_arp_unsupported",
    DropIpv4Truncated => "drop_ipv4_truncated",
    DropIpv4BadVersion => "drop_ipv4_bad_version",
    DropIpv4BadHeaderLength => "drop_ipv4_bad_header_length",
    DropIpv4BadTotalLength => "drop_ipv4_bad_total_length",
    DropIpv4BadChecksum => "drop_ipv4_bad_checksum",
    DropIpv6Truncated => "drop_ipv6_truncated",
    DropIpv6BadVersion => "drop_ipv6_bad_version",
    DropIpv6BadPayloadLength => "drop_ipv6_bad_payload_length",
    DropTcpTruncated => "drop_tcp_truncated",
    DropTcpBadDataOffset => "drop_tcp_bad_data_offset",
    DropUdpTruncated => "drop_udp_truncated",
    DropUdpBadLength => "drop_udp_bad_length",
    DropIcmpTruncated => "drop_icmp_truncated",
    DropIcmpv6Truncated => "drop_icmpv6_truncated",
    DropNdpTruncated => "drop_ndp_truncated",
    DropNotForUs => "drop_not_for_us",
    DropLoopedBack => "drop_looped_back",
    DropVipNoService => "drop_vip_no_service",
    DropTcpNoConn => "drop_tcp_no_conn",
    DropDestUnavailable => "drop_dest_unavailable",
    DropNoDest => "drop_no_dest",
    DropNeighUnresolved => "drop_neigh_unresolved",
    DropTxFull => "drop_tx_full",
    DropExceptionFull => "drop_exception_full",
    DropHandoffFull => "drop_handoff_full",
    DropNoMbuf => "drop_no_mbuf",
    DropNatTableFull => "drop_nat_table_full",
    DropTunnelTooBig => "drop_tunnel_too_big",
    DropLaddrExhausted => "drop_laddr_exhausted",
    DropMultiSegment => "drop_multi_segment",
    DefenseDropPacket => "defense_drop_packet",
    DefenseDropEntry => "defense_drop_entry",
    DropIpv6ExtTruncated => "drop_ipv6_ext_truncated",
    DropIpv6ExtMalformed => "drop_ipv6_ext_malformed",
    DropIpv6ExtTooMany => "drop_ipv6_ext_too_many",
    DropIpv6RoutingHeader => "drop_ipv6_routing_header",
    FragFirst => "frag_first",
    FragFollowed => "frag_followed",
    FragHeld => "frag_held",
    FragReleased => "frag_released",
    FragEvicted => "frag_evicted",
    DropFragHoldFull => "drop_frag_hold_full",
    DropFragHoldTooBig => "drop_frag_hold_too_big",
    DropFragHoldTimeout => "drop_frag_hold_timeout",
    DropFragNoEntry => "drop_frag_no_entry",
    DropFragTiny => "drop_frag_tiny",
    DropFragUnsupported => "drop_frag_unsupported",
    TunnelFragmented => "tunnel_fragmented",
    DropFragTooLong => "drop_frag_too_long",
    DropSctpTruncated => "drop_sctp_truncated",
    DropSctpBadChunkLength => "drop_sctp_bad_chunk_length",
    DropSctpNoConn => "drop_sctp_no_conn",
    SynproxyCookieSent => "synproxy_cookie_sent",
    SynproxyAckValid => "synproxy_ack_valid",
    SynproxyAckBad => "synproxy_ack_bad",
    SynproxyConn => "synproxy_conn",
    SynproxySynResent => "synproxy_syn_resent",
}

impl From<crate::wire::Malformed> for Counter {
    fn from(m: crate::wire::Malformed) -> Counter {
        use crate::wire::Malformed as M;
        match m {
            M::EthernetTruncated => Counter::DropEthernetTruncated,
            M::VlanTruncated => Counter::DropVlanTruncated,
            M::ArpTruncated => Counter::DropArpTruncated,
            M::ArpUnsupported => Counter::DropArpUnsupported,
            M::Ipv4Truncated => Counter::DropIpv4Truncated,
            M::Ipv4BadVersion => Counter::DropIpv4BadVersion,
            M::Ipv4BadHeaderLength => Counter::DropIpv4BadHeaderLength,
            M::Ipv4BadTotalLength => Counter::DropIpv4BadTotalLength,
            M::Ipv6Truncated => Counter::DropIpv6Truncated,
            M::Ipv6BadVersion => Counter::DropIpv6BadVersion,
            M::Ipv6BadPayloadLength => Counter::DropIpv6BadPayloadLength,
            M::Ipv6ExtTruncated => Counter::DropIpv6ExtTruncated,
            M::Ipv6ExtMalformed => Counter::DropIpv6ExtMalformed,
            M::Ipv6ExtTooMany => Counter::DropIpv6ExtTooMany,
            M::TcpTruncated => Counter::DropTcpTruncated,
            M::TcpBadDataOffset => Counter::DropTcpBadDataOffset,
            M::UdpTruncated => Counter::DropUdpTruncated,
            M::UdpBadLength => Counter::DropUdpBadLength,
            M::SctpTruncated => Counter::DropSctpTruncated,
            M::SctpBadChunkLength => Counter::DropSctpBadChunkLength,
            M::IcmpTruncated => Counter::DropIcmpTruncated,
            M::Icmpv6Truncated => Counter::DropIcmpv6Truncated,
            M::NdpTruncated => Counter::DropNdpTruncated,
        }
    }
}

/// Bump a single-writer counter.
#[inline(always)]
pub fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

/// Lower a single-writer gauge (wrapping: the sum over cores is exact).
#[inline(always)]
pub fn lower(c: &AtomicU64, n: u64) {
    c.store(c.load(Relaxed).wrapping_sub(n), Relaxed);
}

/// Statistics of one service or dest on one core.
#[derive(Default, Debug)]
pub struct SlotStats {
    pub conns: AtomicU64,
    pub in_pkts: AtomicU64,
    pub in_bytes: AtomicU64,
    pub out_pkts: AtomicU64,
    pub out_bytes: AtomicU64,
    /// Gauges: entries on this core in an active / inactive state.
    pub active: AtomicU64,
    pub inactive: AtomicU64,
    /// Gauge: persistence templates on this core pointing at the dest.
    pub persist: AtomicU64,
}

/// A plain copy of [`SlotStats`], summed over cores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotTotals {
    pub conns: u64,
    pub in_pkts: u64,
    pub in_bytes: u64,
    pub out_pkts: u64,
    pub out_bytes: u64,
    pub active: u64,
    pub inactive: u64,
    pub persist: u64,
}

impl SlotTotals {
    pub fn add(&mut self, s: &SlotStats) {
        self.conns = self.conns.wrapping_add(s.conns.load(Relaxed));
        self.in_pkts = self.in_pkts.wrapping_add(s.in_pkts.load(Relaxed));
        self.in_bytes = self.in_bytes.wrapping_add(s.in_bytes.load(Relaxed));
        self.out_pkts = self.out_pkts.wrapping_add(s.out_pkts.load(Relaxed));
        self.out_bytes = self.out_bytes.wrapping_add(s.out_bytes.load(Relaxed));
        self.active = self.active.wrapping_add(s.active.load(Relaxed));
        self.inactive = self.inactive.wrapping_add(s.inactive.load(Relaxed));
        self.persist = self.persist.wrapping_add(s.persist.load(Relaxed));
    }

    /// Traffic counters minus a baseline taken at the last zeroing; gauges
    /// are not zeroed.
    pub fn since(&self, base: &SlotTotals) -> SlotTotals {
        SlotTotals {
            conns: self.conns.wrapping_sub(base.conns),
            in_pkts: self.in_pkts.wrapping_sub(base.in_pkts),
            in_bytes: self.in_bytes.wrapping_sub(base.in_bytes),
            out_pkts: self.out_pkts.wrapping_sub(base.out_pkts),
            out_bytes: self.out_bytes.wrapping_sub(base.out_bytes),
            active: self.active,
            inactive: self.inactive,
            persist: self.persist,
        }
    }
}

/// The most FullNAT local addresses a dataplane holds (over all services).
pub const LADDR_SLOTS_MAX: usize = 64;

/// What one core counts of one FullNAT local address.
#[derive(Default, Debug)]
pub struct LaddrStats {
    /// Gauge: this core's connections holding one of its ports.
    pub used: AtomicU64,
    /// New connections that found all of this core's ports of it taken.
    pub exhausted: AtomicU64,
}

/// Everything one worker counts.
pub struct CoreStats {
    pub counters: [AtomicU64; Counter::COUNT],
    /// Time-stamp counter cycles of the worker's poll loop, and of the
    /// iterations that had work (the worker stores, the control thread
    /// reads: the busy ratio).
    pub cycles: AtomicU64,
    pub busy_cycles: AtomicU64,
    pub slots: Box<[SlotStats]>,
    /// By local-address slot.
    pub laddrs: [LaddrStats; LADDR_SLOTS_MAX],
    /// The defence level in force on this core
    /// ([`crate::conn::defense::Level`], packed by [`pack_level`]) and its
    /// table occupancy in millionths, as the worker last judged them.
    pub defense_level: AtomicU64,
    pub occupancy_ppm: AtomicU64,
}

/// A [`crate::conn::defense::Level`] as one word: bit 0 pressure, bit 1
/// drop_entry, bit 2 secure_tcp, bits 32.. the drop rate.
pub fn pack_level(l: &crate::conn::defense::Level) -> u64 {
    u64::from(l.pressure)
        | u64::from(l.drop_entry) << 1
        | u64::from(l.secure_tcp) << 2
        | u64::from(l.drop_rate) << 32
}

/// The inverse of [`pack_level`].
pub fn unpack_level(v: u64) -> crate::conn::defense::Level {
    crate::conn::defense::Level {
        pressure: v & 1 != 0,
        drop_entry: v & 2 != 0,
        secure_tcp: v & 4 != 0,
        drop_rate: (v >> 32) as u32,
    }
}

impl CoreStats {
    /// Sized once: `slots_max` service and dest slots.
    pub fn new(slots_max: usize) -> Self {
        CoreStats {
            counters: std::array::from_fn(|_| AtomicU64::new(0)),
            cycles: AtomicU64::new(0),
            busy_cycles: AtomicU64::new(0),
            slots: (0..slots_max).map(|_| SlotStats::default()).collect(),
            laddrs: std::array::from_fn(|_| LaddrStats::default()),
            defense_level: AtomicU64::new(0),
            occupancy_ppm: AtomicU64::new(0),
        }
    }

    #[inline(always)]
    pub fn count(&self, c: Counter) {
        bump(&self.counters[c as usize], 1);
    }

    #[inline(always)]
    pub fn count_n(&self, c: Counter, n: u64) {
        bump(&self.counters[c as usize], n);
    }

    pub fn get(&self, c: Counter) -> u64 {
        self.counters[c as usize].load(Relaxed)
    }
}

/// The OVERLOAD flag of every dest slot (`spec/schedulers.md` §15), shared
/// by all cores: any core may set or clear it when it binds or unbinds a
/// connection (a plain store, no read-modify-write), the control thread
/// clears it when an edit raises or removes the upper threshold and when a
/// slot gets a new owner.
#[derive(Debug)]
pub struct OverloadFlags {
    flags: Box<[std::sync::atomic::AtomicBool]>,
}

impl OverloadFlags {
    pub fn new(slots_max: usize) -> Self {
        OverloadFlags {
            flags: (0..slots_max)
                .map(|_| std::sync::atomic::AtomicBool::new(false))
                .collect(),
        }
    }

    #[inline]
    pub fn get(&self, slot: u32) -> bool {
        self.flags
            .get(slot as usize)
            .is_some_and(|f| f.load(Relaxed))
    }

    #[inline]
    pub fn set(&self, slot: u32, on: bool) {
        if let Some(f) = self.flags.get(slot as usize) {
            f.store(on, Relaxed);
        }
    }
}

/// (connections using it, exhaustion events) of local-address slot `slot`,
/// over cores.
pub fn laddr_total(cores: &[std::sync::Arc<CoreStats>], slot: usize) -> (u64, u64) {
    cores
        .iter()
        .fold((0, 0), |(u, e), c| match c.laddrs.get(slot) {
            Some(l) => (
                u.wrapping_add(l.used.load(Relaxed)),
                e.wrapping_add(l.exhausted.load(Relaxed)),
            ),
            None => (u, e),
        })
}

/// Sum of a counter over cores.
pub fn total(cores: &[std::sync::Arc<CoreStats>], c: Counter) -> u64 {
    cores.iter().map(|s| s.get(c)).fold(0, u64::wrapping_add)
}

/// Sum of a slot over cores.
pub fn slot_total(cores: &[std::sync::Arc<CoreStats>], slot: u32) -> SlotTotals {
    let mut t = SlotTotals::default();
    for core in cores {
        if let Some(s) = core.slots.get(slot as usize) {
            t.add(s);
        }
    }
    t
}

/// IPVS's rate estimator (`ip_vs_est.c`), fed every [`ESTIMATE_EVERY_MS`]
/// from the totals over all cores: each rate is a moving average with weight
/// 1/4 per sample (about 8 s of memory), kept in fixed point (connections
/// and packets ×2^10 per second, bytes ×2^5) as the kernel keeps it, so the
/// figures round the same way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Estimator {
    last: Option<SlotTotals>,
    cps: u64,
    in_pps: u64,
    out_pps: u64,
    in_bps: u64,
    out_bps: u64,
}

/// How often the control thread samples (the kernel's 2 s).
pub const ESTIMATE_EVERY_MS: u64 = 2000;

/// What an estimator reads: per second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EstimatedRates {
    pub cps: u64,
    pub in_pps: u64,
    pub out_pps: u64,
    pub in_bps: u64,
    pub out_bps: u64,
}

impl Estimator {
    /// An estimator whose first sample measures from `totals` (a service's
    /// or dest's counters when it was made or zeroed), so traffic right
    /// after it counts.
    pub fn starting_at(totals: &SlotTotals) -> Self {
        Estimator {
            last: Some(*totals),
            ..Estimator::default()
        }
    }

    /// Take a sample: `now` is the counters' totals 2 s after the last one.
    /// The first sample only sets the starting point.
    pub fn sample(&mut self, now: &SlotTotals) {
        let Some(last) = self.last.replace(*now) else {
            return;
        };
        // A delta over 2 s, scaled to per second ×2^10 (<< 9) or ×2^5 (<< 4).
        let step = |avg: &mut u64, delta: u64, shift: u32| {
            let rate = i128::from(delta) << shift;
            let cur = i128::from(*avg);
            *avg = (cur + ((rate - cur) >> 2)).max(0) as u64;
        };
        step(&mut self.cps, now.conns.wrapping_sub(last.conns), 9);
        step(&mut self.in_pps, now.in_pkts.wrapping_sub(last.in_pkts), 9);
        step(
            &mut self.out_pps,
            now.out_pkts.wrapping_sub(last.out_pkts),
            9,
        );
        step(
            &mut self.in_bps,
            now.in_bytes.wrapping_sub(last.in_bytes),
            4,
        );
        step(
            &mut self.out_bps,
            now.out_bytes.wrapping_sub(last.out_bytes),
            4,
        );
    }

    /// The rates, rounded as the kernel reads them.
    pub fn rates(&self) -> EstimatedRates {
        EstimatedRates {
            cps: (self.cps + 0x1ff) >> 10,
            in_pps: (self.in_pps + 0x1ff) >> 10,
            out_pps: (self.out_pps + 0x1ff) >> 10,
            in_bps: (self.in_bps + 0xf) >> 5,
            out_bps: (self.out_bps + 0xf) >> 5,
        }
    }
}

#[cfg(test)]
mod estimator_tests {
    use super::*;

    fn totals(conns: u64, bytes: u64) -> SlotTotals {
        SlotTotals {
            conns,
            in_pkts: conns * 6,
            in_bytes: bytes,
            ..SlotTotals::default()
        }
    }

    #[test]
    fn a_steady_rate_is_reached_and_a_stop_decays() {
        let mut e = Estimator::default();
        e.sample(&totals(0, 0));
        assert_eq!(
            e.rates(),
            EstimatedRates::default(),
            "one sample: no rate yet"
        );
        // 100 connections/s, 600 packets/s, 40000 bytes/s.
        for i in 1..=40u64 {
            e.sample(&totals(200 * i, 80_000 * i));
        }
        let r = e.rates();
        assert_eq!((r.cps, r.in_pps, r.in_bps), (100, 600, 40_000));
        // After the first 2 s, a quarter of the way.
        let mut f = Estimator::default();
        f.sample(&totals(0, 0));
        f.sample(&totals(200, 80_000));
        assert_eq!(f.rates().cps, 25);
        // Traffic stops: the rate decays toward 0.
        for _ in 0..10 {
            e.sample(&totals(200 * 40, 80_000 * 40));
        }
        assert!(e.rates().cps < 10, "{:?}", e.rates());
    }
}
