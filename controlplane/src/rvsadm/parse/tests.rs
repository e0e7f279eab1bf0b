//! The grammar end to end: argv in, the command (or ipvsadm's error text
//! and exit status) out.

use proptest::prelude::*;

use rvs_api::{DestConfig, Forward, Protocol, ServiceConfig, ServiceKey};

use super::*;
use crate::rvsadm::list::ListView;
use crate::rvsadm::names::tests::FixedResolver;

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_string).collect()
}

fn parse(line: &str) -> Result<Command, ParseError> {
    parse_args(&words(line), &FixedResolver::new()).map(|i| i.command)
}

fn error(line: &str) -> String {
    match parse(line) {
        Err(e) => e.to_string(),
        Ok(c) => panic!("{line:?} parsed as {c:?}"),
    }
}

fn status(line: &str) -> i32 {
    parse(line).err().map_or(0, |e| e.exit_code())
}

fn tcp(addr: &str) -> ServiceKey {
    ServiceKey::Inet {
        protocol: Protocol::Tcp,
        addr: addr.parse().unwrap(),
    }
}

fn added_service(line: &str) -> ServiceConfig {
    match parse(line) {
        Ok(Command::Change(
            Request::AddService { config, .. } | Request::EditService { config, .. },
        )) => config,
        other => panic!("{line:?} gave {other:?}"),
    }
}

fn added_dest(line: &str) -> DestConfig {
    match parse(line) {
        Ok(Command::Change(Request::AddDest { dest, .. } | Request::EditDest { dest, .. })) => dest,
        other => panic!("{line:?} gave {other:?}"),
    }
}

#[test]
fn add_service_defaults() {
    let c = added_service("-A -t 192.168.10.100:80");
    assert_eq!(c.scheduler, "wlc");
    assert_eq!(c.persistent_timeout_s, None);
    assert_eq!(c.netmask, None);
    assert!(c.sched_flags.is_empty() && !c.one_packet && c.persistence_engine.is_none());
    assert_eq!(
        parse("-A -t 192.168.10.100:80 -s rr"),
        Ok(Command::Change(Request::AddService {
            key: tcp("192.168.10.100:80"),
            config: ServiceConfig {
                scheduler: "rr".into(),
                ..c
            },
        }))
    );
}

#[test]
fn edit_service_is_a_full_replacement() {
    // -E without -s resets the scheduler to wlc; without -p it drops persistence.
    let c = added_service("-E -t 192.168.10.100:80 -p 600");
    assert_eq!(
        (c.scheduler.as_str(), c.persistent_timeout_s),
        ("wlc", Some(600))
    );
    let c = added_service("-E -t 192.168.10.100:80 -s rr");
    assert_eq!((c.scheduler.as_str(), c.persistent_timeout_s), ("rr", None));
    assert!(c.sched_flags.is_empty() && !c.one_packet);
}

#[test]
fn persistence_defaults_and_limits() {
    assert_eq!(
        added_service("-A -t 10.0.0.1:80 -p").persistent_timeout_s,
        Some(360)
    );
    assert_eq!(
        added_service("-A -t 10.0.0.1:80 -p -s rr").persistent_timeout_s,
        Some(360)
    );
    assert_eq!(
        added_service("-A -t 10.0.0.1:80 -p 2678400").persistent_timeout_s,
        Some(2_678_400)
    );
    assert_eq!(
        added_service("-A -t 10.0.0.1:80 --persistent=5").persistent_timeout_s,
        Some(5)
    );
    assert_eq!(
        error("-A -t 10.0.0.1:80 -p 0"),
        "invalid timeout value `0' specified"
    );
    assert_eq!(
        error("-A -t 10.0.0.1:80 -p 2678401"),
        "invalid timeout value `2678401' specified"
    );
    assert_eq!(
        error("-A -t 10.0.0.1:80 -p x"),
        "invalid timeout value `x' specified"
    );
    // Port 0 needs persistence.
    assert_eq!(
        error("-A -t 10.0.0.1"),
        "Zero port specified for non-persistent service"
    );
    assert_eq!(
        error("-A -t 10.0.0.1:0"),
        "Zero port specified for non-persistent service"
    );
    assert_eq!(
        added_service("-A -t 10.0.0.1 -p").persistent_timeout_s,
        Some(360)
    );
}

