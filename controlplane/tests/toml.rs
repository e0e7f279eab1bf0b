//! rvs's own TOML: the example in `configs/`, the samples and generated
//! models read back through it to the same model, and its errors with
//! their positions.

mod common;
use common::{load, messages, parse, parse_ok};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use proptest::prelude::*;
use rvs_api::{Forward, Protocol, ServiceKey, Tunnel, TunnelCsum, TunnelKind};
use rvs_controlplane::config::{
    self, model, CheckKind, Dialect, DnsType, HttpProtocol, Model, VrrpState,
};

#[test]
fn the_example_toml_parses_and_reads_back() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/rvs.toml");
    let (m, w) = config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(w.is_empty(), "{:?}", messages(&w));
    assert_eq!(m.services.len(), 5);
    assert_eq!(m.services[4].keys.len(), 2, "the group's range");
    assert_eq!(m.services[3].laddr_pool.as_deref(), Some("fnat_pool"));
    assert_eq!(m.network.mark_rules[0].mark, 7);
    assert_eq!(m.global.lvs_timeouts.unwrap().tcp_s, 900);
    let back = parse_ok(&m.to_toml(), Dialect::Toml).0;
    assert_eq!(back, m);
}

#[test]
fn samples_round_trip_through_toml() {
    for name in [
        "spec_keepalived.conf",
        "spec_ldirectord.cf",
        "fnat.conf",
        "glob_main.conf",
    ] {
        let (m, _) = load(name);
        let text = m.to_toml();
        let (back, w) =
            parse(&text, Dialect::Toml).unwrap_or_else(|e| panic!("{name}: {e}\n{text}"));
        assert_eq!(back, m, "{name}:\n{text}");
        assert!(w.is_empty(), "{name}: {:?}", messages(&w));
    }
}

#[test]
fn toml_errors_have_positions() {
    let e = parse(
        "[[service]]\naddress = \"10.0.0.1:80\"\nprotocl = \"tcp\"\n",
        Dialect::Toml,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/test.conf:3:1: unknown field `protocl`"),
        "{e}"
    );
    let e = parse("[[service]]\naddress = \"10.0.0.300:80\"\n", Dialect::Toml).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:2:11: invalid address '10.0.0.300:80'"
    );
    let text = "[[service]]\naddress = \"10.0.0.1:80\"\nprotocol = \"tcp\"\n[[service.dest]]\naddress = \"10.0.0.2:80\"\n[[service.dest]]\naddress = \"10.0.0.2:80\"\n";
    let e = parse(text, Dialect::Toml).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:6:1: real server 10.0.0.2:80 is defined twice in virtual server 10.0.0.1:80 (first at /nonexistent/test.conf:4:1)"
    );
    let text = "[[service]]\naddress = \"10.0.0.1:80\"\n[[service.dest]]\naddress = \"10.0.0.2:80\"\nweight = 4294967295\n";
    let e = parse(text, Dialect::Toml).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:3:1: weight '4294967295' is outside range 0..2147483647"
    );
    let text = "[[service]]\nfwmark = 3\n[[service.dest]]\naddress = \"10.0.0.2\"\n[[service.dest.check]]\nkind = \"tcp_check\"\nmisc_path = \"/bin/true\"\n";
    let e = parse(text, Dialect::Toml).unwrap_err();
    assert_eq!(
        e.to_string(),
        "/nonexistent/test.conf:5:1: 'misc_path' is not a setting of TCP_CHECK"
    );
}

// --- the TOML round trip over generated models ---------------------------

/// splitmix64: a small deterministic generator driven by proptest's seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn maybe<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if self.coin() {
            Some(f(self))
        } else {
            None
        }
    }
    fn duration(&mut self) -> Duration {
        if self.coin() {
            Duration::from_secs(self.range(0, 86_400))
        } else {
            Duration::from_micros(self.range(0, 100_000_000))
        }
    }
    fn word(&mut self) -> String {
        let n = self.range(1, 10);
        (0..n)
            .map(|_| *self.pick(&['a', 'z', 'Q', '0', '_', '-', '/', '.', ' ', 'é', '"', '\\']))
            .collect()
    }
    fn hex(&mut self, wild: bool) -> String {
        let n = self.range(1, 4) * 2;
        let digits: &[char] = if wild {
            &['0', '9', 'a', 'F', 'x', 'X']
        } else {
            &['0', '9', 'a', 'F']
        };
        (0..n).map(|_| *self.pick(digits)).collect()
    }
}

