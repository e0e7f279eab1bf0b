//! Byte-exact listing tests against the samples of the ipvsadm spec
//! (`tests/fixtures/*.txt`, copied from `spec/ipvsadm.md` with their trailing
//! blanks), and the spec's sorting, largenum and single-service cases.

use std::net::SocketAddr;

use rvs_api::{
    DestConfig, DestStatus, Forward, Info, Protocol, ServiceConfig, ServiceKey, ServiceStatus,
    Stats,
};
use rvs_controlplane::rvsadm::{format_all, format_service, ListFormat, ListView, ServicesDb};

fn info() -> Info {
    Info {
        version: "0.1.0".into(),
        ipvs_version: 0x010201,
        conn_table_size: 4096,
        workers: 2,
        generation: 1,
    }
}

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("test address")
}

fn stats(conns: u64, in_pkts: u64, out_pkts: u64, in_bytes: u64, out_bytes: u64) -> Stats {
    Stats {
        conns,
        in_pkts,
        out_pkts,
        in_bytes,
        out_bytes,
    }
}

fn config(scheduler: &str) -> ServiceConfig {
    ServiceConfig::new(scheduler)
}

/// (address, forward, weight, active, inactive, persistent conns, stats)
fn dest(
    text: &str,
    forward: Forward,
    weight: u32,
    conns: (u64, u64, u64),
    stats: Stats,
) -> DestStatus {
    DestStatus {
        config: DestConfig {
            addr: addr(text),
            forward,
            weight,
            u_threshold: 0,
            l_threshold: 0,
            tunnel: Default::default(),
        },
        active_conns: conns.0,
        inactive_conns: conns.1,
        persist_conns: conns.2,
        stats,
        rates: Default::default(),
    }
}

fn tcp(text: &str) -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: addr(text),
    }
}

/// The services behind every sample of the spec, given in a scrambled order
/// with dests newest first, as the dataplane reports them.
fn sample() -> Vec<ServiceStatus> {
    let fwm = ServiceStatus {
        key: ServiceKey::Fwmark {
            mark: 7,
            ipv6: false,
        },
        config: ServiceConfig {
            persistent_timeout_s: Some(300),
            ..config("wlc")
        },
        stats: stats(1, 9, 0, 900, 0),
        rates: Default::default(),
        dests: vec![DestStatus {
            config: DestConfig {
                u_threshold: 100,
                l_threshold: 20,
                tunnel: Default::default(),
                ..dest(
                    "192.168.10.31:0",
                    Forward::Route,
                    5,
                    (1, 0, 1),
                    Stats::default(),
                )
                .config
            },
            ..dest(
                "192.168.10.31:0",
                Forward::Route,
                5,
                (1, 0, 1),
                stats(1, 9, 0, 900, 0),
            )
        }],
    };
    let v6 = ServiceStatus {
        key: tcp("[2001:db8::100]:80"),
        config: ServiceConfig {
            sched_flags: vec!["mh-port".into()],
            ..config("mh")
        },
        stats: stats(4, 40, 38, 4000, 38000),
        rates: Default::default(),
        dests: vec![dest(
            "[2001:db8::11]:80",
            Forward::Masq,
            1,
            (3, 1, 0),
            stats(4, 40, 38, 4000, 38000),
        )],
    };
    let dns = ServiceStatus {
        key: ServiceKey::Inet {
            protocol: Protocol::Udp,
            addr: addr("192.168.10.100:53"),
        },
        config: ServiceConfig {
            one_packet: true,
            ..config("rr")
        },
        stats: stats(197_999, 197_999, 0, 13_859_930, 0),
        rates: Default::default(),
        dests: vec![
            dest(
                "10.0.0.2:53",
                Forward::Tunnel,
                1,
                (0, 0, 0),
                stats(98_999, 98_999, 0, 6_929_930, 0),
            ),
            dest(
                "10.0.0.1:53",
                Forward::Tunnel,
                1,
                (0, 0, 0),
                stats(99_000, 99_000, 0, 6_930_000, 0),
            ),
        ],
    };
    let https = ServiceStatus {
        key: tcp("192.168.10.100:443"),
        config: ServiceConfig {
            persistent_timeout_s: Some(360),
            netmask: Some(0xffff_ff00),
            ..config("rr")
        },
        stats: stats(15, 300, 0, 45_000, 0),
        rates: Default::default(),
        dests: vec![
            dest(
                "192.168.10.22:443",
                Forward::Route,
                0,
                (2, 9, 1),
                stats(5, 100, 0, 15_000, 0),
            ),
            dest(
                "192.168.10.21:443",
                Forward::Route,
                1,
                (7, 3, 4),
                stats(10, 200, 0, 30_000, 0),
            ),
        ],
    };
    let http = ServiceStatus {
        key: tcp("192.168.10.100:80"),
        config: config("wlc"),
        stats: stats(3702, 170_367, 153_702, 13_703_670, 1_358_024_679),
        rates: Default::default(),
        dests: vec![
            dest(
                "192.168.10.12:80",
                Forward::Masq,
                2,
                (25, 81, 0),
                stats(2468, 113_578, 102_468, 9_135_780, 1_234_567_890),
            ),
            dest(
                "192.168.10.11:80",
                Forward::Masq,
                1,
                (12, 40, 0),
                stats(1234, 56_789, 51_234, 4_567_890, 123_456_789),
            ),
        ],
    };
    vec![fwm, dns, v6, https, http]
}