#[test]
fn netmask_scheduler_flags_ops_pe() {
    let c = added_service("-A -t 10.0.0.1:443 -s rr -p -M 255.255.255.0");
    assert_eq!(c.netmask, Some(0xffff_ff00));
    let c = added_service("-A -t [2001:db8::100]:443 -p -M 64");
    assert_eq!(c.netmask, Some(64));
    let c = added_service("-A -f 7 -6 -p -M 48");
    assert_eq!(c.netmask, Some(48));
    assert_eq!(
        error("-A -t [2001:db8::100]:443 -p -M 129"),
        "illegal ipv6 netmask specified"
    );
    assert_eq!(
        error("-A -t 10.0.0.1:443 -p -M 255.255.255.256"),
        "illegal virtual server persistent mask specified"
    );
    let c = added_service("-A -t [2001:db8::100]:80 -s mh -b mh-port,mh-fallback");
    assert_eq!(c.sched_flags, ["mh-fallback", "mh-port"]);
    assert_eq!(
        added_service("-A -t 10.0.0.1:80 -b flag-3,flag-1").sched_flags,
        ["flag-1", "flag-3"]
    );
    assert_eq!(
        added_service("-A -t 10.0.0.1:80 -s sh -b flag-1").sched_flags,
        ["sh-fallback"]
    );
    assert_eq!(
        error("-A -t 10.0.0.1:80 -b sh-port"),
        "incompatible scheduler flag `sh-port'"
    );
    assert_eq!(
        error("-A -t 10.0.0.1:80 -b bogus"),
        "invalid scheduler flag `bogus'"
    );
    assert!(added_service("-A -u 10.0.0.1:53 -o").one_packet);
    assert!(added_service("-A -f 3 -o").one_packet);
    assert_eq!(
        error("-A -t 10.0.0.1:80 -o"),
        "One-Packet Scheduling is only for UDP virtual services"
    );
    assert_eq!(
        added_service("-A -t 10.0.0.1:80 -p --pe sip")
            .persistence_engine
            .as_deref(),
        Some("sip")
    );
    assert_eq!(
        added_service("-A -t 10.0.0.1:80 -s 0123456789abcdefXYZ").scheduler,
        "0123456789abcde"
    );
    assert_eq!(added_service("-A -t 10.0.0.1:80 -s=").scheduler, "=");
}

#[test]
fn dest_defaults() {
    // -e without -m is DR with weight 1 and no thresholds.
    let d = added_dest("-e -t 10.0.0.1:80 -r 10.0.1.1:80");
    assert_eq!(
        d,
        DestConfig {
            addr: "10.0.1.1:80".parse().unwrap(),
            forward: Forward::Route,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            tunnel: Default::default(),
        }
    );
    let d = added_dest("-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 3 -x 100 -y 20");
    assert_eq!(
        (
            d.addr.port(),
            d.forward,
            d.weight,
            d.u_threshold,
            d.l_threshold
        ),
        (8080, Forward::Masq, 3, 100, 20)
    );
}

