//! `-L`/`-l` output: pure functions from what the dataplane reports to the
//! exact bytes ipvsadm 1.31 prints (trailing blanks included).
//!
//! Contract:
//! - [`format_all`] is a full listing: banner, title lines, every service;
//!   [`format_service`] is `-L -t VIP:PORT`: title lines and one service, no banner.
//! - Unless [`ListFormat::nosort`], services and dests are ordered with
//!   ipvsadm's comparators ([`compare_services`], [`compare_dests`]), including
//!   their wrapping 32-bit subtraction (10.0.0.1 sorts after 192.168.0.1), by a
//!   merge sort like glibc's `qsort`, which is stable and never panics on the
//!   comparators' non-transitive cases. With `nosort` the order is the API's:
//!   dests newest first, as the kernel keeps them.
//! - Without [`ListFormat::numeric`], ports are shown by service name from the
//!   [`ServicesDb`] given (what ipvsadm prints for an address without a reverse
//!   DNS name); rvsadm never reverse-resolves addresses, so addresses stay numeric.
//! - IPv4 service text is cut at 33 characters and IPv4 dest text at 28, as
//!   ipvsadm does (only long port names can reach that); IPv6 text is never cut.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rvs_api::{DestStatus, Forward, Info, Protocol, ServiceKey, ServiceStatus, Stats};

use super::names::{format_ipv6, ServicesDb};

/// Which table `-L` prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ListView {
    /// Plain `-L`: scheduler, flags, forward, weight, connection counts.
    #[default]
    Services,
    /// `--stats`: traffic counters.
    Stats,
    /// `--rate`: the estimated rates.
    Rate,
    /// `--thresholds`: upper and lower connection thresholds.
    Thresholds,
    /// `--persistent-conn`: weight and persistent connection counts.
    PersistentConn,
    /// `--tun-info`: each dest's encapsulation.
    TunInfo,
}

/// How to list (ipvsadm's `format` bits).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListFormat {
    /// `-n`: ports as numbers.
    pub numeric: bool,
    /// `--exact` (`-X`): counters in full instead of K/M/G/T.
    pub exact: bool,
    /// `--nosort`: the dataplane's order.
    pub nosort: bool,
    pub view: ListView,
}

/// Width of the service column in the counter views.
const SERVICE_COLUMN_CHARS: usize = 33;
/// Longest IPv4 dest text.
const DEST_TEXT_CHARS_MAX: usize = 28;
/// `AF_INET` and `AF_INET6`, which ipvsadm's comparator subtracts.
const AF_INET: i32 = 2;
const AF_INET6: i32 = 10;

/// A full listing: banner, titles, then every service with its dests.
pub fn format_all(
    info: &Info,
    services: &[ServiceStatus],
    format: &ListFormat,
    ports: &ServicesDb,
) -> String {
    let v = info.ipvs_version;
    let mut out = format!(
        "IP Virtual Server version {}.{}.{} (size={})\n",
        (v >> 16) & 0xff,
        (v >> 8) & 0xff,
        v & 0xff,
        info.conn_table_size
    );
    out.push_str(title(format.view));
    let mut ordered: Vec<&ServiceStatus> = services.iter().collect();
    if !format.nosort {
        merge_sort(&mut ordered, &|a, b| compare_services(&a.key, &b.key));
    }
    for service in ordered {
        push_service(&mut out, service, format, ports);
    }
    out
}

/// One service, as `-L -t VIP:PORT` shows it: titles, no banner.
pub fn format_service(service: &ServiceStatus, format: &ListFormat, ports: &ServicesDb) -> String {
    let mut out = title(format.view).to_string();
    push_service(&mut out, service, format, ports);
    out
}

fn title(view: ListView) -> &'static str {
    match view {
        ListView::Services => {
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        }
        ListView::Stats => {
            "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n  -> RemoteAddress:Port\n"
        }
        ListView::Rate => {
            "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n  -> RemoteAddress:Port\n"
        }
        ListView::Thresholds => {
            "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n  -> RemoteAddress:Port\n"
        }
        ListView::PersistentConn => {
            "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn \n  -> RemoteAddress:Port\n"
        }
        ListView::TunInfo => {
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n"
        }
    }
}

