//! Connection synchronisation between directors, as IPVS's sync daemon does
//! it: the master's workers report new and changed connections, its
//! control thread batches them into datagrams for the backup, and the
//! backup's control thread hands each to the core that owns it.
//!
//! Contract:
//! - The datagram is IPVS's sync message version 1 (`struct
//!   ip_vs_sync_mesg` and `ip_vs_sync_v4`/`v6` of the kernel's
//!   `ip_vs_sync.c`): an 8-byte header (reserved 0, syncid, size, count,
//!   version 1), then one entry per connection, each padded to 4 bytes,
//!   all big-endian. Flags, states, timeouts (seconds, the state's full
//!   timeout) and addresses mean what they mean to the kernel.
//! - What IPVS has no field for (the MAC the client's frames come from,
//!   the input port, FullNAT's local address and port, PROXY protocol's
//!   ISN, the persistence mask of a controlled connection) travels in an
//!   *optional* parameter ([`OPT_RVS`], with the kernel's optional-param
//!   bit), which a kernel backup skips.
//! - Decoding never panics: a bad header drops the datagram, a malformed
//!   entry ends it (the entries before it stand), and an entry rvs does
//!   not take (another protocol, method or state, a mandatory parameter it
//!   does not know) is skipped alone, as the kernel does.
//! - [`needs_sync`] is the kernel's rule with its defaults
//!   (`sync_threshold` 3, `sync_period` 50, no refresh period): a TCP
//!   connection is sent at its 3rd packet and every 50 after while in
//!   ESTABLISHED, FIN_WAIT, CLOSE, CLOSE_WAIT or TIME_WAIT, and at once
//!   when it enters one of those but ESTABLISHED; a UDP one at its 3rd and
//!   every 50th after. A lost datagram is therefore repaired by the next
//!   one for the same connection, 50 packets later; a connection that
//!   sends fewer is not repaired (IPVS's behaviour too).

#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rvs_api::Forward;

use crate::conn::state::State;
use crate::wire::ethernet::MacAddr;
use crate::wire::{get_u16 as be16, get_u32 as be32};

/// IPVS's sync UDP port and multicast group (`--mcast-port`, `--mcast-group`).
pub const DEFAULT_PORT: u16 = 8848;
pub const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);
/// The message header's length.
pub const HEADER_LEN: usize = 8;
/// Version 1 of the message format.
pub const VERSION: u8 = 1;
/// The kernel's defaults: `sync_threshold` "3 50".
pub const THRESHOLD: u32 = 3;
pub const PERIOD: u32 = 50;

/// IPVS connection flags (`include/uapi/linux/ip_vs.h`).
pub mod flags {
    pub const FWD_MASK: u32 = 0x0007;
    pub const MASQ: u32 = 0x0000;
    pub const TUNNEL: u32 = 0x0002;
    pub const DROUTE: u32 = 0x0003;
    /// FullNAT is not the kernel's; DPVS numbers it 5.
    pub const FULLNAT: u32 = 0x0005;
    pub const INACTIVE: u32 = 0x0100;
    pub const TEMPLATE: u32 = 0x1000;
}

/// An entry's type byte: bit 0 set for IPv6.
const TYPE_INET6: u8 = 0x01;
/// The kernel's optional-parameter bit (`IPVS_OPT_F_PARAM`): a backup that
/// does not know the parameter skips it.
const OPT_F_PARAM: u8 = 0x40;
/// rvs's parameter (see the module contract).
pub const OPT_RVS: u8 = OPT_F_PARAM | 0x20;
const OPT_RVS_VERSION: u8 = 1;
/// The fixed part of an entry: 36 bytes for IPv4, 72 for IPv6.
const ENTRY4_LEN: usize = field::ADDRS + 3 * 4;
const ENTRY6_LEN: usize = field::ADDRS + 3 * 16;

/// Where the fields lie: the message header (`struct ip_vs_sync_mesg`), an
/// entry (`struct ip_vs_sync_v4`/`v6`), a parameter, and rvs's parameter's
/// data, all big-endian.
mod field {
    use core::ops::Range;

    /// The header: reserved 0, syncid, size, count, version, spare 0.
    pub(super) const RESERVED: usize = 0;
    pub(super) const SYNCID: usize = 1;
    pub(super) const SIZE: Range<usize> = 2..4;
    pub(super) const COUNT: usize = 4;
    pub(super) const VERSION: usize = 5;
    pub(super) const SPARE: Range<usize> = 6..8;