#[test]
fn dest_ports() {
    // -g and -i force the service port; -m keeps the mapping; no port copies it.
    assert_eq!(
        added_dest("-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -g")
            .addr
            .port(),
        80
    );
    assert_eq!(
        added_dest("-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -i")
            .addr
            .port(),
        80
    );
    assert_eq!(
        added_dest("-a -t 10.0.0.1:80 -r 10.0.1.1:8080").addr.port(),
        80
    );
    assert_eq!(
        added_dest("-a -t 10.0.0.1:80 -r 10.0.1.1 -m").addr.port(),
        80
    );
    assert_eq!(added_dest("-a -f 7 -r 10.0.1.1:8080 -g").addr.port(), 8080);
    assert_eq!(added_dest("-a -f 7 -r 10.0.1.1").addr.port(), 0);
    assert_eq!(
        added_dest("-a -t 10.0.0.1:http -r 10.0.1.1:https -m")
            .addr
            .port(),
        443
    );
    assert_eq!(
        parse("-d -t 10.0.0.1:80 -r 10.0.1.1"),
        Ok(Command::Change(Request::DelDest {
            service: tcp("10.0.0.1:80"),
            addr: "10.0.1.1:80".parse().unwrap(),
        }))
    );
    assert_eq!(
        error("-a -t 10.0.0.1:80 -r [2001:db8::1]:80"),
        "Different address family is allowed only for tunneling servers"
    );
    assert!(added_dest("-a -t 10.0.0.1:80 -r [2001:db8::1]:80 -i")
        .addr
        .is_ipv6());
    // FullNAT translates between families (decision 42), both ways; NAT
    // and DR do not.
    let d = added_dest("-a -t [2001:db8::100]:80 -r 10.0.1.1:8080 --fullnat");
    assert_eq!(
        (d.addr, d.forward),
        ("10.0.1.1:8080".parse().unwrap(), Forward::FullNat)
    );
    assert!(
        added_dest("-a -u 10.0.0.1:53 -r [2001:db8::1]:53 --fullnat")
            .addr
            .is_ipv6()
    );
    for method in ["-m", "-g"] {
        assert_eq!(
            error(&format!("-a -t [2001:db8::100]:80 -r 10.0.1.1:80 {method}")),
            "Different address family is allowed only for tunneling servers"
        );
    }
    assert_eq!(
        error("-a -t 10.0.0.1:80 -r 80"),
        "illegal real server address[:port] specified"
    );
    assert_eq!(
        error("-a -t 10.0.0.1:80 -r 10.0.1.1 -w 65536"),
        "illegal weight specified"
    );
    assert_eq!(
        error("-a -t 10.0.0.1:80 -r 10.0.1.1 -x -1"),
        "illegal u_threshold specified"
    );
    assert_eq!(
        error("-a -t 10.0.0.1:80 -r 10.0.1.1 -y 2147483648"),
        "illegal l_threshold specified"
    );
}

#[test]
fn service_addresses() {
    assert_eq!(
        parse("-D -t 192.168.10.100:80"),
        Ok(Command::Change(Request::DelService {
            key: tcp("192.168.10.100:80")
        }))
    );
    assert_eq!(
        parse("-D -t lb.example.com:www"),
        Ok(Command::Change(Request::DelService {
            key: tcp("192.0.2.10:80")
        }))
    );
    assert_eq!(
        parse("-D -u 10.0.0.1:domain"),
        Ok(Command::Change(Request::DelService {
            key: ServiceKey::Inet {
                protocol: Protocol::Udp,
                addr: "10.0.0.1:53".parse().unwrap()
            }
        }))
    );
    assert_eq!(
        parse("-D -t [2001:db8::100]:80"),
        Ok(Command::Change(Request::DelService {
            key: tcp("[2001:db8::100]:80")
        }))
    );
    assert_eq!(
        parse("-D -f 7 -6"),
        Ok(Command::Change(Request::DelService {
            key: ServiceKey::Fwmark {
                mark: 7,
                ipv6: true
            }
        }))
    );
    assert_eq!(
        parse("-D --fwmark-service=4294967295"),
        Ok(Command::Change(Request::DelService {
            key: ServiceKey::Fwmark {
                mark: u32::MAX,
                ipv6: false
            }
        }))
    );
    assert_eq!(
        error("-A -t 80"),
        "illegal virtual server address[:port] specified"
    );
    assert_eq!(
        error("-A -t nowhere.invalid:80"),
        "illegal virtual server address[:port] specified"
    );
    assert_eq!(
        error("-A -t 10.0.0.1:nosuch"),
        "illegal virtual server address[:port] specified"
    );
    assert_eq!(error("-D -f 0"), "invalid fwmark value `0' specified");
    assert_eq!(
        error("-D -f 4294967296"),
        "invalid fwmark value `4294967296' specified"
    );
    assert_eq!(error("-D -6 -f 7"), "-6 used before -f");
    assert_eq!(error("-D -t 10.0.0.1:80 -6"), "-6 used before -f");
}