/// `-Lc`: the connection entries in ipvsadm's format (`spec/ipvsadm.md`
/// §2.6), in the dataplane's order (ipvsadm's is the kernel's hash order).
pub fn format_conns(
    conns: &[rvs_api::ConnStatus],
    numeric: bool,
    persistent: bool,
    ports: &ServicesDb,
) -> String {
    let mut out = String::from("IPVS connection entries\n");
    if persistent {
        // ipvsadm's "pro expire %-11s %-18s %-18s %-18s %-16s %s".
        out.push_str(
            "pro expire state       source             virtual            destination        pe name          pe_data\n",
        );
    } else {
        out.push_str("pro expire state       source             virtual            destination\n");
    }
    for c in conns {
        let (name, protocol) = match c.protocol {
            Some(Protocol::Tcp) => ("TCP", Protocol::Tcp),
            Some(Protocol::Udp) => ("UDP", Protocol::Udp),
            // Four characters in the three-wide column, as ipvsadm prints it.
            Some(Protocol::Sctp) => ("SCTP", Protocol::Sctp),
            None => ("IP", Protocol::Tcp),
        };
        let expire = format!("{:02}:{:02}", c.expires_s / 60, c.expires_s % 60);
        let _ = writeln!(
            out,
            "{name:<3} {expire:<6} {:<11} {:<18} {:<18} {}",
            c.state,
            addr_text(&c.client, protocol, numeric, ports),
            addr_text(&c.virtual_addr, protocol, numeric, ports),
            addr_text(&c.dest, protocol, numeric, ports)
        );
    }
    out
}

/// ipvsadm's `print_largenum`: a counter in 9 columns, scaled to K/M/G/T
/// (powers of 1000, rounded down) unless `exact`, which widens instead.
pub fn largenum(value: u64, exact: bool) -> String {
    if exact {
        let digits = value.to_string();
        let width = if digits.len() <= 8 {
            9
        } else {
            digits.len() + 1
        };
        return format!("{digits:>width$}");
    }
    match value {
        0..=99_999_999 => format!("{value:>9}"),
        100_000_000..=999_999_999 => format!("{:>8}K", value / 1_000),
        1_000_000_000..=99_999_999_999 => format!("{:>8}M", value / 1_000_000),
        100_000_000_000..=99_999_999_999_999 => format!("{:>8}G", value / 1_000_000_000),
        _ => format!("{:>8}T", value / 1_000_000_000_000),
    }
}

fn push_stats(out: &mut String, stats: &Stats, exact: bool) {
    for value in [
        stats.conns,
        stats.in_pkts,
        stats.out_pkts,
        stats.in_bytes,
        stats.out_bytes,
    ] {
        out.push_str(&largenum(value, exact));
    }
    out.push('\n');
}

fn push_service(
    out: &mut String,
    service: &ServiceStatus,
    format: &ListFormat,
    ports: &ServicesDb,
) {
    let name = service_text(&service.key, format, ports);
    if format.view == ListView::Stats {
        let _ = write!(out, "{name:<SERVICE_COLUMN_CHARS$}");
        push_stats(out, &service.stats, format.exact);
    } else if format.view == ListView::Rate {
        let _ = write!(out, "{name:<SERVICE_COLUMN_CHARS$}");
        let r = &service.rates;
        for v in [r.cps, r.in_pps, r.out_pps, r.in_bps, r.out_bps] {
            out.push_str(&largenum(v, format.exact));
        }
        out.push('\n');
    } else {
        out.push_str(&service_line(&name, service));
    }
    let mut dests: Vec<&DestStatus> = service.dests.iter().collect();
    if !format.nosort {
        merge_sort(&mut dests, &|a, b| {
            compare_dests(&a.config.addr, &b.config.addr)
        });
    }
    let protocol = key_protocol(&service.key);
    for dest in dests {
        let name = addr_text(&dest.config.addr, protocol, format.numeric, ports);
        let name = if dest.config.addr.is_ipv4() {
            truncate(name, DEST_TEXT_CHARS_MAX)
        } else {
            name
        };
        let _ = match format.view {
            ListView::Services => writeln!(
                out,
                "  -> {name:<28} {:<7} {:<6} {:<10} {:<10}",
                forward_name(dest.config.forward),
                dest.config.weight,
                dest.active_conns,
                dest.inactive_conns
            ),
            ListView::Stats => {
                let _ = write!(out, "  -> {name:<28}");
                push_stats(out, &dest.stats, format.exact);
                Ok(())
            }
            ListView::Rate => {
                // ipvsadm prints a dest's CPS, InPPS and OutPPS with %8llu,
                // its byte rates as largenum.
                let r = &dest.rates;
                let _ = write!(
                    out,
                    "  -> {name:<28} {:>8} {:>8} {:>8}",
                    r.cps, r.in_pps, r.out_pps
                );
                out.push_str(&largenum(r.in_bps, format.exact));
                out.push_str(&largenum(r.out_bps, format.exact));
                out.push('\n');
                Ok(())
            }
            ListView::Thresholds => writeln!(
                out,
                "  -> {name:<28} {:<10} {:<10} {:<10} {:<10}",
                dest.config.u_threshold,
                dest.config.l_threshold,
                dest.active_conns,
                dest.inactive_conns
            ),
            ListView::PersistentConn => writeln!(
                out,
                "  -> {name:<28} {:<9} {:<11} {:<10} {:<10}",
                dest.config.weight, dest.persist_conns, dest.active_conns, dest.inactive_conns
            ),
            ListView::TunInfo => writeln!(
                out,
                "  -> {name:<28} {:<7} {:<13} {:<6} {:<10} {:<10}",
                forward_name(dest.config.forward),
                tunnel_info(&dest.config),
                dest.config.weight,
                dest.active_conns,
                dest.inactive_conns
            ),
        };
    }
}