fn gen_tunnel(r: &mut Rng) -> Tunnel {
    match r.below(3) {
        0 => Tunnel {
            kind: TunnelKind::Ipip,
            port: 0,
            csum: *r.pick(&[TunnelCsum::NoCsum, TunnelCsum::Csum]),
        },
        1 => Tunnel {
            kind: TunnelKind::Gue,
            port: r.range(1, 65535) as u16,
            csum: *r.pick(&[TunnelCsum::NoCsum, TunnelCsum::Csum, TunnelCsum::RemCsum]),
        },
        _ => Tunnel {
            kind: TunnelKind::Gre,
            port: 0,
            csum: *r.pick(&[TunnelCsum::NoCsum, TunnelCsum::Csum]),
        },
    }
}

fn gen_method(r: &mut Rng) -> (Forward, Tunnel) {
    let f = *r.pick(&[
        Forward::Route,
        Forward::Tunnel,
        Forward::Masq,
        Forward::FullNat,
    ]);
    let t = if f == Forward::Tunnel {
        gen_tunnel(r)
    } else {
        Tunnel::default()
    };
    (f, t)
}

fn gen_ip(v6: bool, a: u64, b: u64) -> IpAddr {
    if v6 {
        IpAddr::V6(std::net::Ipv6Addr::new(
            0x2001,
            0xdb8,
            a as u16,
            0,
            0,
            0,
            0,
            b as u16 + 1,
        ))
    } else {
        IpAddr::V4(std::net::Ipv4Addr::new(
            10,
            a as u8,
            (b / 200) as u8,
            (b % 200) as u8 + 1,
        ))
    }
}

fn gen_check(r: &mut Rng) -> model::Check {
    use model::{Check, DnsCheck, HttpCheck, MiscCheck, SmtpCheck, StatusRange, UdpCheck, Url};
    let http = |r: &mut Rng| HttpCheck {
        urls: (0..r.range(1, 2))
            .map(|_| {
                let digest = r.maybe(|r| (0..32).map(|_| *r.pick(&['0', '7', 'a', 'f'])).collect());
                let regex = r
                    .maybe(Rng::word)
                    .filter(|w| regex::bytes::Regex::new(w).is_ok());
                let mut status_code: Vec<StatusRange> = (0..r.range(0, 2))
                    .map(|_| {
                        let first = r.range(100, 599) as u16;
                        let last = r.range(u64::from(first), 599) as u16;
                        StatusRange { first, last }
                    })
                    .collect();
                if status_code.is_empty() {
                    status_code.push(StatusRange::SUCCESS);
                }
                Url {
                    path: format!("/{}", r.word()),
                    digest,
                    status_code,
                    virtualhost: r.maybe(Rng::word),
                    regex,
                }
            })
            .collect(),
        http_protocol: *r.pick(&[
            HttpProtocol::Http10,
            HttpProtocol::Http10Close,
            HttpProtocol::Http11,
        ]),
        virtualhost: r.maybe(Rng::word),
        fast_recovery: r.coin(),
        enable_sni: false,
        sni_name: None,
        tls_compliant: false,
    };
    let kind = match r.below(8) {
        0 => CheckKind::Tcp,
        1 => CheckKind::Http(http(r)),
        2 => {
            let mut h = http(r);
            h.enable_sni = r.coin();
            h.sni_name = r.maybe(Rng::word);
            h.tls_compliant = r.coin();
            CheckKind::Ssl(h)
        }
        3 => CheckKind::Misc(MiscCheck {
            path: r.word(),
            timeout: r.duration(),
            dynamic: r.coin(),
            user: r.maybe(Rng::word),
        }),
        4 => CheckKind::Smtp(SmtpCheck {
            helo_name: r.maybe(Rng::word),
        }),
        5 => CheckKind::Dns(DnsCheck {
            query_type: *r.pick(&[
                DnsType::A,
                DnsType::Ns,
                DnsType::Cname,
                DnsType::Soa,
                DnsType::Mx,
                DnsType::Txt,
                DnsType::Aaaa,
            ]),
            name: r.word(),
        }),
        6 => CheckKind::Ping,
        _ => CheckKind::Udp(UdpCheck {
            payload: r.maybe(|r| r.hex(false)),
            require_reply: r.maybe(|r| if r.coin() { String::new() } else { r.hex(true) }),
            min_reply_length: r.range(0, 100) as u32,
            max_reply_length: r.range(0, 65535) as u32,
        }),
    };
    let misc = matches!(kind, CheckKind::Misc(_));
    let net = |r: &mut Rng, f: fn(&mut Rng) -> u64| if misc { None } else { r.maybe(f) };
    Check {
        connect_ip: net(r, |r| r.range(1, 250)).map(|n| IpAddr::from([192, 0, 2, n as u8])),
        connect_port: net(r, |r| r.range(1, 65535)).map(|p| p as u16),
        bindto: net(r, |r| r.range(1, 250)).map(|n| IpAddr::from([198, 51, 100, n as u8])),
        bind_port: net(r, |r| r.range(1, 65535)).map(|p| p as u16),
        bind_if: if misc { None } else { r.maybe(Rng::word) },
        fwmark: net(r, |r| r.range(1, u64::from(u32::MAX))).map(|m| m as u32),
        connect_timeout: if misc {
            model::CONNECT_TIMEOUT_DEFAULT
        } else {
            r.duration()
        },
        retry: r.below(1000) as u32,
        delay_before_retry: r.duration(),
        delay_loop: r.duration(),
        warmup: r.duration(),
        alpha: r.coin(),
        log_all_failures: r.coin(),
        kind,
    }
}