#[test]
fn matrix_errors() {
    assert_eq!(
        error("-A -s rr"),
        "You need to supply the 'service-address' option for the 'add-service' command"
    );
    assert_eq!(
        error("-a -t 10.0.0.1:80"),
        "You need to supply the 'real-server' option for the 'add-server' command"
    );
    assert_eq!(
        error("-d -r 10.0.0.1"),
        "You need to supply the 'service-address' option for the 'delete-server' command"
    );
    assert_eq!(
        error("-A -t 10.0.0.1:80 -w 2"),
        "Illegal 'weight' option with the 'add-service' command"
    );
    assert_eq!(
        error("-A -t 10.0.0.1:80 -n"),
        "Illegal 'numeric' option with the 'add-service' command"
    );
    assert_eq!(
        error("-C -t 10.0.0.1:80"),
        "Illegal 'service-address' option with the 'flush' command"
    );
    assert_eq!(
        error("-d -t 10.0.0.1:80 -r 10.0.1.1 -m"),
        "Illegal 'forwarding-method' option with the 'delete-server' command"
    );
    assert_eq!(
        error("-D -t 10.0.0.1:80 -s rr"),
        "Illegal 'scheduler' option with the 'delete-service' command"
    );
    assert_eq!(
        error("-Z -n"),
        "Illegal 'numeric' option with the 'zero' command"
    );
    assert_eq!(
        error("-L -s rr"),
        "Illegal 'scheduler' option with the 'list' command"
    );
    assert_eq!(
        error("-A -t 10.0.0.1:80 -s rr -s wlc"),
        "multiple 'scheduler' options specified"
    );
    assert_eq!(
        error("-a -t 10.0.0.1:80 -r 10.0.1.1 -g -m"),
        "multiple 'forwarding-method' options specified"
    );
    assert_eq!(
        error("-A -t 10.0.0.1:80 -f 3"),
        "multiple 'service-address' options specified"
    );
    assert_eq!(error("-A -D"), "invalid option `-D'");
    assert_eq!(error("-L -L"), "invalid option `-L'");
    assert_eq!(error("-L -n extra"), "unexpected argument extra");
    assert_eq!(status("-A -s rr"), 2);
    assert_eq!(status("-L -n extra"), 2);
}

#[test]
fn try_help_and_popt_errors() {
    let try_help = "Try `rvsadm -h' or 'rvsadm --help' for more information.";
    assert_eq!(error("-n -L"), try_help);
    assert_eq!(error("-t 10.0.0.1:80 -A"), try_help);
    assert_eq!(error("foo"), try_help);
    assert_eq!(error("--bogus"), try_help);
    assert_eq!(status("foo"), 255);
    assert_eq!(error("-L --bogus"), "--bogus: unknown option");
    assert_eq!(error("-A -t"), "-t: missing argument");
    assert_eq!(status("-A -t"), 255);
}

#[test]
fn save_restore_set_timeout_daemon() {
    assert_eq!(parse("-S -n"), Ok(Command::Save { numeric: true }));
    assert_eq!(parse("--save"), Ok(Command::Save { numeric: false }));
    assert_eq!(parse("-R"), Ok(Command::Restore));
    assert_eq!(
        error("-S -s rr"),
        "Illegal 'scheduler' option with the 'save' command"
    );
    assert_eq!(
        parse("--set 3600 30 60"),
        Ok(Command::Change(Request::SetTimeouts(rvs_api::Timeouts {
            tcp_s: 3600,
            tcpfin_s: 30,
            udp_s: 60
        })))
    );
    assert_eq!(error("--set 1 2"), "--set option requires 3 timeout values");
    assert_eq!(
        error("--set 1 2 2678401"),
        "invalid timeout value `2678401' specified"
    );
    assert_eq!(error("--set 1 2 3 4"), "unexpected argument 4");
    assert_eq!(parse("-L --timeout"), Ok(Command::ListTimeouts));
    assert_eq!(parse("-L --daemon"), Ok(Command::ListDaemons));
    assert_eq!(
        error("-L --timeout --stats"),
        "options conflicts in the list command"
    );
    assert_eq!(
        error("-L --daemon --persistent-conn"),
        "options conflicts in the list command"
    );
}

