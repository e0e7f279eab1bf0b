//! `rvsadm -S [-n]`: the table as the command lines that make it again
//! (`spec/ipvsadm.md` §3.1), in `-L`'s order, with no banner. `rvsadm -R`
//! reads such lines back.
//!
//! What ipvsadm saves is saved as it saves it, byte for byte: per service
//! `-A <svc> -s <sched>` then ` -p <timeout>`, ` -M <mask>` (persistent and
//! not all-ones), ` --pe <name>`, ` -o`, ` -b <flags>`; per dest `-a <svc>
//! -r <addr:port> <-m|-g|-i> -w <weight>` and the tunnel options.
//! Thresholds are not saved (ipvsadm does not). rvs's extensions follow the
//! same rule, so a table that uses none of them saves exactly as ipvsadm's:
//! classifier rules first (`--add-mark ...`), FullNAT dests as
//! `--fullnat`, a service's local addresses after its dests (`--add-laddr
//! -t VIP:PORT -z LIP`), ` --proxy-protocol v2`, ` --sloppy-tcp` and ` --synproxy`
//! on its `-A` line.

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use rvs_api::{
    Forward, LaddrStatus, MarkRule, Protocol, ServiceKey, ServiceStatus, TunnelCsum, TunnelKind,
};

use super::list::{addr_text, compare_dests, compare_services, merge_sort};
use super::names::ServicesDb;

/// The whole `-S` output.
pub fn format_save(
    services: &[ServiceStatus],
    laddrs: &[LaddrStatus],
    marks: &[MarkRule],
    numeric: bool,
    ports: &ServicesDb,
) -> String {
    let mut out = String::new();
    for rule in marks {
        let _ = writeln!(out, "{rule}");
    }
    let mut ordered: Vec<&ServiceStatus> = services.iter().collect();
    merge_sort(&mut ordered, &|a, b| compare_services(&a.key, &b.key));
    for s in ordered {
        let svc = service_arg(&s.key, numeric, ports);
        let c = &s.config;
        let _ = write!(out, "-A {svc} -s {}", c.scheduler);
        if let Some(t) = c.persistent_timeout_s {
            let _ = write!(out, " -p {t}");
            if let Some(mask) = mask_text(&s.key, c.netmask) {
                let _ = write!(out, " -M {mask}");
            }
        }
        if let Some(pe) = &c.persistence_engine {
            let _ = write!(out, " --pe {pe}");
        }
        if c.one_packet {
            out.push_str(" -o");
        }
        if !c.sched_flags.is_empty() {
            let _ = write!(out, " -b {}", c.sched_flags.join(","));
        }
        if c.proxy_protocol {
            out.push_str(" --proxy-protocol v2");
        }
        if c.sloppy_tcp {
            out.push_str(" --sloppy-tcp");
        }
        if c.synproxy {
            out.push_str(" --synproxy");
        }
        out.push('\n');
        let mut dests: Vec<_> = s.dests.iter().collect();
        merge_sort(&mut dests, &|a, b| {
            compare_dests(&a.config.addr, &b.config.addr)
        });
        let protocol = key_protocol(&s.key);
        for d in dests {
            let d = &d.config;
            let method = match d.forward {
                Forward::Masq => "-m",
                Forward::Route => "-g",
                Forward::Tunnel => "-i",
                Forward::FullNat => "--fullnat",
            };
            let addr = addr_text(&d.addr, protocol, numeric, ports);
            let _ = write!(out, "-a {svc} -r {addr} {method} -w {}", d.weight);
            if d.forward == Forward::Tunnel {
                let csum = match d.tunnel.csum {
                    TunnelCsum::NoCsum => "--tun-nocsum",
                    TunnelCsum::Csum => "--tun-csum",
                    TunnelCsum::RemCsum => "--tun-remcsum",
                };
                match d.tunnel.kind {
                    TunnelKind::Ipip => out.push_str(" --tun-type ipip"),
                    TunnelKind::Gue => {
                        let _ = write!(out, " --tun-type gue --tun-port {} {csum}", d.tunnel.port);
                    }
                    TunnelKind::Gre => {
                        let _ = write!(out, " --tun-type gre {csum}");
                    }
                }
            }
            out.push('\n');
        }
        for l in laddrs.iter().filter(|l| l.service == s.key) {
            let _ = writeln!(out, "--add-laddr {svc} -z {}", l.addr);
        }
    }
    out
}

/// `-t ADDR:PORT`, `-u ADDR:PORT`, `--sctp-service ADDR:PORT`, `-f MARK [-6]`.
fn service_arg(key: &ServiceKey, numeric: bool, ports: &ServicesDb) -> String {
    match key {
        ServiceKey::Inet { protocol, addr } => {
            let flag = match protocol {
                Protocol::Tcp => "-t",
                Protocol::Udp => "-u",
                Protocol::Sctp => "--sctp-service",
            };
            format!("{flag} {}", addr_text(addr, *protocol, numeric, ports))
        }
        ServiceKey::Fwmark { mark, ipv6: false } => format!("-f {mark}"),
        ServiceKey::Fwmark { mark, ipv6: true } => format!("-f {mark} -6"),
    }
}

/// The protocol whose port names a service uses (TCP for fwmark services).
fn key_protocol(key: &ServiceKey) -> Protocol {
    match key {
        ServiceKey::Inet { protocol, .. } => *protocol,
        ServiceKey::Fwmark { .. } => Protocol::Tcp,
    }
}

/// The `-M` of a persistent service, when it is not the default.
fn mask_text(key: &ServiceKey, netmask: Option<u32>) -> Option<String> {
    let ipv6 = match key {
        ServiceKey::Inet { addr, .. } => addr.is_ipv6(),
        ServiceKey::Fwmark { ipv6, .. } => *ipv6,
    };
    match netmask? {
        128 if ipv6 => None,
        len if ipv6 => Some(len.to_string()),
        u32::MAX => None,
        mask => Some(Ipv4Addr::from(mask).to_string()),
    }
}

/// Split one `-R` line into argv: blanks and tabs separate words, a literal
/// `ipvsadm` (or `rvsadm`) word is dropped, so saved lines and lines that
/// call the program both work.
pub fn restore_words(line: &str) -> Vec<String> {
    line.split([' ', '\t', '\r'])
        .filter(|w| !w.is_empty() && *w != "ipvsadm" && *w != "rvsadm")
        .map(str::to_string)
        .collect()
}