fn gen_service(r: &mut Rng, i: u64, pools: &[String]) -> model::Service {
    use model::{Dest, Service, SorryServer};
    let v6 = r.coin();
    let protocol = *r.pick(&[Protocol::Tcp, Protocol::Udp]);
    let (group, keys) = match r.below(3) {
        0 => {
            let port = r.range(1, 65535) as u16;
            (
                None,
                vec![ServiceKey::Inet {
                    protocol,
                    addr: SocketAddr::new(gen_ip(v6, i, 0), port),
                }],
            )
        }
        1 => (
            None,
            vec![ServiceKey::Fwmark {
                mark: 1000 + i as u32,
                ipv6: v6,
            }],
        ),
        _ => {
            let mut keys: Vec<ServiceKey> = (0..r.range(1, 3))
                .map(|k| ServiceKey::Inet {
                    protocol,
                    addr: SocketAddr::new(gen_ip(v6, i, k), r.range(0, 65535) as u16),
                })
                .collect();
            if r.coin() {
                keys.push(ServiceKey::Fwmark {
                    mark: 2000 + i as u32,
                    ipv6: v6,
                });
            }
            (Some(format!("group{i}")), keys)
        }
    };
    let has_addr = keys.iter().any(|k| matches!(k, ServiceKey::Inet { .. }));
    let has_mark = keys.iter().any(|k| matches!(k, ServiceKey::Fwmark { .. }));
    let zero_port = keys
        .iter()
        .any(|k| matches!(k, ServiceKey::Inet { addr, .. } if addr.port() == 0));
    let scheduler = r.pick(&model::SCHEDULERS).to_string();
    let names = rvs_api::sched_flag_names(&scheduler);
    let sched_flags = (0..3)
        .filter(|_| r.coin())
        .map(|b| names[b].to_string())
        .collect();
    let mut persistence_timeout_s =
        r.maybe(|r| r.range(1, u64::from(model::PERSISTENT_TIMEOUT_MAX_S)) as u32);
    if zero_port && persistence_timeout_s.is_none() {
        persistence_timeout_s = Some(360);
    }
    let persistence_netmask = persistence_timeout_s.and_then(|_| {
        r.maybe(|r| {
            if v6 {
                r.range(1, 128) as u32
            } else {
                r.next() as u32
            }
        })
    });
    let (forward, tunnel) = gen_method(r);
    let dests: Vec<Dest> = (0..r.range(1, 3))
        .map(|j| {
            let (forward, tunnel) = gen_method(r);
            let dv6 = if forward == Forward::Tunnel {
                r.coin()
            } else {
                v6
            };
            Dest {
                addr: SocketAddr::new(gen_ip(dv6, 100 + i, j), r.range(0, 65535) as u16),
                forward,
                tunnel,
                weight: if r.coin() {
                    r.range(0, 10) as u32
                } else {
                    r.range(0, u64::from(model::WEIGHT_MAX)) as u32
                },
                inhibit_on_failure: r.coin(),
                u_threshold: r.below(5) as u32,
                l_threshold: r.below(5) as u32,
                alpha: r.coin(),
                notify_up: r.maybe(Rng::word),
                notify_down: r.maybe(Rng::word),
                smtp_alert: r.coin(),
                checks: (0..r.range(0, 2)).map(|_| gen_check(r)).collect(),
            }
        })
        .collect();
    let sum: u64 = dests.iter().map(|d| u64::from(d.weight)).sum();
    let sum = u32::try_from(sum).unwrap_or(u32::MAX).max(1);
    let quorum = r.range(1, u64::from(sum.min(20))) as u32;
    let hysteresis = r.below(u64::from(quorum)) as u32;
    let sorry_server = r.maybe(|r| {
        let (f, t) = gen_method(r);
        let sv6 = if f == Forward::Tunnel { r.coin() } else { v6 };
        SorryServer {
            addr: SocketAddr::new(gen_ip(sv6, 200 + i, 0), r.range(0, 65535) as u16),
            forward: f,
            tunnel: t,
            inhibit: r.coin(),
        }
    });
    // What the resolver keeps: TCP or fwmark, no FNAT real servers.
    let sloppy_tcp = (!has_addr || protocol == Protocol::Tcp)
        && !dests.iter().any(|d| d.forward == Forward::FullNat)
        && r.coin();
    Service {
        group,
        keys,
        scheduler,
        sched_flags,
        one_packet: (!has_addr || protocol == Protocol::Udp) && r.coin(),
        persistence_timeout_s,
        persistence_netmask,
        persistence_engine: r.maybe(|_| "sip".to_string()),
        proxy_protocol: r.coin(),
        sloppy_tcp,
        // Only with NAT and FullNAT dests (`syn_proxy_in_toml_and_keepalived`
        // in tests/config.rs).
        synproxy: false,
        laddr_pool: if pools.is_empty() {
            None
        } else {
            r.maybe(|r| r.pick(pools).clone())
        },
        forward,
        tunnel,
        delay_loop: r.duration(),
        alpha: r.coin(),
        omega: r.coin(),
        inhibit_on_failure: r.coin(),
        ha_suspend: !has_mark && r.coin(),
        quorum,
        hysteresis,
        quorum_up: r.maybe(Rng::word),
        quorum_down: r.maybe(Rng::word),
        smtp_alert: r.coin(),
        sorry_server,
        dests,
        bgp_communities: gen_communities(r),
    }
}

