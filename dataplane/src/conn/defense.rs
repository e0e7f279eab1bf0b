//! IPVS's defence strategies against a full connection table
//! (`ip_vs_ctl.c`'s `update_defense_level`, `ip_vs_todrop`, and
//! `ip_vs_conn.c`'s `ip_vs_random_dropentry`), per core and as data.
//!
//! Contract:
//! - IPVS's "available memory below `amemthresh`" is a core's table with
//!   fewer than `amemthresh` percent of its entries free ([`pressure`]);
//!   the worker judges it once a second, between bursts, from its own
//!   tables ([`level`]), never on the packet path;
//! - each strategy's mode is IPVS's: 0 off, 1 and 2 automatic (on under
//!   pressure; IPVS writes 2 while on, 1 after, and a written 2 behaves as
//!   1), 3 always;
//! - `drop_packet` drops one in `rate` new-connection packets
//!   ([`DropCounter`], IPVS's countdown): automatic, `rate` is
//!   `thresh / (thresh - free)` (1 in many near the threshold, all at a
//!   full table), always, `am_droprate`;
//! - `drop_entry` removes half-open TCP entries (SYN_RECV, SYNACK) from a
//!   1/32 slice of the table each second, starting at a pseudo-random slot
//!   ([`DropEntryWalk`]); established and closing entries, UDP entries and
//!   templates are never touched (the kernel also thins out young
//!   established entries of few packets: rvs does not);
//! - `secure_tcp` switches the state table to the kernel's
//!   `tcp_states_dos` (`state::tcp_transition_in`); the per-state timeouts
//!   stay those of `--set` and the defaults, as in current kernels (Linux
//!   2.4's separate, shorter DoS timeout table is long gone).

use rvs_api::Defense;

/// Whether a table of `len` live entries out of `max` is under pressure,
/// and if so (threshold, free) in entries.
pub fn pressure(d: &Defense, len: usize, max: usize) -> Option<(u64, u64)> {
    let max = max as u64;
    let free = max.saturating_sub(len as u64);
    let thresh = max * u64::from(d.amemthresh) / 100;
    (free < thresh).then_some((thresh, free))
}

/// What is in force on a core.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Level {
    /// The core's table is under pressure.
    pub pressure: bool,
    pub drop_entry: bool,
    /// Drop one in this many new connections (0: none).
    pub drop_rate: u32,
    pub secure_tcp: bool,
}

/// IPVS's `update_defense_level` for a table of `len` entries out of `max`.
pub fn level(d: &Defense, len: usize, max: usize) -> Level {
    let p = pressure(d, len, max);
    let on = |mode: u8| match mode {
        0 => false,
        3 => true,
        _ => p.is_some(),
    };
    let drop_rate = match (d.drop_packet, p) {
        (0, _) => 0,
        (3, _) => d.am_droprate.max(1),
        (_, Some((thresh, free))) => {
            // thresh > free here, so the divisor is at least 1.
            (thresh / (thresh - free)).clamp(1, u64::from(u32::MAX)) as u32
        }
        (_, None) => 0,
    };
    Level {
        pressure: p.is_some(),
        drop_entry: on(d.drop_entry),
        drop_rate,
        secure_tcp: on(d.secure_tcp),
    }
}

/// The more pressed of a core's two tables (IPv4, IPv6): `(len, max)` of
/// the one with the smaller free share.
pub fn fuller(a: (usize, usize), b: (usize, usize)) -> (usize, usize) {
    let free = |(len, max): (usize, usize)| (max.saturating_sub(len) as u128, max.max(1) as u128);
    let (fa, ma) = free(a);
    let (fb, mb) = free(b);
    if fa * mb <= fb * ma {
        a
    } else {
        b
    }
}

/// IPVS's `ip_vs_todrop`: a countdown from the rate (restarted when the
/// rate changes, as `update_defense_level` does); the packet that brings it
/// to zero is dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropCounter {
    rate: u32,
    left: u32,
}

impl DropCounter {
    /// Whether this new connection's packet is dropped at `rate` (0: never).
    #[inline]
    pub fn todrop(&mut self, rate: u32) -> bool {
        if rate == 0 {
            return false;
        }
        if rate != self.rate {
            self.rate = rate;
            self.left = rate;
        }
        self.left = self.left.saturating_sub(1);
        if self.left > 0 {
            return false;
        }
        self.left = rate;
        true
    }
}

/// Where `drop_entry`'s next slice starts: a xorshift over the slots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DropEntryWalk {
    state: u64,
}

/// The most slots one slice examines (a 1/32 slice of larger tables is
/// cut to this: bounded work between two bursts).
pub const DROP_ENTRY_SLICE_MAX: usize = 1 << 16;