fn numeric(view: ListView) -> ListFormat {
    ListFormat {
        numeric: true,
        view,
        ..ListFormat::default()
    }
}

fn assert_same(got: &str, want: &str) {
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "line {}", i + 1);
    }
    assert_eq!(got, want);
}

#[test]
fn list_numeric_sample() {
    let got = format_all(
        &info(),
        &sample(),
        &numeric(ListView::Services),
        &ServicesDb::default(),
    );
    assert_same(&got, include_str!("fixtures/list_numeric.txt"));
}

#[test]
fn list_stats_sample() {
    let got = format_all(
        &info(),
        &sample(),
        &numeric(ListView::Stats),
        &ServicesDb::default(),
    );
    assert_same(&got, include_str!("fixtures/list_stats.txt"));
}

#[test]
fn list_stats_exact_sample() {
    let format = ListFormat {
        exact: true,
        ..numeric(ListView::Stats)
    };
    let got = format_all(&info(), &sample(), &format, &ServicesDb::default());
    assert_same(&got, include_str!("fixtures/list_stats_exact.txt"));
}

#[test]
fn list_thresholds_sample() {
    let got = format_all(
        &info(),
        &sample(),
        &numeric(ListView::Thresholds),
        &ServicesDb::default(),
    );
    assert_same(&got, include_str!("fixtures/list_thresholds.txt"));
}

#[test]
fn list_persistent_conn_sample() {
    let got = format_all(
        &info(),
        &sample(),
        &numeric(ListView::PersistentConn),
        &ServicesDb::default(),
    );
    assert_same(&got, include_str!("fixtures/list_persistent_conn.txt"));
}

#[test]
fn largenum_boundaries_in_a_listing() {
    // Spec test 5: 99999999, 100000000, 999999999, 1000000000, 99999999999, 100000000000.
    let mut services = sample();
    services.truncate(1);
    services[0].stats = stats(
        99_999_999,
        100_000_000,
        999_999_999,
        1_000_000_000,
        99_999_999_999,
    );
    services[0].dests[0].stats = stats(100_000_000_000, 0, 0, 0, 0);
    let got = format_all(
        &info(),
        &services,
        &numeric(ListView::Stats),
        &ServicesDb::default(),
    );
    let rows: Vec<&str> = got.lines().skip(3).collect();
    assert_eq!(
        rows,
        [
            "FWM  7                            99999999  100000K  999999K    1000M   99999M",
            "  -> 192.168.10.31:0                  100G        0        0        0        0",
        ]
    );
}

#[test]
fn wrapping_sort_of_dests() {
    // Spec test 6: 10.0.0.1 is listed after 192.168.0.1.
    let service = ServiceStatus {
        key: tcp("10.10.10.10:80"),
        config: config("rr"),
        stats: Stats::default(),
        rates: Default::default(),
        dests: vec![
            dest("10.0.0.1:80", Forward::Masq, 1, (0, 0, 0), Stats::default()),
            dest(
                "192.168.0.1:80",
                Forward::Masq,
                1,
                (0, 0, 0),
                Stats::default(),
            ),
        ],
    };
    let got = format_all(
        &info(),
        std::slice::from_ref(&service),
        &numeric(ListView::Services),
        &ServicesDb::default(),
    );
    let dests: Vec<&str> = got
        .lines()
        .skip(4)
        .map(|l| l.split_whitespace().nth(1).unwrap_or(""))
        .collect();
    assert_eq!(dests, ["192.168.0.1:80", "10.0.0.1:80"]);
    // With --nosort, the dataplane's order.
    let nosort = ListFormat {
        nosort: true,
        ..numeric(ListView::Services)
    };
    let got = format_all(&info(), &[service], &nosort, &ServicesDb::default());
    let dests: Vec<&str> = got
        .lines()
        .skip(4)
        .map(|l| l.split_whitespace().nth(1).unwrap_or(""))
        .collect();
    assert_eq!(dests, ["10.0.0.1:80", "192.168.0.1:80"]);
}