fn gen_communities(r: &mut Rng) -> Vec<rvs_controlplane::config::bgp::Community> {
    use rvs_controlplane::config::bgp::Community;
    (0..r.below(3))
        .map(|_| {
            if r.coin() {
                Community::Standard(r.below(65536) as u16, r.below(65536) as u16)
            } else {
                Community::Large(r.below(1 << 32) as u32, r.below(9) as u32, u32::MAX)
            }
        })
        .collect()
}

fn gen_bgp(r: &mut Rng) -> rvs_controlplane::config::bgp::Bgp {
    use rvs_controlplane::config::bgp::{Bgp, Neighbor};
    Bgp {
        bird_socket: "/run/bird/bird.ctl".into(),
        bird_include: format!("/etc/bird/{}.conf", r.word()).into(),
        local_as: 1 + r.below(u64::from(u32::MAX) - 1) as u32,
        router_id: r.maybe(|r| std::net::Ipv4Addr::from(r.below(1 << 32) as u32)),
        local_address: r.maybe(|r| gen_ip(r.coin(), 7, 1)),
        local_port: r.maybe(|r| 1 + r.below(65535) as u16),
        neighbors: (0..1 + r.below(3))
            .map(|i| Neighbor {
                address: gen_ip(r.coin(), 8, i),
                asn: 1 + r.below(70000) as u32,
                port: r.maybe(|r| 1 + r.below(65535) as u16),
            })
            .collect(),
        hold_time: 3 + r.below(1000) as u16,
        bfd: r.coin(),
        communities: gen_communities(r),
        drain: r.coin(),
    }
}

