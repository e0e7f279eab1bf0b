//! The rate limits on the ICMP errors this director sends (port
//! unreachable, fragmentation needed, packet too big), as Linux limits its
//! own (`net/ipv4/icmp.c`, `net/ipv6/icmp.c`):
//!
//! - a type the ratemask leaves out is never limited: by default only
//!   IPv4's destination unreachable, source quench, time exceeded and
//!   parameter problem (`icmp_ratemask` 0x1818), and every ICMPv6 error but
//!   packet too big (`net.ipv6.icmp.ratemask` "0-1,3-127"); IPv4's
//!   fragmentation needed is never limited, whatever the mask (path MTU
//!   discovery must not break: `icmpv4_mask_allow`);
//! - a limited one needs a credit of the global token bucket
//!   (`icmp_msgs_per_sec`, `icmp_msgs_burst`: `icmp_global_allow`), which is
//!   refilled by at most a second's worth and only when empty, at most
//!   every 20 ms;
//! - and a token of its destination's bucket (`icmp_ratelimit` for IPv4,
//!   `net.ipv6.icmp.ratelimit` for IPv6: one message per interval, bursts
//!   of 6: `inet_peer_xrlim_allow`); only a message both allow takes a
//!   global credit (`icmp_global_consume`).
//!
//! Where this differs from the kernel, for a reason: each worker has its
//! own buckets (no lock, no shared cache line on the packet path) and the
//! global rate and burst are split among the workers (rounded up), so the
//! director as a whole sends about what one kernel would; a destination's
//! messages come from the core owning its flows, though one client's flows
//! may sit on several cores. The destinations are a fixed table (direct
//! mapped, [`PEERS`] entries, allocated once): a destination whose entry
//! another took starts afresh with a full burst, as an evicted `inet_peer`
//! does; the global bucket still bounds the total. The kernel takes 0 to 2
//! global credits at random per message (against a side channel on its
//! own sockets' ports); this takes 1, so tests can count. The clock is the
//! pipeline's `now_ms`, never read here.
//!
//! Contract: [`IcmpLimiter::allow`] never allocates, locks or blocks.

/// How many destinations a worker's table holds.
pub const PEERS: usize = 1024;

/// A destination's burst, in intervals (the kernel's `XRLIM_BURST_FACTOR`).
const BURST_FACTOR: u64 = 6;

/// The kernel's `NR_ICMP_TYPES`: IPv4 types above it are never limited.
const NR_ICMP_TYPES: u8 = 18;

/// The least time between two refills of the global bucket (`HZ / 50`).
const REFILL_MIN_MS: u64 = 20;

/// The limits, with the kernel's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpLimits {
    /// `net.ipv4.icmp_ratelimit`: milliseconds per message to one
    /// destination (0: no per-destination limit). Default 1000.
    pub ratelimit_ms: u32,
    /// `net.ipv4.icmp_ratemask`: bit n set limits ICMP type n. Default
    /// 0x1818.
    pub ratemask: u32,
    /// `net.ipv6.icmp.ratelimit`, in milliseconds. Default 100 (the
    /// kernel's since it stopped scaling the interval by the route's prefix
    /// length; 1000 before).
    pub ratelimit6_ms: u32,
    /// `net.ipv6.icmp.ratemask`: bit n (of the 256) set limits ICMPv6 type
    /// n. Default 0-1,3-127.
    pub ratemask6: [u64; 4],
    /// `net.ipv4.icmp_msgs_per_sec` (both families share it, as in the
    /// kernel): the global bucket's refill per second. Default 1000.
    pub msgs_per_sec: u32,
    /// `net.ipv4.icmp_msgs_burst`: the global bucket's size. Default 50.
    pub msgs_burst: u32,
}

/// The kernel's default ICMPv6 ratemask, "0-1,3-127".
pub const RATEMASK6_DEFAULT: [u64; 4] = [!0b100, u64::MAX, 0, 0];

impl Default for IcmpLimits {
    fn default() -> Self {
        IcmpLimits {
            ratelimit_ms: 1000,
            ratemask: 0x1818,
            ratelimit6_ms: 100,
            ratemask6: RATEMASK6_DEFAULT,
            msgs_per_sec: 1000,
            msgs_burst: 50,
        }
    }
}

impl IcmpLimits {
    /// Whether ICMP (`v6` false) or ICMPv6 type `kind`, code `code`, is
    /// limited at all (the kernel's `icmpv4_mask_allow` /
    /// `icmpv6_mask_allow`, negated).
    pub fn limits(&self, v6: bool, kind: u8, code: u8) -> bool {
        if v6 {
            return self.ratemask6[usize::from(kind / 64)] & (1 << (kind % 64)) != 0;
        }
        if kind > NR_ICMP_TYPES {
            return false;
        }
        // Path MTU discovery: destination unreachable, fragmentation needed.
        if kind == 3 && code == 4 {
            return false;
        }
        self.ratemask & (1 << kind) != 0
    }
}