    /// An entry: type, protocol, version and size, flags, state, ports,
    /// fwmark, timeout, then the client's, the VIP's and the dest's
    /// addresses (4 or 16 bytes each), then the parameters.
    pub(super) const TYPE: usize = 0;
    pub(super) const PROTOCOL: usize = 1;
    pub(super) const VER_SIZE: Range<usize> = 2..4;
    pub(super) const FLAGS: Range<usize> = 4..8;
    pub(super) const STATE: Range<usize> = 8..10;
    pub(super) const CPORT: Range<usize> = 10..12;
    pub(super) const VPORT: Range<usize> = 12..14;
    pub(super) const DPORT: Range<usize> = 14..16;
    pub(super) const FWMARK: Range<usize> = 16..20;
    pub(super) const TIMEOUT: Range<usize> = 20..24;
    pub(super) const ADDRS: usize = 24;

    /// A parameter: type, length of the data, the data.
    pub(super) const PARAM_TYPE: usize = 0;
    pub(super) const PARAM_LEN: usize = 1;
    pub(super) const PARAM_DATA: usize = 2;

    /// rvs's parameter's data: version, bits, the persistence mask, the
    /// peer's MAC, the input port, PROXY v2's ISN, the local port, then the
    /// local address (4 or 16 bytes).
    pub(super) const RVS_VERSION: usize = 0;
    pub(super) const RVS_BITS: usize = 1;
    pub(super) const RVS_MASK: Range<usize> = 2..6;
    pub(super) const RVS_MAC: Range<usize> = 6..12;
    pub(super) const RVS_IN_PORT: Range<usize> = 12..14;
    pub(super) const RVS_ISN: Range<usize> = 14..18;
    pub(super) const RVS_LPORT: Range<usize> = 18..20;
    pub(super) const RVS_LADDR: usize = 20;
}

/// What rvs adds to an entry (its optional parameter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extra {
    /// A controlled connection's persistence mask (IPv4 netmask in host
    /// order, IPv6 prefix length), with whether its template is port 0.
    pub controlled: Option<(u32, bool)>,
    /// NAT and FullNAT: where the client's frames came from.
    pub peer_mac: MacAddr,
    pub in_port: u16,
    /// FullNAT: the local address and port.
    pub laddr: Option<(IpAddr, u16)>,
    /// FullNAT with PROXY protocol v2: the client's ISN.
    pub pp2_isn: Option<u32>,
}

/// One connection or template, as the directors exchange it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncConn {
    /// TCP or UDP; 0 for a fwmark service's template.
    pub protocol: u8,
    pub caddr: IpAddr,
    pub cport: u16,
    /// The VIP (a fwmark template's: the mark as an address, as IPVS keys it).
    pub vaddr: IpAddr,
    pub vport: u16,
    pub daddr: IpAddr,
    pub dport: u16,
    pub fwmark: u32,
    pub state: State,
    pub forward: Forward,
    pub template: bool,
    /// Seconds: the state's timeout (a template's, its persistence timeout).
    pub timeout_s: u32,
    pub extra: Extra,
}

impl SyncConn {
    fn ipvs_flags(&self) -> u32 {
        let fwd = match self.forward {
            Forward::Masq => flags::MASQ,
            Forward::Tunnel => flags::TUNNEL,
            Forward::Route => flags::DROUTE,
            Forward::FullNat => flags::FULLNAT,
        };
        let mut f = fwd;
        if self.template {
            // Not NO_CPORT: to the kernel that means "client port not known
            // yet" (FTP data), and a kernel backup would match the template
            // for the connection records.
            f |= flags::TEMPLATE;
        } else if !self.state.is_active() {
            f |= flags::INACTIVE;
        }
        f
    }