fn gen_model(seed: u64) -> Model {
    use model::{
        Auth, AuthType, IfAddr, LaddrPool, LocalAddress, LvsTimeouts, PortAddress, Route,
        SyncGroup, Track, UnicastPeer, VirtualIp, VrrpInstance, VrrpScript,
    };
    let mut r = Rng(seed);
    let r = &mut r;
    let global = model::Global {
        router_id: r.maybe(Rng::word),
        vrrp_version: *r.pick(&[2, 3]),
        vrrp_strict: r.coin(),
        smtp_alert: r.maybe(Rng::coin),
        smtp_alert_checker: r.maybe(Rng::coin),
        lvs_flush: r.coin(),
        lvs_flush_on_stop: *r.pick(&[
            model::FlushOnStop::No,
            model::FlushOnStop::All,
            model::FlushOnStop::Vs,
        ]),
        vrrp_garp_interval: r.duration(),
        lvs_timeouts: r.maybe(|r| LvsTimeouts {
            tcp_s: r.below(1000) as u32,
            tcpfin_s: r.below(1000) as u32,
            udp_s: r.range(1, 1000) as u32,
        }),
        ..model::Global::default()
    };
    let pools: Vec<LaddrPool> = (0..r.below(3))
        .map(|p| LaddrPool {
            name: format!("pool{p}"),
            // IPv4 addresses, then an IPv6 one: a FullNAT dest of either
            // family has a local address of its own (decision 42).
            addresses: (0..r.range(1, 3))
                .map(|k| LocalAddress {
                    addr: IpAddr::from([198, 18, p as u8, k as u8 + 1]),
                    port: r.maybe(|_| "lan0".to_string()),
                })
                .chain([LocalAddress {
                    addr: gen_ip(true, 250, p),
                    port: None,
                }])
                .collect(),
        })
        .collect();
    let pool_names: Vec<String> = pools.iter().map(|p| p.name.clone()).collect();
    let network = model::Network {
        addresses: (0..r.below(2))
            .map(|k| PortAddress {
                port: r.word(),
                address: IfAddr {
                    addr: IpAddr::from([198, 18, 9, k as u8 + 1]),
                    prefix_len: r.range(0, 32) as u8,
                },
            })
            .collect(),
        routes: (0..r.below(2))
            .map(|_| Route {
                dst: rvs_api::Prefix::new(IpAddr::from([198, 19, r.below(255) as u8, 0]), 24)
                    .unwrap(),
                via: r.maybe(|_| IpAddr::from([198, 18, 0, 1])),
                port: r.maybe(Rng::word),
            })
            .collect(),
        local_address_pools: pools,
        mark_rules: (0..r.below(3))
            .map(|k| rvs_api::MarkRule {
                mark: k as u32 + 1,
                protocol: r.maybe(|r| *r.pick(&[Protocol::Tcp, Protocol::Udp])),
                dst: rvs_api::Prefix::new(IpAddr::from([198, 18, 0, 100]), r.range(8, 32) as u8)
                    .unwrap(),
                dst_ports: (0..r.below(3))
                    .map(|_| {
                        let first = r.below(60000) as u16;
                        rvs_api::PortRange {
                            first,
                            last: first + r.below(100) as u16,
                        }
                    })
                    .collect(),
                src: r.maybe(|_| "198.18.0.0/16".parse().unwrap()),
            })
            .collect(),
    };
    let services = (0..r.below(5))
        .map(|i| gen_service(r, i, &pool_names))
        .collect();
    let scripts = (0..r.below(3))
        .map(|k| VrrpScript {
            name: format!("script{k}"),
            script: r.word(),
            interval: r.duration(),
            timeout: r.duration(),
            weight: r.range(0, 506) as i32 - 253,
            reverse: r.coin(),
            rise: r.range(1, 10) as u32,
            fall: r.range(1, 10) as u32,
            user: r.maybe(Rng::word),
            init_fail: r.coin(),
        })
        .collect();
    let track = |r: &mut Rng| Track {
        name: r.word(),
        weight: r.maybe(|r| r.range(0, 506) as i32 - 253),
        reverse: r.coin(),
    };
    let instances: Vec<VrrpInstance> = (0..r.below(3))
        .map(|k| {
            let version = *r.pick(&[2u8, 3]);
            let priority = r.range(1, 255) as u8;
            let v6 = version == 3 && r.coin();
            let vip = |r: &mut Rng| VirtualIp {
                address: IfAddr {
                    addr: gen_ip(v6, 50, r.below(100)),
                    prefix_len: r.range(8, 32) as u8,
                },
                brd: None,
                dev: r.maybe(Rng::word),
                scope: r.maybe(|_| "global".to_string()),
                label: r.maybe(|_| "eth0:vip".to_string()),
            };
            VrrpInstance {
                name: format!("VI_{k}"),
                state: *r.pick(&[VrrpState::Master, VrrpState::Backup]),
                interface: r.maybe(Rng::word),
                virtual_router_id: r.range(1, 255) as u8,
                priority,
                advert_int_cs: if version == 2 {
                    r.range(1, 255) as u32 * 100
                } else {
                    r.range(1, 4095) as u32
                },
                version,
                nopreempt: priority != 255 && r.coin(),
                preempt_delay: Duration::from_millis(r.below(1_000_000)),
                authentication: if version == 2 && !global.vrrp_strict {
                    r.maybe(|r| Auth {
                        kind: *r.pick(&[AuthType::Pass, AuthType::Ah]),
                        pass: r.word().chars().take(8).collect(),
                    })
                } else {
                    None
                },
                virtual_ipaddress: (0..r.below(3)).map(|_| vip(r)).collect(),
                virtual_ipaddress_excluded: (0..r.below(2)).map(|_| vip(r)).collect(),
                track_interface: (0..r.below(2)).map(|_| track(r)).collect(),
                track_script: (0..r.below(2)).map(|_| track(r)).collect(),
                notify_master: r.maybe(Rng::word),
                notify_backup: r.maybe(Rng::word),
                notify_fault: r.maybe(Rng::word),
                notify_stop: r.maybe(Rng::word),
                notify: r.maybe(Rng::word),
                unicast_src_ip: r.maybe(|_| gen_ip(false, 60, 1)),
                unicast_peer: (0..r.below(2))
                    .map(|n| UnicastPeer {
                        address: gen_ip(false, 61, n),
                        min_ttl: r.maybe(|r| r.below(255) as u8),
                        max_ttl: r.maybe(|r| r.below(255) as u8),
                    })
                    .collect(),
                mcast_src_ip: r.maybe(|_| gen_ip(false, 62, 1)),
                garp_master_delay_s: r.below(100) as u32,
                garp_master_repeat: r.below(100) as u32,
                garp_master_refresh_s: r.below(100) as u32,
                dont_track_primary: r.coin(),
                accept: r.coin(),
                smtp_alert: r.maybe(Rng::coin),
            }
        })
        .collect();
    let sync_groups = (0..r.below(2))
        .map(|k| SyncGroup {
            name: format!("VG_{k}"),
            group: instances.iter().map(|i| i.name.clone()).collect(),
            notify: r.maybe(Rng::word),
            track_script: (0..r.below(2)).map(|_| track(r)).collect(),
            smtp_alert: r.maybe(Rng::coin),
            ..SyncGroup::default()
        })
        .collect();
    Model {
        global,
        services,
        network,
        vrrp: model::Vrrp {
            scripts,
            sync_groups,
            instances,
        },
        bgp: r.maybe(gen_bgp),
        bgp_in_error: false,
    }
}