/// The service line of the plain, thresholds and persistent-conn views:
/// name, scheduler, ` (flags)`, ` persistent N`, ` mask M`, ` pe NAME`, ` ops`.
fn service_line(name: &str, service: &ServiceStatus) -> String {
    let config = &service.config;
    let mut line = format!("{name} {}", config.scheduler);
    if !config.sched_flags.is_empty() {
        let _ = write!(line, " ({})", config.sched_flags.join(","));
    }
    if let Some(timeout_s) = config.persistent_timeout_s {
        let _ = write!(line, " persistent {timeout_s}");
        match (rvs_api::key_is_ipv6(&service.key), config.netmask) {
            (false, Some(mask)) if mask != u32::MAX => {
                let _ = write!(line, " mask {}", Ipv4Addr::from(mask));
            }
            (true, Some(prefix)) if prefix != 128 => {
                let _ = write!(line, " mask {prefix}");
            }
            _ => {}
        }
        if let Some(pe) = config
            .persistence_engine
            .as_deref()
            .filter(|pe| !pe.is_empty())
        {
            let _ = write!(line, " pe {pe}");
        }
    }
    if config.one_packet {
        line.push_str(" ops");
    }
    if service.config.proxy_protocol {
        // DPVS's extension, listed after ipvsadm's own flags.
        line.push_str(" proxy-protocol v2");
    }
    if service.config.sloppy_tcp {
        line.push_str(" sloppy-tcp");
    }
    if service.config.synproxy {
        // DPVS's flag, shown as DPVS's ipvsadm shows it.
        line.push_str(" synproxy");
    }
    line.push('\n');
    line
}

/// `TCP  192.168.10.100:80`, `UDP  [2001:db8::1]:53`, `SCTP 10.0.0.1:5000`,
/// `FWM  7`, `FWM  7 IPv6`.
fn service_text(key: &ServiceKey, format: &ListFormat, ports: &ServicesDb) -> String {
    match key {
        ServiceKey::Fwmark { mark, ipv6: false } => format!("FWM  {mark}"),
        ServiceKey::Fwmark { mark, ipv6: true } => format!("FWM  {mark} IPv6"),
        ServiceKey::Inet { protocol, addr } => {
            let name = match protocol {
                Protocol::Tcp => "TCP",
                Protocol::Udp => "UDP",
                Protocol::Sctp => "SCTP",
            };
            let text = format!(
                "{name:<4} {}",
                addr_text(addr, *protocol, format.numeric, ports)
            );
            if addr.is_ipv4() {
                truncate(text, SERVICE_COLUMN_CHARS)
            } else {
                text
            }
        }
    }
}

/// The protocol whose service names apply to a service's ports (TCP for
/// fwmark services, which ipvsadm creates as TCP).
fn key_protocol(key: &ServiceKey) -> Protocol {
    match key {
        ServiceKey::Inet { protocol, .. } => *protocol,
        ServiceKey::Fwmark { .. } => Protocol::Tcp,
    }
}

/// `a.b.c.d:port` or `[v6]:port`, the port named unless `numeric`.
pub(crate) fn addr_text(
    addr: &SocketAddr,
    protocol: Protocol,
    numeric: bool,
    ports: &ServicesDb,
) -> String {
    let port = match (numeric, ports.name_of(addr.port(), protocol)) {
        (false, Some(name)) => name.to_string(),
        _ => addr.port().to_string(),
    };
    match addr.ip() {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{}]:{port}", format_ipv6(&v6)),
    }
}

fn truncate(mut text: String, chars_max: usize) -> String {
    if let Some((cut, _)) = text.char_indices().nth(chars_max) {
        text.truncate(cut);
    }
    text
}