    /// The bytes of this entry (padded to 4) appended to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        let v6 = self.caddr.is_ipv6();
        let start = out.len();
        out.push(if v6 { TYPE_INET6 } else { 0 });
        out.push(self.protocol);
        out.extend_from_slice(&[0, 0]); // ver_size, filled in below
        out.extend_from_slice(&self.ipvs_flags().to_be_bytes());
        let state = u16::from(self.state.ipvs_number());
        out.extend_from_slice(&state.to_be_bytes());
        for p in [self.cport, self.vport, self.dport] {
            out.extend_from_slice(&p.to_be_bytes());
        }
        out.extend_from_slice(&self.fwmark.to_be_bytes());
        out.extend_from_slice(&self.timeout_s.to_be_bytes());
        for a in [self.caddr, self.vaddr, self.daddr] {
            put_addr(out, a, v6);
        }
        // rvs's optional parameter.
        let x = &self.extra;
        let opt_at = out.len();
        out.extend_from_slice(&[OPT_RVS, 0, OPT_RVS_VERSION]);
        let bits = u8::from(x.controlled.is_some())
            | (u8::from(x.controlled.is_some_and(|c| c.1)) << 1)
            | (u8::from(x.laddr.is_some()) << 2)
            | (u8::from(x.pp2_isn.is_some()) << 3);
        out.push(bits);
        out.extend_from_slice(&x.controlled.map_or(0, |c| c.0).to_be_bytes());
        out.extend_from_slice(&x.peer_mac.0);
        out.extend_from_slice(&x.in_port.to_be_bytes());
        out.extend_from_slice(&x.pp2_isn.unwrap_or(0).to_be_bytes());
        let (la, lp) = x.laddr.unwrap_or((self.caddr, 0));
        out.extend_from_slice(&lp.to_be_bytes());
        put_addr(out, la, v6);
        out[opt_at + field::PARAM_LEN] = (out.len() - opt_at - field::PARAM_DATA) as u8;
        let size = out.len() - start;
        out[start + field::VER_SIZE.start..start + field::VER_SIZE.end]
            .copy_from_slice(&(size as u16).to_be_bytes());
        out.resize(start + size.next_multiple_of(4), 0);
    }

    /// The encoded length of this entry, padding included.
    pub fn encoded_len(&self) -> usize {
        let (fixed, addr) = if self.caddr.is_ipv6() {
            (ENTRY6_LEN, 16)
        } else {
            (ENTRY4_LEN, 4)
        };
        (fixed + field::PARAM_DATA + field::RVS_LADDR + addr).next_multiple_of(4)
    }
}

fn put_addr(out: &mut Vec<u8>, a: IpAddr, v6: bool) {
    match (a, v6) {
        (IpAddr::V4(a), false) => out.extend_from_slice(&a.octets()),
        (IpAddr::V6(a), true) => out.extend_from_slice(&a.octets()),
        (IpAddr::V4(a), true) => out.extend_from_slice(&a.to_ipv6_mapped().octets()),
        (IpAddr::V6(_), false) => out.extend_from_slice(&[0; 4]),
    }
}

/// Why a datagram (or the rest of it) was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncError {
    /// Shorter than a header, `reserved` not 0, or not version 1.
    BadHeader,
    /// Its size field is not its length.
    BadSize,
    /// A syncid other than the one this backup takes.
    OtherSyncid(u8),
    /// An entry runs past the end, or has a bad size, version or type: it
    /// and the entries after it are dropped.
    BadEntry,
    /// This many entries were skipped, each alone, as the kernel skips
    /// them (a protocol, method or state rvs does not take, or a mandatory
    /// parameter it does not know); the others are returned.
    Skipped(usize),
}

/// The smallest datagram a builder makes: room for one IPv6 entry.
pub const MAXLEN_MIN: usize = HEADER_LEN + ENTRY6_LEN + 64;

/// Builds datagrams of at most `maxlen` bytes (at least [`MAXLEN_MIN`]).
pub struct MessageBuilder {
    syncid: u8,
    maxlen: usize,
    buf: Vec<u8>,
    count: u8,
}