/// The model a seed gives resolves from its own TOML to itself.
fn round_trip(seed: u64) {
    let m = gen_model(seed);
    let text = m.to_toml();
    let back = match parse(&text, Dialect::Toml) {
        Ok((back, _)) => back,
        Err(e) => panic!("seed {seed}: {e}\n{text}"),
    };
    assert_eq!(back, m, "seed {seed}:\n{text}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn generated_models_round_trip_through_toml(seed in any::<u64>()) {
        round_trip(seed);
    }
}

#[test]
fn generated_models_cover_every_variant() {
    let mut kinds = std::collections::HashSet::new();
    let mut forwards = std::collections::HashSet::new();
    let mut tunnels = std::collections::HashSet::new();
    let mut targets = std::collections::HashSet::new();
    for seed in 0..400 {
        let m = gen_model(seed);
        for s in &m.services {
            targets.insert(match (&s.group, s.keys[0]) {
                (Some(_), _) => "group",
                (None, ServiceKey::Inet { .. }) => "address",
                (None, ServiceKey::Fwmark { .. }) => "fwmark",
            });
            for d in &s.dests {
                forwards.insert(format!("{:?}", d.forward));
                if d.forward == Forward::Tunnel {
                    tunnels.insert(format!("{:?}", d.tunnel.kind));
                }
                for c in &d.checks {
                    kinds.insert(c.kind.keyword());
                }
            }
        }
        round_trip(seed);
    }
    assert_eq!(kinds.len(), 8, "{kinds:?}");
    assert_eq!(forwards.len(), 4, "{forwards:?}");
    assert_eq!(tunnels.len(), 3, "{tunnels:?}");
    assert_eq!(targets.len(), 3, "{targets:?}");
}
