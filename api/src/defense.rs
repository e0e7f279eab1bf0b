//! IPVS's defence strategies (`/proc/sys/net/ipv4/vs/{drop_entry,
//! drop_packet,secure_tcp,amemthresh,am_droprate}`), which ipvsadm has no
//! option for: `rvsadm --set-defense` and `rvsadm -L --defense`.

use serde::{Deserialize, Serialize};

/// The settings. Each strategy's mode is IPVS's: 0 off, 1 automatic (on
/// while the connection table is under pressure), 2 automatic and on now
/// (what IPVS shows while it is; setting 2 is the same as 1), 3 always.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Defense {
    /// Randomly drop half-open TCP entries (SYN_RECV, SYNACK) each second.
    pub drop_entry: u8,
    /// Drop one in `rate` new-connection packets.
    pub drop_packet: u8,
    /// Use the secure TCP state table (`tcp_states_dos`).
    pub secure_tcp: u8,
    /// IPVS's available-memory threshold as table occupancy: a core's
    /// table is under pressure while fewer than this percentage of its
    /// entries are free (1..=99; 10: from 90 % full).
    pub amemthresh: u8,
    /// `drop_packet` mode 3: drop one in this many (IPVS's default 10).
    pub am_droprate: u32,
}

impl Default for Defense {
    fn default() -> Self {
        Defense {
            drop_entry: 0,
            drop_packet: 0,
            secure_tcp: 0,
            amemthresh: 10,
            am_droprate: 10,
        }
    }
}

impl Defense {
    /// Whether every value is in range; the message says which is not.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("drop_entry", self.drop_entry),
            ("drop_packet", self.drop_packet),
            ("secure_tcp", self.secure_tcp),
        ] {
            if v > 3 {
                return Err(format!("{name} must be 0, 1, 2 or 3"));
            }
        }
        if !(1..=99).contains(&self.amemthresh) {
            return Err("amemthresh must be 1..99 (percent of a table kept free)".into());
        }
        if self.am_droprate == 0 {
            return Err("am_droprate must be at least 1".into());
        }
        Ok(())
    }
}

/// What `-L --defense` shows.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DefenseStatus {
    /// The settings as IPVS shows them: an automatic mode reads 2 while
    /// its strategy is on (on any core), 1 otherwise.
    pub shown: Defense,
    /// Worker cores whose table is under pressure now.
    pub cores_under_pressure: u32,
    /// The fullest core's table occupancy, in millionths.
    pub occupancy_ppm: u32,
    /// The most aggressive drop rate in force on a core (drop one in this
    /// many; 0: none).
    pub drop_rate: u32,
    /// Whether the secure TCP state table is in use on any core.
    pub secure_tcp_on: bool,
    /// Half-open entries drop_entry removed, and new-connection packets
    /// drop_packet dropped, since start.
    pub entries_dropped: u64,
    pub packets_dropped: u64,
    /// The SYN proxy (`--synproxy` services) since start: SYN cookies
    /// sent, clients' ACKs whose cookie was good and bad, and the
    /// connections it opened.
    #[serde(default)]
    pub synproxy: SynproxyCounts,
}

/// The SYN proxy's counters, over all cores.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SynproxyCounts {
    pub cookies_sent: u64,
    pub acks_valid: u64,
    pub acks_bad: u64,
    pub conns: u64,
}