#[test]
fn synproxy_is_a_service_flag() {
    assert!(added_service("-A -t 10.0.0.1:80 -s rr --synproxy").synproxy);
    assert!(!added_service("-A -t 10.0.0.1:80 -s rr").synproxy);
    assert_eq!(
        error("-a -t 10.0.0.1:80 -r 10.0.0.2 --synproxy"),
        "Illegal 'synproxy' option with the 'add-server' command"
    );
    assert_eq!(
        error("-A -t 10.0.0.1:80 --synproxy x"),
        "unexpected argument x"
    );
}

#[test]
fn proxy_protocol_v2_is_a_service_option() {
    assert!(added_service("-A -t 10.0.0.1:80 -s rr --proxy-protocol v2").proxy_protocol);
    assert!(!added_service("-A -t 10.0.0.1:80 -s rr").proxy_protocol);
    assert_eq!(
        parse("-A -t 10.0.0.1:80 --proxy-protocol v1"),
        Err(ParseError::Syntax(
            "invalid proxy protocol `v1' specified (only v2 is supported)".into()
        ))
    );
}

#[test]
fn sloppy_tcp_is_a_tcp_and_fwmark_service_option() {
    assert!(added_service("-A -t 10.0.0.1:80 -s rr --sloppy-tcp").sloppy_tcp);
    assert!(added_service("-E -f 3 -s mh --sloppy-tcp").sloppy_tcp);
    assert!(!added_service("-A -t 10.0.0.1:80 -s rr").sloppy_tcp);
    assert_eq!(
        parse("-A -u 10.0.0.1:53 --sloppy-tcp"),
        Err(ParseError::Syntax(
            "Sloppy TCP is only for TCP and firewall-mark virtual services".into()
        ))
    );
    assert!(matches!(
        parse("-a -t 10.0.0.1:80 -r 10.0.1.1 --sloppy-tcp"),
        Err(ParseError::Syntax(m)) if m.contains("sloppy-tcp")
    ));
}

#[test]
fn tunnel_options_parse_and_fit_together() {
    use rvs_api::{Tunnel, TunnelCsum, TunnelKind};
    let gue = added_dest("-a -u 10.0.0.1:53 -r 10.0.1.1 -i --tun-type gue --tun-port 6080");
    assert_eq!(
        gue.tunnel,
        Tunnel {
            kind: TunnelKind::Gue,
            port: 6080,
            csum: TunnelCsum::NoCsum
        }
    );
    let csum =
        added_dest("-a -u 10.0.0.1:53 -r 10.0.1.1 -i --tun-type gue --tun-port 6080 --tun-csum");
    assert_eq!(csum.tunnel.csum, TunnelCsum::Csum);
    assert_eq!(
        added_dest("-a -u 10.0.0.1:53 -r 10.0.1.1 -i").tunnel,
        Tunnel::default(),
        "ipip by default"
    );
    for (line, message) in [
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type vxlan",
            "illegal tunnel type specified",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gue --tun-port 0",
            "illegal tunnel port specified",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gue",
            "You need to supply the 'tun-port' option for the 'gue' tunnel type",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -m --tun-type gue --tun-port 1",
            "Tunnel options conflict with forward method",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-port 1",
            "Illegal 'tun-port' option with the 'ipip' tunnel type",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gre --tun-remcsum",
            "Illegal 'tun-remcsum' option with the 'gre' tunnel type",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gue --tun-port 1 --tun-csum --tun-nocsum",
            "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gue' tunnel type",
        ),
    ] {
        assert_eq!(
            parse(line),
            Err(ParseError::Syntax(message.into())),
            "{line}"
        );
    }
    assert!(matches!(
        parse("-L --tun-info"),
        Ok(Command::List {
            format: ListFormat {
                view: ListView::TunInfo,
                ..
            },
            ..
        })
    ));
}