#[test]
fn wrapping_sort_of_services() {
    let a = ServiceStatus {
        key: tcp("10.0.0.1:80"),
        config: config("rr"),
        stats: Stats::default(),
        rates: Default::default(),
        dests: vec![],
    };
    let b = ServiceStatus {
        key: tcp("192.168.0.1:80"),
        ..a.clone()
    };
    let got = format_all(
        &info(),
        &[a, b],
        &numeric(ListView::Services),
        &ServicesDb::default(),
    );
    let rows: Vec<&str> = got.lines().skip(3).collect();
    assert_eq!(rows, ["TCP  192.168.0.1:80 rr", "TCP  10.0.0.1:80 rr"]);
}

#[test]
fn single_service_has_titles_but_no_banner() {
    // Spec test 7: `-L -n -t 192.168.10.100:80`.
    let services = sample();
    let http = services
        .iter()
        .find(|s| s.key == tcp("192.168.10.100:80"))
        .expect("sample has :80");
    let got = format_service(http, &numeric(ListView::Services), &ServicesDb::default());
    let want: String = include_str!("fixtures/list_numeric.txt")
        .lines()
        .skip(1)
        .take(5)
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn names_without_numeric_and_fwmark_ipv6() {
    let db = ServicesDb::parse("http\t80/tcp\twww\nhttps\t443/tcp\n");
    let services = vec![
        sample().remove(4),
        ServiceStatus {
            key: ServiceKey::Fwmark {
                mark: 9,
                ipv6: true,
            },
            config: ServiceConfig {
                persistent_timeout_s: Some(360),
                netmask: Some(64),
                persistence_engine: Some("sip".into()),
                ..config("sh")
            },
            stats: Stats::default(),
            rates: Default::default(),
            dests: vec![dest(
                "[2001:db8::31]:0",
                Forward::Route,
                1,
                (0, 0, 0),
                Stats::default(),
            )],
        },
    ];
    let got = format_all(&info(), &services, &ListFormat::default(), &db);
    let rows: Vec<&str> = got.lines().skip(3).collect();
    assert_eq!(
        rows,
        [
            "TCP  192.168.10.100:http wlc",
            "  -> 192.168.10.11:http           Masq    1      12         40        ",
            "  -> 192.168.10.12:http           Masq    2      25         81        ",
            "FWM  9 IPv6 sh persistent 360 mask 64 pe sip",
            "  -> [2001:db8::31]:0             Route   1      0          0         ",
        ]
    );
}

#[test]
fn save_numeric_sample() {
    let got = rvs_controlplane::rvsadm::save::format_save(
        &sample(),
        &[],
        &[],
        true,
        &ServicesDb::default(),
    );
    assert_same(&got, include_str!("fixtures/save_numeric.txt"));
}

#[test]
fn saved_lines_restore_the_same_table() {
    use rvs_api::Request;
    use rvs_controlplane::rvsadm::{parse_args, save, Command, SystemResolver};
    let services = sample();
    let text = save::format_save(&services, &[], &[], true, &ServicesDb::default());
    let resolver = SystemResolver {
        services: ServicesDb::default(),
    };
    let mut added = vec![];
    for line in text.lines() {
        let words = save::restore_words(&format!("ipvsadm {line}"));
        match parse_args(&words, &resolver).expect(line).command {
            Command::Change(r) => added.push(r),
            other => panic!("{line}: {other:?}"),
        }
    }
    for s in &services {
        let want = Request::AddService {
            key: s.key,
            config: s.config.clone(),
        };
        assert!(added.contains(&want), "{want:?}");
        for d in &s.dests {
            // Thresholds are not saved (ipvsadm does not).
            let dest = rvs_api::DestConfig {
                u_threshold: 0,
                l_threshold: 0,
                ..d.config.clone()
            };
            let want = Request::AddDest {
                service: s.key,
                dest,
            };
            assert!(added.contains(&want), "{want:?}");
        }
    }
}

#[test]
fn list_rate_sample() {
    let rates = |cps, in_pps, out_pps, in_bps, out_bps| rvs_api::Rates {
        cps,
        in_pps,
        out_pps,
        in_bps,
        out_bps,
    };
    let mut services = sample();
    for s in &mut services {
        match s.key {
            ServiceKey::Inet { addr, .. } if addr == "192.168.10.100:80".parse().unwrap() => {
                s.rates = rates(9, 120, 114, 9600, 294_000);
                for d in &mut s.dests {
                    d.rates = if d.config.addr.to_string().ends_with(".11:80") {
                        rates(3, 40, 38, 3200, 98_000)
                    } else {
                        rates(6, 80, 76, 6400, 196_000)
                    };
                }
            }
            ServiceKey::Inet { addr, .. } if addr.port() == 443 => {
                s.rates = rates(0, 1, 0, 150, 0);
                for d in &mut s.dests {
                    if d.config.addr.to_string().ends_with(".21:443") {
                        d.rates = rates(0, 1, 0, 150, 0);
                    }
                }
            }
            ServiceKey::Inet { addr, .. } if addr.port() == 53 => {
                s.rates = rates(110, 110, 0, 7700, 0);
                for d in &mut s.dests {
                    d.rates = rates(55, 55, 0, 3850, 0);
                }
            }
            _ => {}
        }
    }
    let got = format_all(
        &info(),
        &services,
        &numeric(ListView::Rate),
        &ServicesDb::default(),
    );
    assert_same(&got, include_str!("fixtures/list_rate.txt"));
}

#[test]
fn list_conns_sample() {
    use rvs_api::ConnStatus;
    let c = |protocol, client: &str, virt: &str, dest: &str, state: &str, expires_s| ConnStatus {
        protocol,
        client: addr(client),
        virtual_addr: addr(virt),
        dest: addr(dest),
        state: state.to_string(),
        expires_s,
    };
    let (tcp, udp) = (Some(Protocol::Tcp), Some(Protocol::Udp));
    let conns = [
        c(
            tcp,
            "203.0.113.5:51234",
            "192.168.10.100:80",
            "192.168.10.11:80",
            "ESTABLISHED",
            14 * 60 + 57,
        ),
        c(
            tcp,
            "203.0.113.6:40022",
            "192.168.10.100:80",
            "192.168.10.12:80",
            "TIME_WAIT",
            105,
        ),
        c(
            tcp,
            "198.51.100.9:33000",
            "192.168.10.100:443",
            "192.168.10.21:443",
            "SYN_RECV",
            53,
        ),
        c(
            tcp,
            "198.51.100.0:0",
            "192.168.10.100:443",
            "192.168.10.21:443",
            "NONE",
            359,
        ),
        c(
            udp,
            "203.0.113.7:5353",
            "192.168.10.100:53",
            "10.0.0.1:53",
            "UDP",
            299,
        ),
        c(
            None,
            "203.0.113.8:0",
            "0.0.0.7:0",
            "192.168.10.31:0",
            "NONE",
            252,
        ),
    ];
    let got =
        rvs_controlplane::rvsadm::list::format_conns(&conns, true, false, &ServicesDb::default());
    assert_same(&got, include_str!("fixtures/list_conns.txt"));
}

#[test]
fn sloppy_tcp_is_listed_saved_and_restored() {
    use rvs_api::Request;
    use rvs_controlplane::rvsadm::{parse_args, save, Command, SystemResolver};
    // The sample's last service is TCP 192.168.10.100:80.
    let mut services = sample();
    let http = services.last_mut().expect("a service");
    http.config.sloppy_tcp = true;
    let http = http.clone();
    let listed = format_service(&http, &numeric(ListView::Services), &ServicesDb::default());
    let first = listed
        .lines()
        .find(|l| l.starts_with("TCP  192.168.10.100:80 "))
        .expect("the service's line");
    assert!(first.ends_with(" sloppy-tcp"), "{listed}");

    let text = save::format_save(&services, &[], &[], true, &ServicesDb::default());
    let line = text
        .lines()
        .find(|l| l.starts_with("-A -t 192.168.10.100:80 "))
        .expect("the -A line");
    assert!(line.ends_with(" --sloppy-tcp"), "{line:?}");
    // Only that service says so.
    assert_eq!(text.matches("--sloppy-tcp").count(), 1, "{text}");
    let resolver = SystemResolver {
        services: ServicesDb::default(),
    };
    let words = save::restore_words(&format!("ipvsadm {line}"));
    match parse_args(&words, &resolver).expect(line).command {
        Command::Change(Request::AddService { key, config }) => {
            assert_eq!((key, config), (http.key, http.config));
        }
        other => panic!("{line}: {other:?}"),
    }
}

#[test]
fn a_synproxy_service_shows_the_flag_after_ipvsadms() {
    let s = ServiceStatus {
        key: tcp("192.168.10.100:80"),
        config: ServiceConfig {
            synproxy: true,
            proxy_protocol: true,
            ..config("rr")
        },
        stats: stats(0, 0, 0, 0, 0),
        rates: Default::default(),
        dests: vec![dest(
            "192.168.10.1:8080",
            Forward::Masq,
            1,
            (0, 0, 0),
            stats(0, 0, 0, 0, 0),
        )],
    };
    let got = format_service(&s, &numeric(ListView::Services), &ServicesDb::default());
    let line = got.lines().nth(2).expect("the service's line");
    assert_eq!(line, "TCP  192.168.10.100:80 rr proxy-protocol v2 synproxy");
}