impl MessageBuilder {
    pub fn new(syncid: u8, maxlen: usize) -> Self {
        let mut b = MessageBuilder {
            syncid,
            maxlen: maxlen.clamp(MAXLEN_MIN, 65507),
            buf: Vec::with_capacity(maxlen),
            count: 0,
        };
        b.reset();
        b
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.buf
            .extend_from_slice(&[0, self.syncid, 0, 0, 0, VERSION, 0, 0]);
        self.count = 0;
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Whether `c` fits in the message being built.
    pub fn fits(&self, c: &SyncConn) -> bool {
        self.count < u8::MAX && self.buf.len() + c.encoded_len() <= self.maxlen
    }

    /// Add `c`; false (nothing added) when it does not fit: take the
    /// message first.
    pub fn push(&mut self, c: &SyncConn) -> bool {
        if !self.fits(c) {
            return false;
        }
        c.emit(&mut self.buf);
        self.count += 1;
        true
    }

    /// The finished datagram; the builder starts a new one.
    pub fn take(&mut self) -> Vec<u8> {
        let len = self.buf.len() as u16;
        self.buf[field::SIZE].copy_from_slice(&len.to_be_bytes());
        self.buf[field::COUNT] = self.count;
        let out = self.buf.clone();
        self.reset();
        out
    }
}

/// The entries of datagram `buf`. A backup with `syncid` 0 takes any
/// syncid, as IPVS's does. A malformed entry ends the list (what came
/// before is returned with the error); one rvs does not take is skipped
/// alone (the rest is returned with [`SyncError::Skipped`]).
pub fn decode(buf: &[u8], syncid: u8) -> Result<Vec<SyncConn>, (Vec<SyncConn>, SyncError)> {
    if buf.len() < HEADER_LEN
        || buf[field::RESERVED] != 0
        || buf[field::VERSION] != VERSION
        || buf[field::SPARE] != [0, 0]
    {
        return Err((vec![], SyncError::BadHeader));
    }
    if syncid != 0 && buf[field::SYNCID] != syncid {
        return Err((vec![], SyncError::OtherSyncid(buf[field::SYNCID])));
    }
    if usize::from(be16(buf, field::SIZE.start)) != buf.len() {
        return Err((vec![], SyncError::BadSize));
    }
    let count = buf[field::COUNT];
    let mut out = Vec::with_capacity(usize::from(count));
    let mut at = HEADER_LEN;
    let mut skipped = 0;
    for _ in 0..count {
        match decode_entry(&buf[at.min(buf.len())..]) {
            Entry::Conn(c, size) => {
                out.push(c);
                at += size.next_multiple_of(4);
            }
            Entry::Skip(size) => {
                skipped += 1;
                at += size.next_multiple_of(4);
            }
            Entry::Bad => return Err((out, SyncError::BadEntry)),
        }
    }
    if skipped > 0 {
        return Err((out, SyncError::Skipped(skipped)));
    }
    Ok(out)
}

/// One entry read.
enum Entry {
    /// The connection and the entry's size (unpadded).
    Conn(SyncConn, usize),
    /// Well formed, not taken: its size.
    Skip(usize),
    /// Malformed: the rest of the datagram cannot be read.
    Bad,
}

fn addr(b: &[u8], at: usize, v6: bool) -> IpAddr {
    if v6 {
        let mut o = [0u8; 16];
        o.copy_from_slice(&b[at..at + 16]);
        IpAddr::V6(Ipv6Addr::from(o))
    } else {
        IpAddr::V4(Ipv4Addr::from(be32(b, at)))
    }
}

/// One entry (the kernel's checks: malformed ends the datagram, not
/// taken skips the entry).
fn decode_entry(b: &[u8]) -> Entry {
    if b.len() < field::VER_SIZE.end || b[field::TYPE] & !TYPE_INET6 != 0 {
        return Entry::Bad;
    }
    let v6 = b[field::TYPE] & TYPE_INET6 != 0;
    let ver_size = be16(b, field::VER_SIZE.start);
    let size = usize::from(ver_size & 0x0fff);
    let fixed = if v6 { ENTRY6_LEN } else { ENTRY4_LEN };
    if ver_size >> 12 != 0 || size < fixed || size > b.len() {
        return Entry::Bad;
    }
    let protocol = b[field::PROTOCOL];
    let f = be32(b, field::FLAGS.start);
    let raw_state = be16(b, field::STATE.start);
    let template = f & flags::TEMPLATE != 0;
    let state = match protocol {
        6 if raw_state <= State::SynAck as u16 => State::from_u8(raw_state as u8),
        17 if raw_state == 0 => State::Udp,
        132 if raw_state < 14 => match State::sctp(raw_state as u8) {
            Some(s) => s,
            None => return Entry::Skip(size),
        },
        0 if template => State::None,
        _ => return Entry::Skip(size),
    };
    let forward = match f & flags::FWD_MASK {
        flags::MASQ => Forward::Masq,
        flags::TUNNEL => Forward::Tunnel,
        flags::DROUTE => Forward::Route,
        flags::FULLNAT => Forward::FullNat,
        _ => return Entry::Skip(size),
    };
    let a = field::ADDRS;
    let step = if v6 { 16 } else { 4 };
    let mut c = SyncConn {
        protocol,
        caddr: addr(b, a, v6),
        cport: be16(b, field::CPORT.start),
        vaddr: addr(b, a + step, v6),
        vport: be16(b, field::VPORT.start),
        daddr: addr(b, a + 2 * step, v6),
        dport: be16(b, field::DPORT.start),
        fwmark: be32(b, field::FWMARK.start),
        state,
        forward,
        template,
        timeout_s: be32(b, field::TIMEOUT.start),
        extra: Extra::default(),
    };
    // Parameters: type, length, data; unknown optional ones are skipped.
    let mut p = fixed;
    let mut take = true;
    while p < size {
        if p + field::PARAM_DATA > size {
            return Entry::Bad;
        }
        let (ty, len) = (
            b[p + field::PARAM_TYPE],
            usize::from(b[p + field::PARAM_LEN]),
        );
        let data = p + field::PARAM_DATA;
        if len == 0 || data + len > size {
            return Entry::Bad;
        }
        if ty == OPT_RVS {
            match decode_extra(&b[data..data + len], v6) {
                Some(x) => c.extra = x,
                None => take = false,
            }
        } else if ty & OPT_F_PARAM == 0 {
            // A mandatory parameter we do not know (the kernel's sequence
            // and persistence-engine data): the entry is not taken.
            take = false;
        }
        p = data + len;
    }
    if take {
        Entry::Conn(c, size)
    } else {
        Entry::Skip(size)
    }
}

fn decode_extra(d: &[u8], v6: bool) -> Option<Extra> {
    let alen = if v6 { 16 } else { 4 };
    if d.len() < field::RVS_LADDR + alen || d[field::RVS_VERSION] != OPT_RVS_VERSION {
        return None;
    }
    let bits = d[field::RVS_BITS];
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&d[field::RVS_MAC]);
    Some(Extra {
        controlled: (bits & 1 != 0).then(|| (be32(d, field::RVS_MASK.start), bits & 2 != 0)),
        peer_mac: MacAddr(mac),
        in_port: be16(d, field::RVS_IN_PORT.start),
        pp2_isn: (bits & 8 != 0).then(|| be32(d, field::RVS_ISN.start)),
        laddr: (bits & 4 != 0).then(|| {
            (
                addr(d, field::RVS_LADDR, v6),
                be16(d, field::RVS_LPORT.start),
            )
        }),
    })
}