#[test]
fn sync_daemon_commands() {
    use rvs_api::{SyncDaemon, SyncRole};
    assert_eq!(
        parse("--start-daemon master --mcast-interface rvs0 --syncid 51"),
        Ok(Command::Change(Request::StartDaemon(SyncDaemon {
            role: SyncRole::Master,
            interface: Some("rvs0".into()),
            syncid: 51,
            maxlen: None,
            group: None,
            port: None,
            ttl: None,
        })))
    );
    assert_eq!(
        parse("--start-daemon backup --sync-maxlen 1000 --mcast-group 224.0.0.82 --mcast-port 8849 --mcast-ttl 2"),
        Ok(Command::Change(Request::StartDaemon(SyncDaemon {
            role: SyncRole::Backup,
            interface: None,
            syncid: 0,
            maxlen: Some(1000),
            group: Some("224.0.0.82".parse().unwrap()),
            port: Some(8849),
            ttl: Some(2),
        })))
    );
    assert_eq!(
        parse("--stop-daemon backup --syncid 3"),
        Ok(Command::Change(Request::StopDaemon(SyncRole::Backup)))
    );
    for (line, text) in [
        (
            "--start-daemon primary",
            "illegal start-daemon parameter specified",
        ),
        ("--stop-daemon x", "illegal start_daemon specified"),
        (
            "--start-daemon master --syncid 256",
            "illegal syncid specified",
        ),
        (
            "--start-daemon master --mcast-group 10.0.0.1",
            "invalid IPv4 mcast-group `10.0.0.1'",
        ),
        (
            "--start-daemon master --mcast-ttl 0",
            "illegal mcast-ttl specified",
        ),
        (
            "--start-daemon master --sync-maxlen 65508",
            "illegal sync-maxlen specified",
        ),
        (
            "--stop-daemon master --mcast-port 1",
            "Illegal 'mcast-port' option with the 'stop-daemon' command",
        ),
    ] {
        assert_eq!(error(line), text, "{line}");
        assert_eq!(status(line), 2, "{line}");
    }
}

#[test]
fn sctp_services_parse_as_ipvsadm_takes_them() {
    let sctp = |a: &str| ServiceKey::Inet {
        protocol: Protocol::Sctp,
        addr: a.parse().unwrap(),
    };
    assert_eq!(
        parse("-D --sctp-service 10.0.0.1:5000"),
        Ok(Command::Change(Request::DelService {
            key: sctp("10.0.0.1:5000")
        }))
    );
    assert_eq!(
        added_service("-A --sctp-service [2001:db8::1]:38412 -s wlc").scheduler,
        "wlc"
    );
    let d = added_dest("-a --sctp-service 10.0.0.1:5000 -r 10.0.0.5:9000 -m");
    assert_eq!(
        (d.addr, d.forward),
        ("10.0.0.5:9000".parse().unwrap(), Forward::Masq)
    );
    // ipvsadm's one-packet check is for UDP only.
    assert_eq!(status("-A --sctp-service 10.0.0.1:5000 -o"), 2);
    // Two service options are one too many, as for -t -u.
    assert_eq!(status("-A --sctp-service 10.0.0.1:5000 -t 10.0.0.1:80"), 2);
}