/// `--tun-info`'s column: `ipip`, `gue:<port>:<-c|+c|r+c>`, `gre:<-c|+c>`,
/// or `n/a` for a dest that is not a tunnel.
fn tunnel_info(dest: &rvs_api::DestConfig) -> String {
    use rvs_api::{TunnelCsum, TunnelKind};
    if dest.forward != Forward::Tunnel {
        return "n/a".to_string();
    }
    let csum = match dest.tunnel.csum {
        TunnelCsum::NoCsum => "-c",
        TunnelCsum::Csum => "+c",
        TunnelCsum::RemCsum => "r+c",
    };
    match dest.tunnel.kind {
        TunnelKind::Ipip => "ipip".to_string(),
        TunnelKind::Gue => format!("gue:{}:{csum}", dest.tunnel.port),
        TunnelKind::Gre => format!("gre:{csum}"),
    }
}

fn forward_name(forward: Forward) -> &'static str {
    match forward {
        Forward::Masq => "Masq",
        Forward::Tunnel => "Tunnel",
        Forward::Route => "Route",
        Forward::FullNat => "FullNat",
    }
}

/// C's `(int)(a - b)` on two unsigned 32-bit values.
fn wrapping_diff(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

fn address_family(ip: &IpAddr) -> i32 {
    match ip {
        IpAddr::V4(_) => AF_INET,
        IpAddr::V6(_) => AF_INET6,
    }
}

/// The address as the comparator sees it: big-endian 32-bit words.
fn address_words(ip: &IpAddr) -> Vec<u32> {
    match ip {
        IpAddr::V4(v4) => vec![u32::from(*v4)],
        IpAddr::V6(v6) => v6
            .octets()
            .chunks_exact(4)
            .map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
            .collect(),
    }
}

/// Compare the address words of two addresses of one family, stopping at the
/// first word that differs.
fn compare_words(a: &IpAddr, b: &IpAddr) -> i32 {
    address_words(a)
        .into_iter()
        .zip(address_words(b))
        .map(|(x, y)| wrapping_diff(x, y))
        .find(|&r| r != 0)
        .unwrap_or(0)
}

/// ipvsadm's `ipvs_cmp_services`: by fwmark, address family, protocol number,
/// address, port, each difference taken as C does (fwmark and address
/// subtractions wrap). Negative, zero or positive like `memcmp`.
pub fn compare_services(a: &ServiceKey, b: &ServiceKey) -> i32 {
    /// (fwmark, family, protocol, address, port) of a key.
    fn fields(key: &ServiceKey) -> (u32, i32, i32, IpAddr, i32) {
        match key {
            ServiceKey::Inet { protocol, addr } => (
                0,
                address_family(&addr.ip()),
                i32::from(protocol.number()),
                addr.ip(),
                i32::from(addr.port()),
            ),
            ServiceKey::Fwmark { mark, ipv6 } => {
                let (family, zero) = if *ipv6 {
                    (AF_INET6, IpAddr::from([0u16; 8]))
                } else {
                    (AF_INET, IpAddr::from([0u8; 4]))
                };
                (*mark, family, i32::from(Protocol::Tcp.number()), zero, 0)
            }
        }
    }
    let (mark_a, af_a, proto_a, ip_a, port_a) = fields(a);
    let (mark_b, af_b, proto_b, ip_b, port_b) = fields(b);
    [
        wrapping_diff(mark_a, mark_b),
        af_a - af_b,
        proto_a - proto_b,
        compare_words(&ip_a, &ip_b),
        port_a - port_b,
    ]
    .into_iter()
    .find(|&r| r != 0)
    .unwrap_or(0)
}

/// ipvsadm's `ipvs_cmp_dests`: by address (wrapping), then port. Dests of
/// different families (tunnels may mix them) put IPv4 first.
pub fn compare_dests(a: &SocketAddr, b: &SocketAddr) -> i32 {
    [
        address_family(&a.ip()) - address_family(&b.ip()),
        compare_words(&a.ip(), &b.ip()),
        i32::from(a.port()) - i32::from(b.port()),
    ]
    .into_iter()
    .find(|&r| r != 0)
    .unwrap_or(0)
}

/// A top-down merge sort like glibc's `qsort` (`msort`): stable, and total
/// for any comparator, even one that is not a consistent order.
pub(crate) fn merge_sort<T: Copy>(items: &mut [T], compare: &dyn Fn(&T, &T) -> i32) {
    if items.len() < 2 {
        return;
    }
    let mid = items.len() / 2;
    merge_sort(&mut items[..mid], compare);
    merge_sort(&mut items[mid..], compare);
    let mut merged = Vec::with_capacity(items.len());
    let (mut i, mut j) = (0, mid);
    while i < mid && j < items.len() {
        if compare(&items[i], &items[j]) <= 0 {
            merged.push(items[i]);
            i += 1;
        } else {
            merged.push(items[j]);
            j += 1;
        }
    }
    merged.extend_from_slice(&items[i..mid]);
    merged.extend_from_slice(&items[j..]);
    items.copy_from_slice(&merged);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largenum_boundaries() {
        assert_eq!(largenum(0, false), "        0");
        assert_eq!(largenum(99_999_999, false), " 99999999");
        assert_eq!(largenum(100_000_000, false), "  100000K");
        assert_eq!(largenum(123_456_789, false), "  123456K");
        assert_eq!(largenum(999_999_999, false), "  999999K");
        assert_eq!(largenum(1_000_000_000, false), "    1000M");
        assert_eq!(largenum(99_999_999_999, false), "   99999M");
        assert_eq!(largenum(100_000_000_000, false), "     100G");
        assert_eq!(largenum(99_999_999_999_999, false), "   99999G");
        assert_eq!(largenum(123_000_000_000_000, false), "     123T");
        assert_eq!(largenum(u64::MAX, false), "18446744T");
    }

    #[test]
    fn largenum_exact_widens() {
        assert_eq!(largenum(0, true), "        0");
        assert_eq!(largenum(99_999_999, true), " 99999999");
        assert_eq!(largenum(100_000_000, true), " 100000000");
        assert_eq!(largenum(1_358_024_679, true), " 1358024679");
    }

    #[test]
    fn wrapping_address_order() {
        let a: SocketAddr = "10.0.0.1:80".parse().unwrap();
        let b: SocketAddr = "192.168.0.1:80".parse().unwrap();
        assert!(
            compare_dests(&a, &b) > 0,
            "10.0.0.1 sorts after 192.168.0.1"
        );
        assert!(compare_dests(&b, &a) < 0);
        let c: SocketAddr = "10.0.0.2:80".parse().unwrap();
        assert!(compare_dests(&a, &c) < 0);
        let d: SocketAddr = "10.0.0.1:81".parse().unwrap();
        assert!(compare_dests(&a, &d) < 0);
    }

    #[test]
    fn merge_sort_survives_cycles() {
        // a < b < c < a under the wrapping comparator.
        let mut words = vec![0xc000_0000u32, 0x6000_0000, 0x0000_0001, 0x6000_0000];
        merge_sort(&mut words, &|x, y| wrapping_diff(*x, *y));
        assert_eq!(words.len(), 4);
        let mut plain = vec![5, 3, 9, 1, 3];
        merge_sort(&mut plain, &|x: &i32, y: &i32| x - y);
        assert_eq!(plain, [1, 3, 3, 5, 9]);
    }

    #[test]
    fn truncation_is_by_characters() {
        assert_eq!(truncate("abcdef".into(), 3), "abc");
        assert_eq!(truncate("ab".into(), 3), "ab");
    }
}

/// `-L --daemon`: one line per running daemon, master first
/// (`spec/ipvsadm.md` §2.7).
pub fn format_daemons(daemons: &[rvs_api::SyncDaemonStatus]) -> String {
    let mut out = String::new();
    for d in daemons {
        out.push_str(&format!(
            "{} sync daemon (mcast={}, syncid={}, maxlen={}, group={}, port={}, ttl={})\n",
            d.config.role.name(),
            d.interface,
            d.config.syncid,
            d.maxlen,
            d.group,
            d.port,
            d.ttl
        ));
    }
    out
}

#[cfg(test)]
mod daemon_tests {
    use super::format_daemons;
    use rvs_api::{SyncDaemon, SyncDaemonStatus, SyncRole};

    /// `spec/ipvsadm.md` §2.7's two lines.
    #[test]
    fn daemons_print_as_ipvsadm_prints_them() {
        let d = |role, iface: &str, syncid| SyncDaemonStatus {
            config: SyncDaemon {
                role,
                interface: Some(iface.into()),
                syncid,
                maxlen: None,
                group: None,
                port: None,
                ttl: None,
            },
            interface: iface.into(),
            maxlen: 1472,
            group: "224.0.0.81".parse().unwrap(),
            port: 8848,
            ttl: 1,
            datagrams: 0,
            entries: 0,
            errors: 0,
        };
        assert_eq!(
            format_daemons(&[d(SyncRole::Master, "eth0", 1), d(SyncRole::Backup, "eth1", 0)]),
            "master sync daemon (mcast=eth0, syncid=1, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n\
             backup sync daemon (mcast=eth1, syncid=0, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
        );
        assert_eq!(format_daemons(&[]), "");
    }
}