/// Parse a kernel bitmap list ("0-1,3-127"; "" for none) of ICMPv6 types.
pub fn parse_ratemask6(s: &str) -> Result<[u64; 4], String> {
    let mut m = [0u64; 4];
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let num = |v: &str| {
            v.parse::<u8>()
                .map_err(|_| format!("`{part}`: types are 0..255"))
        };
        let (lo, hi) = (num(lo)?, num(hi)?);
        if lo > hi {
            return Err(format!("`{part}`: the range is backwards"));
        }
        for t in lo..=hi {
            m[usize::from(t / 64)] |= 1 << (t % 64);
        }
    }
    Ok(m)
}

/// Why a message was not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limited {
    /// The global bucket was empty (`ICMP_MIB_RATELIMITGLOBAL`).
    Global,
    /// The destination's bucket was (`ICMP_MIB_RATELIMITHOST`).
    Host,
}

#[derive(Clone, Copy, Debug, Default)]
struct Peer {
    /// The destination (an IPv4 one as an IPv4-mapped IPv6 address); 0 is
    /// a free entry (`::` is never a destination of ours).
    addr: u128,
    /// Milliseconds of credit, `interval` per message.
    tokens_ms: u64,
    last_ms: u64,
}

/// One worker's buckets.
#[derive(Debug)]
pub struct IcmpLimiter {
    limits: IcmpLimits,
    /// This worker's share of the global rate and burst.
    per_sec: u64,
    burst: i64,
    credit: i64,
    /// The last refill; the first message's time until then (the bucket
    /// starts full).
    stamp_ms: Option<u64>,
    peers: Box<[Peer]>,
}

impl IcmpLimiter {
    /// The buckets of one of `workers` workers.
    pub fn new(limits: IcmpLimits, workers: u16) -> Self {
        let w = u64::from(workers.max(1));
        let per_sec = u64::from(limits.msgs_per_sec).div_ceil(w);
        let burst = u64::from(limits.msgs_burst).div_ceil(w) as i64;
        IcmpLimiter {
            limits,
            per_sec,
            burst,
            credit: burst,
            stamp_ms: None,
            peers: vec![Peer::default(); PEERS].into_boxed_slice(),
        }
    }

    /// Whether an ICMP (or, `v6`, ICMPv6) error of `kind`/`code` to `dst`
    /// (IPv4 as IPv4-mapped) may be sent at `now_ms`; when it may and is
    /// limited at all, its credit and token are taken.
    pub fn allow(
        &mut self,
        v6: bool,
        kind: u8,
        code: u8,
        dst: u128,
        now_ms: u64,
    ) -> Result<(), Limited> {
        if !self.limits.limits(v6, kind, code) {
            return Ok(());
        }
        if !self.global_allow(now_ms) {
            return Err(Limited::Global);
        }
        let interval = u64::from(if v6 {
            self.limits.ratelimit6_ms
        } else {
            self.limits.ratelimit_ms
        });
        if interval != 0 && !self.peer_allow(dst, interval, now_ms) {
            return Err(Limited::Host);
        }
        self.credit -= 1;
        Ok(())
    }

    /// `icmp_global_allow`: a credit left, or a refill of what the time
    /// since the last one earned (at most a second's, at least 20 ms apart).
    fn global_allow(&mut self, now_ms: u64) -> bool {
        let stamp = *self.stamp_ms.get_or_insert(now_ms);
        if self.credit > 0 {
            return true;
        }
        let delta = now_ms.saturating_sub(stamp).min(1000);
        if delta < REFILL_MIN_MS {
            return false;
        }
        let incr = (self.per_sec * delta / 1000) as i64;
        if incr == 0 {
            return false;
        }
        self.stamp_ms = Some(now_ms);
        self.credit = (self.credit + incr).min(self.burst);
        true
    }