#[test]
fn list_forms() {
    let list = |line: &str| match parse(line) {
        Ok(Command::List { service, format }) => (service, format),
        other => panic!("{line:?} gave {other:?}"),
    };
    assert_eq!(list(""), (None, ListFormat::default()));
    assert_eq!(list("-L"), (None, ListFormat::default()));
    let numeric = ListFormat {
        numeric: true,
        ..ListFormat::default()
    };
    assert_eq!(list("-Ln"), (None, numeric));
    assert_eq!(list("-l -n"), (None, numeric));
    assert_eq!(list("--list --numeric --sort"), (None, numeric));
    assert_eq!(
        list("-L -n -t 10.0.0.1:80"),
        (Some(tcp("10.0.0.1:80")), numeric)
    );
    let (_, f) = list("-LnX --stats --nosort");
    assert_eq!(
        f,
        ListFormat {
            numeric: true,
            exact: true,
            nosort: true,
            view: ListView::Stats
        }
    );
    assert_eq!(list("-L --thresholds").1.view, ListView::Thresholds);
    assert_eq!(
        list("-L --persistent-conn").1.view,
        ListView::PersistentConn
    );
    assert_eq!(list("-L --stats --thresholds").1.view, ListView::Stats);
    assert_eq!(
        parse("-Z"),
        Ok(Command::Change(Request::Zero { service: None }))
    );
    assert_eq!(
        parse("-Z -t 10.0.0.1:80"),
        Ok(Command::Change(Request::Zero {
            service: Some(tcp("10.0.0.1:80"))
        }))
    );
    assert_eq!(parse("-C"), Ok(Command::Change(Request::Clear)));
    assert_eq!(parse("--clear"), Ok(Command::Change(Request::Clear)));
}

#[test]
fn counters() {
    assert_eq!(parse("--counters"), Ok(Command::Counters));
    let inv = parse_args(
        &words("--socket /tmp/a.sock --counters"),
        &FixedResolver::new(),
    )
    .unwrap();
    assert_eq!(
        (inv.command, inv.socket.as_deref()),
        (Command::Counters, Some("/tmp/a.sock"))
    );
    assert_eq!(
        error("--counters -n"),
        "Illegal 'numeric' option with the 'counters' command"
    );
    assert_eq!(
        error("--counters -t 1.2.3.4:80"),
        "Illegal 'service-address' option with the 'counters' command"
    );
    assert_eq!(status("--counters -n"), 2);
    assert_eq!(status("--counters -t 1.2.3.4:80"), 2);
    assert_eq!(error("--counters -L"), "invalid option `-L'");
    assert_eq!(error("-L --counters"), "invalid option `--counters'");
    assert_eq!(error("--counters extra"), "unexpected argument extra");
}

#[test]
fn help_version_and_socket() {
    assert_eq!(parse("-h"), Ok(Command::Help));
    assert_eq!(parse("--help -A"), Ok(Command::Help));
    assert_eq!(parse("-v"), Ok(Command::Version));
    let inv = parse_args(&words("--socket /tmp/a.sock -Ln"), &FixedResolver::new()).unwrap();
    assert_eq!(inv.socket.as_deref(), Some("/tmp/a.sock"));
    let inv = parse_args(&words("-C --socket=/tmp/b.sock"), &FixedResolver::new()).unwrap();
    assert_eq!(
        (inv.command, inv.socket.as_deref()),
        (Command::Change(Request::Clear), Some("/tmp/b.sock"))
    );
    let inv = parse_args(&words("--socket /tmp/a.sock"), &FixedResolver::new()).unwrap();
    assert!(matches!(inv.command, Command::List { service: None, .. }));
    assert_eq!(
        error("-C --socket a --socket b"),
        "multiple 'socket' options specified"
    );
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_argv(args in proptest::collection::vec(".{0,12}", 0..8)) {
        let _ = parse_args(&args, &FixedResolver::new());
    }

    #[test]
    fn never_panics_on_option_soup(
        args in proptest::collection::vec(
            prop_oneof![
                Just("-A".to_string()), Just("-E".to_string()), Just("-a".to_string()),
                Just("-e".to_string()), Just("-d".to_string()), Just("-L".to_string()),
                Just("-Ln".to_string()), Just("-t".to_string()), Just("-f".to_string()),
                Just("-6".to_string()), Just("-p".to_string()), Just("-M".to_string()),
                Just("-r".to_string()), Just("-b".to_string()), Just("-w".to_string()),
                Just("-s".to_string()), Just("10.0.0.1:80".to_string()),
                Just("[2001:db8::1]:80".to_string()), Just("7".to_string()),
                Just("mh-port".to_string()), "[-:\\[\\]0-9a-z.]{0,10}",
            ],
            0..10,
        )
    ) {
        let _ = parse_args(&args, &FixedResolver::new());
    }
}