/// The entries a backup installs per second unless told otherwise
/// (`[sync] install_rate` in the dataplane's file): above a busy master's
/// steady rate (a connection is sent about twice, plus every 50th packet),
/// below what one control thread reads (64 datagrams a 5 ms tick).
pub const INSTALL_RATE_DEFAULT: u32 = 100_000;

/// What a backup's control thread refused of what arrived, by reason
/// (the workers count their own install verdicts, `sync_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackupCounts {
    /// Datagrams: a bad header (short, reserved bits, not version 1).
    pub bad_header: u64,
    /// Datagrams whose size field is not their length.
    pub bad_size: u64,
    /// Datagrams of another syncid.
    pub other_syncid: u64,
    /// Datagrams cut short by a malformed entry (the entries before it
    /// stand).
    pub bad_entry: u64,
    /// Entries skipped alone (a protocol, method or state rvs does not
    /// take, a mandatory parameter it does not know).
    pub skipped: u64,
    /// Entries for a service this director does not have.
    pub no_service: u64,
    /// Entries over the per-second cap.
    pub rate_limited: u64,
    /// Entries whose timeout was longer than this director's for their
    /// state (a template's: its service's persistence timeout): installed
    /// with this director's.
    pub timeout_clamped: u64,
}

impl BackupCounts {
    /// Count what [`decode`] said of a datagram.
    pub fn count_decode(&mut self, e: SyncError) {
        match e {
            SyncError::BadHeader => self.bad_header += 1,
            SyncError::BadSize => self.bad_size += 1,
            SyncError::OtherSyncid(_) => self.other_syncid += 1,
            SyncError::BadEntry => self.bad_entry += 1,
            SyncError::Skipped(n) => self.skipped += n as u64,
        }
    }

    /// Add `other` (a stopped daemon's counts are kept).
    pub fn add(&mut self, o: &BackupCounts) {
        for (a, b) in self.fields_mut().into_iter().zip(o.named()) {
            *a += b.1;
        }
    }

    fn fields_mut(&mut self) -> [&mut u64; 8] {
        [
            &mut self.bad_header,
            &mut self.bad_size,
            &mut self.other_syncid,
            &mut self.bad_entry,
            &mut self.skipped,
            &mut self.no_service,
            &mut self.rate_limited,
            &mut self.timeout_clamped,
        ]
    }