    /// `inet_peer_xrlim_allow` for `dst`'s entry (a new one starts full).
    fn peer_allow(&mut self, dst: u128, interval: u64, now_ms: u64) -> bool {
        let folded = (dst as u64) ^ ((dst >> 64) as u64);
        let slot = (folded.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize % PEERS;
        let cap = BURST_FACTOR * interval;
        let p = &mut self.peers[slot];
        if p.addr != dst {
            *p = Peer {
                addr: dst,
                tokens_ms: cap,
                last_ms: now_ms,
            };
        }
        let tokens = (p.tokens_ms + now_ms.saturating_sub(p.last_ms)).min(cap);
        p.last_ms = now_ms;
        if tokens >= interval {
            p.tokens_ms = tokens - interval;
            true
        } else {
            p.tokens_ms = tokens;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORT_UNREACH: (u8, u8) = (3, 3);
    const FRAG_NEEDED: (u8, u8) = (3, 4);
    const V6_UNREACH: (u8, u8) = (1, 4);
    const V6_TOO_BIG: (u8, u8) = (2, 0);

    fn sent(
        l: &mut IcmpLimiter,
        v6: bool,
        (k, c): (u8, u8),
        dst: u128,
        now: u64,
        n: usize,
    ) -> usize {
        (0..n)
            .filter(|_| l.allow(v6, k, c, dst, now).is_ok())
            .count()
    }

    #[test]
    fn the_default_masks_are_the_kernels() {
        let d = IcmpLimits::default();
        for t in [3u8, 4, 11, 12] {
            assert!(d.limits(false, t, 0), "IPv4 type {t}");
        }
        for t in [0u8, 5, 8, 13, 19, 200] {
            assert!(!d.limits(false, t, 0), "IPv4 type {t}");
        }
        assert!(!d.limits(false, FRAG_NEEDED.0, FRAG_NEEDED.1));
        let all = IcmpLimits {
            ratemask: u32::MAX,
            ..d
        };
        assert!(
            !all.limits(false, FRAG_NEEDED.0, FRAG_NEEDED.1),
            "never PMTU"
        );
        assert_eq!(d.ratemask6, parse_ratemask6("0-1,3-127").unwrap());
        for t in [0u8, 1, 3, 4, 127] {
            assert!(d.limits(true, t, 0), "ICMPv6 type {t}");
        }
        for t in [2u8, 128, 129, 135, 255] {
            assert!(!d.limits(true, t, 0), "ICMPv6 type {t}");
        }
    }

    #[test]
    fn ratemask6_lists() {
        assert_eq!(parse_ratemask6("").unwrap(), [0; 4]);
        assert_eq!(parse_ratemask6("255").unwrap(), [0, 0, 0, 1 << 63]);
        assert_eq!(parse_ratemask6(" 1 , 64-65").unwrap(), [2, 3, 0, 0]);
        assert!(parse_ratemask6("3-1").is_err());
        assert!(parse_ratemask6("256").is_err());
        assert!(parse_ratemask6("a").is_err());
    }

    #[test]
    fn a_destination_gets_a_burst_of_six_then_one_per_interval() {
        let mut l = IcmpLimiter::new(IcmpLimits::default(), 1);
        assert_eq!(sent(&mut l, false, PORT_UNREACH, 7, 5_000, 20), 6);
        assert_eq!(l.allow(false, 3, 3, 7, 5_999), Err(Limited::Host));
        assert_eq!(sent(&mut l, false, PORT_UNREACH, 7, 6_000, 3), 1);
        // Another destination has its own bucket.
        assert_eq!(sent(&mut l, false, PORT_UNREACH, 8, 6_000, 20), 6);
        // Idle for long, the bucket is full again, never fuller.
        assert_eq!(sent(&mut l, false, PORT_UNREACH, 7, 60_000, 20), 6);
        // IPv6's interval is 100 ms.
        assert_eq!(sent(&mut l, true, V6_UNREACH, 9, 60_000, 20), 6);
        assert_eq!(sent(&mut l, true, V6_UNREACH, 9, 60_100, 20), 1);
    }

    #[test]
    fn the_global_bucket_bounds_all_destinations() {
        let mut l = IcmpLimiter::new(IcmpLimits::default(), 1);
        let now = 10_000;
        let ok = (1..=200u128)
            .filter(|d| l.allow(false, 3, 3, *d, now).is_ok())
            .count();
        assert_eq!(ok, 50, "the burst");
        assert_eq!(l.allow(false, 3, 3, 500, now), Err(Limited::Global));
        // Under 20 ms no refill; at 20 ms 1000/s earns 20.
        assert_eq!(l.allow(false, 3, 3, 501, now + 19), Err(Limited::Global));
        let ok = (1000..1100u128)
            .filter(|d| l.allow(false, 3, 3, *d, now + 20).is_ok())
            .count();
        assert_eq!(ok, 20);
        // A second's idle fills it to the burst, not beyond.
        let ok = (2000..2200u128)
            .filter(|d| l.allow(false, 3, 3, *d, now + 5_000).is_ok())
            .count();
        assert_eq!(ok, 50);
    }

    #[test]
    fn unlimited_types_take_nothing() {
        let mut l = IcmpLimiter::new(IcmpLimits::default(), 1);
        assert_eq!(sent(&mut l, false, FRAG_NEEDED, 7, 1_000, 500), 500);
        assert_eq!(sent(&mut l, true, V6_TOO_BIG, 7, 1_000, 500), 500);
        // Neither bucket was touched.
        assert_eq!(sent(&mut l, false, PORT_UNREACH, 7, 1_000, 20), 6);
    }

    #[test]
    fn a_refused_destination_takes_no_global_credit() {
        let mut l = IcmpLimiter::new(IcmpLimits::default(), 1);
        assert_eq!(sent(&mut l, false, PORT_UNREACH, 7, 1_000, 1000), 6);
        let ok = (100..200u128)
            .filter(|d| l.allow(false, 3, 3, *d, 1_000).is_ok())
            .count();
        assert_eq!(ok, 44, "50 less the 6 sent");
    }

    #[test]
    fn zero_interval_and_the_workers_share() {
        let limits = IcmpLimits {
            ratelimit_ms: 0,
            ..IcmpLimits::default()
        };
        // Four workers: 50 / 4 rounded up is 13 each.
        let mut l = IcmpLimiter::new(limits, 4);
        assert_eq!(sent(&mut l, false, PORT_UNREACH, 7, 1_000, 100), 13);
    }
}