impl DropEntryWalk {
    pub fn new(seed: u64) -> Self {
        DropEntryWalk { state: seed | 1 }
    }

    /// The next slice of a table of `slots` slots: (first slot, length).
    pub fn next_slice(&mut self, slots: usize) -> (usize, usize) {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        if slots == 0 {
            return (0, 0);
        }
        let len = (slots / 32).clamp(1, DROP_ENTRY_SLICE_MAX);
        ((x % slots as u64) as usize, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(drop_entry: u8, drop_packet: u8, secure_tcp: u8) -> Defense {
        Defense {
            drop_entry,
            drop_packet,
            secure_tcp,
            amemthresh: 10,
            am_droprate: 10,
        }
    }

    #[test]
    fn pressure_is_fewer_free_entries_than_the_threshold() {
        let x = d(1, 1, 1);
        assert_eq!(pressure(&x, 899, 1000), None, "101 free of 100");
        assert_eq!(pressure(&x, 900, 1000), None, "100 free: not fewer");
        assert_eq!(pressure(&x, 901, 1000), Some((100, 99)));
        assert_eq!(pressure(&x, 1000, 1000), Some((100, 0)));
        let y = Defense {
            amemthresh: 50,
            ..x
        };
        assert_eq!(pressure(&y, 501, 1000), Some((500, 499)));
    }

    /// Every mode of every strategy, below and above the threshold.
    #[test]
    fn modes_0_to_3_against_occupancy() {
        for mode in 0..=3u8 {
            for (len, pressed) in [(100, false), (950, true)] {
                let l = level(&d(mode, mode, mode), len, 1000);
                let want_on = match mode {
                    0 => false,
                    3 => true,
                    _ => pressed,
                };
                assert_eq!(l.pressure, pressed);
                assert_eq!(l.drop_entry, want_on, "drop_entry {mode} at {len}");
                assert_eq!(l.secure_tcp, want_on, "secure_tcp {mode} at {len}");
                assert_eq!(l.drop_rate != 0, want_on, "drop_packet {mode} at {len}");
            }
        }
        // Mode 3's rate is am_droprate; the automatic rate follows the
        // free share: thresh / (thresh - free).
        assert_eq!(level(&d(0, 3, 0), 0, 1000).drop_rate, 10);
        assert_eq!(
            level(&d(0, 1, 0), 901, 1000).drop_rate,
            100,
            "99 free of 100"
        );
        assert_eq!(level(&d(0, 1, 0), 950, 1000).drop_rate, 2, "50 free");
        assert_eq!(level(&d(0, 2, 0), 990, 1000).drop_rate, 1, "10 free");
        assert_eq!(level(&d(0, 1, 0), 1000, 1000).drop_rate, 1, "full: all");
        // An empty table (max 0) is not divided by.
        assert_eq!(level(&d(1, 1, 1), 0, 0), Level::default());
    }

    #[test]
    fn drop_counter_drops_one_in_rate() {
        for rate in [1u32, 2, 3, 10] {
            let mut c = DropCounter::default();
            let drops: Vec<bool> = (0..rate * 5).map(|_| c.todrop(rate)).collect();
            assert_eq!(
                drops.iter().filter(|&&x| x).count() as u32,
                5,
                "rate {rate}: {drops:?}"
            );
            assert!(
                drops[..(rate as usize - 1)].iter().all(|&x| !x),
                "not at once"
            );
        }
        let mut c = DropCounter::default();
        assert!((0..1000).all(|_| !c.todrop(0)), "rate 0: never");
        // A lower rate takes effect at once.
        let mut c = DropCounter::default();
        for _ in 0..3 {
            c.todrop(100);
        }
        let drops = (0..10).filter(|_| c.todrop(2)).count();
        assert_eq!(drops, 5);
    }

    #[test]
    fn the_fuller_table_decides() {
        assert_eq!(fuller((90, 100), (10, 1000)), (90, 100));
        assert_eq!(fuller((10, 100), (990, 1000)), (990, 1000));
        assert_eq!(fuller((0, 0), (0, 100)), (0, 0), "no table: no room");
    }

    #[test]
    fn slices_are_a_32nd_bounded_and_within_the_table() {
        let mut w = DropEntryWalk::new(7);
        let mut starts = std::collections::HashSet::new();
        for _ in 0..100 {
            let (at, n) = w.next_slice(4096);
            assert!(at < 4096);
            assert_eq!(n, 128);
            starts.insert(at);
        }
        assert!(starts.len() > 50, "starts move: {}", starts.len());
        assert_eq!(w.next_slice(10).1, 1);
        assert_eq!(w.next_slice(1 << 24).1, DROP_ENTRY_SLICE_MAX);
        assert_eq!(w.next_slice(0), (0, 0));
    }
}