    /// The counters as the admin API names them (`sync_rx_*`).
    pub fn named(&self) -> [(&'static str, u64); 8] {
        [
            ("sync_rx_bad_header", self.bad_header),
            ("sync_rx_bad_size", self.bad_size),
            ("sync_rx_other_syncid", self.other_syncid),
            ("sync_rx_bad_entry", self.bad_entry),
            ("sync_rx_skipped", self.skipped),
            ("sync_rx_no_service", self.no_service),
            ("sync_rx_rate_limited", self.rate_limited),
            ("sync_rx_timeout_clamped", self.timeout_clamped),
        ]
    }
}

/// A per-second cap on the entries a backup hands to its workers: at most
/// `rate` in each second of the caller's clock (0: no cap).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstallCap {
    rate: u32,
    second: u64,
    taken: u32,
}

impl InstallCap {
    pub fn new(rate: u32) -> Self {
        InstallCap {
            rate,
            second: 0,
            taken: 0,
        }
    }

    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Whether one more entry may go at `now_ms`.
    pub fn admit(&mut self, now_ms: u64) -> bool {
        if self.rate == 0 {
            return true;
        }
        let second = now_ms / 1000;
        if second != self.second {
            self.second = second;
            self.taken = 0;
        }
        if self.taken >= self.rate {
            return false;
        }
        self.taken += 1;
        true
    }
}

/// Whether a connection is sent now (the module contract's rule):
/// `pkts` is its input packet count including this one, `old` the state
/// it was last sent in (the kernel's `old_state`: `None` if never). The
/// caller records `new` as sent when this says yes. Templates are sent
/// with the connections they control and when they schedule one, not by
/// this rule.
pub fn needs_sync(protocol: u8, old: State, new: State, pkts: u32) -> bool {
    if protocol == 6 {
        if !matches!(
            new,
            State::Established | State::FinWait | State::Close | State::CloseWait | State::TimeWait
        ) {
            return false;
        }
        if new != old && new != State::Established {
            return true;
        }
    }
    // SCTP: the kernel's list (`ip_vs_sync_conn_needed`).
    if protocol == 132 {
        if !matches!(
            new,
            State::SctpEstablished
                | State::SctpShutdownSent
                | State::SctpShutdownReceived
                | State::SctpShutdownAckSent
                | State::SctpClosed
        ) {
            return false;
        }
        if new != old && new != State::SctpEstablished {
            return true;
        }
    }
    pkts % PERIOD == THRESHOLD
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> SyncConn {
        SyncConn {
            protocol: 6,
            caddr: "198.18.0.1".parse().unwrap(),
            cport: 40000,
            vaddr: "198.18.0.100".parse().unwrap(),
            vport: 80,
            daddr: "198.18.0.11".parse().unwrap(),
            dport: 80,
            fwmark: 0,
            state: State::Established,
            forward: Forward::Route,
            template: false,
            timeout_s: 900,
            extra: Extra::default(),
        }
    }

    /// The kernel's IPv4 entry, field by field (`struct ip_vs_sync_v4`):
    /// a DR connection in ESTABLISHED with 900 s.
    #[test]
    fn ipv4_entry_is_the_kernels_layout() {
        let mut b = MessageBuilder::new(7, 1472);
        assert!(b.push(&conn()));
        let m = b.take();
        // Header: reserved, syncid, size, count, version, spare.
        assert_eq!(&m[..8], &[0, 7, 0, m.len() as u8, 1, 1, 0, 0]);
        let e = &m[8..];
        assert_eq!(e[0], 0, "type: IPv4");
        assert_eq!(e[1], 6, "protocol");
        assert_eq!(be16(e, 2) >> 12, 0, "entry version 0");
        assert_eq!(
            be16(e, 2),
            36 + 2 + 24,
            "size: unpadded, the parameter in it"
        );
        assert_eq!(be32(e, 4), flags::DROUTE, "flags: DR, active");
        assert_eq!(be16(e, 8), 1, "ESTABLISHED");
        assert_eq!(
            (be16(e, 10), be16(e, 12), be16(e, 14)),
            (40000, 80, 80),
            "cport vport dport"
        );
        assert_eq!(be32(e, 16), 0, "fwmark");
        assert_eq!(be32(e, 20), 900, "timeout");
        assert_eq!(
            &e[24..36],
            &[198, 18, 0, 1, 198, 18, 0, 100, 198, 18, 0, 11]
        );
        assert_eq!(e[36], 0x60, "rvs's parameter, optional bit set");
        assert_eq!(m.len(), 8 + conn().encoded_len());
    }

    #[test]
    fn round_trips_every_kind_of_entry() {
        let mut v6 = conn();
        v6.caddr = "2001:2:0:1::1".parse().unwrap();
        v6.vaddr = "2001:2:0:1::101".parse().unwrap();
        v6.daddr = "2001:2:0:1::11".parse().unwrap();
        v6.forward = Forward::FullNat;
        v6.extra = Extra {
            controlled: None,
            peer_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            in_port: 1,
            laddr: Some(("2001:2:0:1::201".parse().unwrap(), 40001)),
            pp2_isn: Some(0xdead_beef),
        };
        let mut template = conn();
        template.template = true;
        template.cport = 0;
        template.state = State::None;
        template.timeout_s = 300;
        template.caddr = "198.18.0.0".parse().unwrap();
        let mut controlled = conn();
        controlled.forward = Forward::Masq;
        controlled.state = State::FinWait;
        controlled.extra.controlled = Some((0xffff_ff00, true));
        let mut udp = conn();
        udp.protocol = 17;
        udp.state = State::Udp;
        udp.forward = Forward::Tunnel;
        let all = [conn(), v6, template, controlled, udp];
        let mut b = MessageBuilder::new(1, 1472);
        for c in &all {
            assert!(b.push(c));
        }
        let m = b.take();
        assert_eq!(decode(&m, 1).unwrap(), all);
        assert_eq!(decode(&m, 0).unwrap(), all, "syncid 0 takes any");
        assert_eq!(decode(&m, 2), Err((vec![], SyncError::OtherSyncid(1))));
        // The flags a kernel backup would see.
        let e = &m[8 + conn().encoded_len() + v6.encoded_len()..];
        assert_eq!(be32(e, 4), flags::DROUTE | flags::TEMPLATE);
        assert!(b.is_empty());
    }

    /// SCTP entries carry IPVS's SCTP state numbers (ESTABLISHED is 8),
    /// and are sent by the kernel's SCTP rule.
    #[test]
    fn sctp_entries_carry_ipvs_s_sctp_states() {
        let mut c = conn();
        c.protocol = 132;
        c.state = State::SctpEstablished;
        c.forward = Forward::Masq;
        let mut closed = c;
        closed.state = State::SctpClosed;
        closed.cport += 1;
        let mut b = MessageBuilder::new(1, 1472);
        assert!(b.push(&c) && b.push(&closed));
        let m = b.take();
        let e = &m[8..];
        assert_eq!((e[1], be16(e, 8)), (132, 8), "protocol, ESTABLISHED");
        assert_eq!(be32(e, 4), flags::MASQ, "active: no INACTIVE flag");
        assert_eq!(decode(&m, 1).unwrap(), [c, closed]);
        // Past the 14 states: skipped, not misread.
        let mut bad = m.clone();
        bad[8 + 9] = 14;
        assert_eq!(decode(&bad, 1), Err((vec![closed], SyncError::Skipped(1))));
        use State::*;
        assert!(!needs_sync(132, SctpNone, SctpInit1, 3));
        assert!(needs_sync(132, SctpEstablished, SctpShutdownReceived, 4));
        assert!(!needs_sync(132, SctpEstablished, SctpEstablished, 4));
    }

    #[test]
    fn a_full_message_refuses_more_and_stays_within_maxlen() {
        let mut b = MessageBuilder::new(0, 200);
        let mut n = 0;
        while b.push(&conn()) {
            n += 1;
        }
        let m = b.take();
        assert!(m.len() <= 200, "{}", m.len());
        assert_eq!(decode(&m, 0).unwrap().len(), n);
        assert!(n >= 2);
    }

    #[test]
    fn bad_datagrams_are_refused_and_a_bad_entry_ends_the_list() {
        let mut b = MessageBuilder::new(0, 1472);
        b.push(&conn());
        b.push(&conn());
        let m = b.take();
        assert_eq!(decode(&m[..7], 0), Err((vec![], SyncError::BadHeader)));
        let mut v0 = m.clone();
        v0[5] = 0;
        assert_eq!(decode(&v0, 0), Err((vec![], SyncError::BadHeader)));
        assert_eq!(
            decode(&m[..m.len() - 4], 0),
            Err((vec![], SyncError::BadSize))
        );
        let mut spare = m.clone();
        spare[7] = 1;
        assert_eq!(decode(&spare, 0), Err((vec![], SyncError::BadHeader)));
        // The second entry's state out of range: that entry alone is skipped.
        let mut bad = m.clone();
        let second = 8 + conn().encoded_len();
        bad[second + 9] = 42;
        assert_eq!(decode(&bad, 0), Err((vec![conn()], SyncError::Skipped(1))));
        // A mandatory parameter we do not know (the kernel's SEQ data) on
        // the first: skipped, the second taken.
        let mut seq = m.clone();
        seq[8 + ENTRY4_LEN] = 1;
        assert_eq!(decode(&seq, 0), Err((vec![conn()], SyncError::Skipped(1))));
        // A size past the end, or an unknown type byte, ends the datagram.
        let mut long = m.clone();
        long[second + 2] = 0x0f;
        assert_eq!(decode(&long, 0), Err((vec![conn()], SyncError::BadEntry)));
        let mut ty = m.clone();
        ty[8] = 4;
        assert_eq!(decode(&ty, 0), Err((vec![], SyncError::BadEntry)));
    }

    #[test]
    fn decoding_random_bytes_never_panics() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut b = MessageBuilder::new(0, 1472);
        b.push(&conn());
        let good = b.take();
        for i in 0..20_000 {
            let mut m = good.clone();
            for _ in 0..(i % 8 + 1) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let at = (x as usize) % m.len();
                m[at] = (x >> 32) as u8;
            }
            m.truncate((x as usize >> 8) % (m.len() + 1));
            let _ = decode(&m, 0);
        }
    }

    #[test]
    fn the_install_cap_admits_rate_per_second_then_refuses() {
        let mut cap = InstallCap::new(3);
        let got: Vec<bool> = (0..5).map(|i| cap.admit(1_000 + i * 100)).collect();
        assert_eq!(got, [true, true, true, false, false]);
        // The next second starts afresh.
        assert!(cap.admit(2_000));
        assert!(cap.admit(2_999));
        assert!(cap.admit(2_999));
        assert!(!cap.admit(2_999));
        let mut none = InstallCap::new(0);
        assert!((0..100_000).all(|_| none.admit(5)), "0: no cap");
    }

    #[test]
    fn backup_counts_name_each_refusal() {
        let mut c = BackupCounts::default();
        c.count_decode(SyncError::BadHeader);
        c.count_decode(SyncError::BadSize);
        c.count_decode(SyncError::OtherSyncid(9));
        c.count_decode(SyncError::OtherSyncid(9));
        c.count_decode(SyncError::BadEntry);
        c.count_decode(SyncError::Skipped(5));
        let n = c.named();
        assert_eq!(n[0], ("sync_rx_bad_header", 1));
        assert_eq!(n[1], ("sync_rx_bad_size", 1));
        assert_eq!(n[2], ("sync_rx_other_syncid", 2));
        assert_eq!(n[3], ("sync_rx_bad_entry", 1));
        assert_eq!(n[4], ("sync_rx_skipped", 5));
        let mut sum = BackupCounts::default();
        sum.add(&c);
        sum.add(&c);
        assert_eq!(sum.named()[4], ("sync_rx_skipped", 10));
    }

    #[test]
    fn the_kernels_sync_rule() {
        use State::*;
        // DR: SYN (1), ACK (2) -> ESTABLISHED, data (3): sent; then every 50.
        assert!(!needs_sync(6, None, SynRecv, 1));
        assert!(!needs_sync(6, SynRecv, Established, 2));
        assert!(needs_sync(6, Established, Established, 3));
        assert!(!needs_sync(6, Established, Established, 4));
        assert!(needs_sync(6, Established, Established, 53));
        // Entering FIN_WAIT or CLOSE is sent at once; staying there is not.
        assert!(needs_sync(6, Established, FinWait, 7));
        assert!(!needs_sync(6, FinWait, FinWait, 8));
        assert!(needs_sync(6, FinWait, Close, 9));
        // Never in SYN states.
        assert!(!needs_sync(6, SynRecv, SynRecv, 3));
        // UDP by count alone.
        assert!(needs_sync(17, Udp, Udp, 3));
        assert!(!needs_sync(17, Udp, Udp, 2));
        assert!(needs_sync(17, Udp, Udp, 103));
    }
}
