//! The BGP driver against real BIRDs (Debian's bird2): a "router" BIRD and
//! the director's BIRD, driven by [`rvs_controlplane::bgp::Driver`], in
//! network namespaces of their own: the test runs itself again under
//! `unshare --net` (the director's namespace, 10.99.0.2 port 1790) and
//! starts the router in a namespace inside that one (`unshare --net`
//! again, 10.99.0.1 port 1791), the two joined by a veth pair (BIRD
//! refuses a next hop on the loopback). Nothing touches the host's
//! network namespace.
//!
//! Under CI=true the test runs or fails (bird, birdc and unshare are
//! needed: `scripts/setup` installs bird2); outside CI it is skipped, with
//! the reason, when they are missing.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rvs_controlplane::bgp::{self, Driver, Status};
use rvs_controlplane::config::{parse, Dialect, Model};

const INSIDE: &str = "RVS_BIRD_TEST_NETNS";

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Re-run this test in a new network namespace, or say why not.
#[test]
fn real_bird() {
    if std::env::var_os(INSIDE).is_some() {
        inside();
        return;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let missing: Vec<&str> = ["bird", "birdc", "unshare", "ip"]
        .into_iter()
        .filter(|c| !have(c))
        .collect();
    if !missing.is_empty() {
        assert!(
            !ci,
            "CI=true: {missing:?} missing (scripts/setup installs bird2)"
        );
        eprintln!("skipped: {missing:?} not installed (scripts/setup installs bird2)");
        return;
    }
    let me = std::env::current_exe().expect("the test binary");
    let out = Command::new("unshare")
        .arg("--net")
        .arg(&me)
        .args(["real_bird", "--exact", "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .output()
        .expect("unshare runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() && !ci && text.contains("unshare failed") {
        eprintln!("skipped: cannot make a network namespace here:\n{text}");
        return;
    }
    assert!(out.status.success(), "inside the namespace:\n{text}");
    assert!(text.contains("1 passed"), "the test ran inside:\n{text}");
}

/// A BIRD started by the test in the foreground, killed (its pid) when
/// dropped.
struct Bird {
    child: std::process::Child,
    socket: PathBuf,
}

impl Bird {
    /// Start BIRD with `conf`, in the network namespace of process
    /// `netns` if given (else this one).
    fn start(dir: &Path, name: &str, conf: &str, netns: Option<u32>) -> Bird {
        let conf_path = dir.join(format!("{name}.conf"));
        std::fs::write(&conf_path, conf).expect("writes bird.conf");
        let socket = dir.join(format!("{name}.ctl"));
        let mut cmd = match netns {
            Some(pid) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net=/proc/{pid}/ns/net")).arg("bird");
                c
            }
            None => Command::new("bird"),
        };
        let child = cmd
            .arg("-f")
            .arg("-c")
            .arg(&conf_path)
            .arg("-s")
            .arg(&socket)
            .arg("-P")
            .arg(dir.join(format!("{name}.pid")))
            .spawn()
            .expect("bird runs");
        let mut bird = Bird { child, socket };
        eventually(&format!("bird {name} answers"), || {
            if let Ok(Some(st)) = bird.child.try_wait() {
                panic!("bird {name} exited: {st}");
            }
            bird.birdc("show status").contains("Daemon is up")
        });
        bird
    }

    fn birdc(&self, cmd: &str) -> String {
        let out = Command::new("birdc")
            .arg("-s")
            .arg(&self.socket)
            .args(cmd.split_whitespace())
            .output()
            .expect("birdc runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process the test started, killed (by its pid) when dropped, so a
/// failing assertion leaves nothing running.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait (up to a minute: BGP's timers) for `what` to hold.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn model(dir: &Path, socket: &Path, extra: &str) -> Model {
    let text = format!(
        "bgp {{\n  bird_socket {}\n  bird_include {}\n  local_as 65001\n  local_address 10.99.0.2\n  \
         local_port 1790\n  neighbor 10.99.0.1 65000 port 1791\n  hold_time 3\n  \
         community 65000:100\n  community 65000:1:2\n{extra}}}\n\
         virtual_server 198.18.5.100 80 {{\n  lb_algo mh\n  lb_kind DR\n  protocol TCP\n  \
         bgp_community 65000:200\n  real_server 10.0.0.1 80 {{\n  }}\n}}\n\
         virtual_server 198.18.5.101 80 {{\n  lb_algo rr\n  protocol TCP\n  real_server 10.0.0.2 80 {{\n  }}\n}}\n\
         virtual_server 2001:db8::100 80 {{\n  protocol TCP\n  real_server 2001:db8::1 80 {{\n  }}\n}}\n",
        socket.display(),
        dir.join("rvs.conf").display()
    );
    parse(&text, Path::new("k.conf"), Dialect::Keepalived)
        .expect("the test's configuration")
        .0
}

fn step(d: &mut Driver, m: &Model, quorum: &[bool], up: bool, drained: bool) -> Status {
    let mut vips = bgp::decide(m, &|i| quorum[i], up, drained);
    // What step_board does with the dests' health (all up here).
    let hashes = bgp::dest_set::hashes(&m.requests());
    for v in &mut vips {
        v.dest_set = hashes.get(&v.addr).copied();
    }
    d.step(m.bgp.as_ref(), &vips, drained);
    let st = d.status();
    let st = st.lock().expect("status").clone();
    st
}

fn announced(st: &Status, vip: &str) -> bool {
    let vip: IpAddr = vip.parse().expect("an address");
    st.announced
        .iter()
        .find(|(a, _)| *a == vip)
        .map(|(_, b)| *b)
        .expect("a configured VIP")
}

fn inside() {
    // The router's namespace: a process that sleeps in it (killed at the
    // end), joined to this one by a veth pair.
    let holder = Reaped(
        Command::new("unshare")
            .args(["--net", "sleep", "600"])
            .spawn()
            .expect("unshare runs"),
    );
    let pid = holder.0.id();
    let ip = |args: &str| {
        let ok = Command::new("ip")
            .args(args.split_whitespace())
            .status()
            .expect("ip runs")
            .success();
        assert!(ok, "ip {args}");
    };
    let ip_router = |args: &str| {
        let ok = Command::new("nsenter")
            .arg(format!("--net=/proc/{pid}/ns/net"))
            .arg("ip")
            .args(args.split_whitespace())
            .status()
            .expect("nsenter runs")
            .success();
        assert!(ok, "ip {args} in the router's namespace");
    };
    // The holder must have its namespace before the veth goes there.
    eventually("the router's namespace exists", || {
        std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()
            != std::fs::read_link("/proc/self/ns/net").ok()
    });
    ip("link set lo up");
    ip(&format!("link add v0 type veth peer name v1 netns {pid}"));
    ip("link set v0 up");
    ip("addr add 10.99.0.2/24 dev v0");
    ip_router("link set lo up");
    ip_router("link set v1 up");
    ip_router("addr add 10.99.0.1/24 dev v1");
    let dir = tempdir();
    let router = Bird::start(&dir, "router", &router_conf(None), Some(pid));
    // The operator's bird.conf: router id, device, the include (empty
    // until rvs writes it: BIRD needs it to exist to start).
    std::fs::write(dir.join("rvs.conf"), "").expect("the empty include");
    let director = Bird::start(
        &dir,
        "director",
        &format!(
            "router id 10.255.0.2;\nprotocol device {{}}\ninclude \"{}\";\n",
            dir.join("rvs.conf").display()
        ),
        None,
    );
    let m = model(&dir, &director.socket, "");
    let mut d = Driver::new();
    let routes = || router.birdc("show route all");

    // Announced: both IPv4 VIPs, with the block's and the service's
    // communities; the IPv6 VIP has no IPv6 neighbor to go to.
    let st = step(&mut d, &m, &[true, true, true], true, false);
    assert!(st.bird_up, "{st:?}");
    assert!(announced(&st, "198.18.5.100") && announced(&st, "198.18.5.101"));
    eventually("the router learns 198.18.5.100/32 and .101/32", || {
        let r = routes();
        r.contains("198.18.5.100/32") && r.contains("198.18.5.101/32")
    });
    let r = routes();
    let block = r
        .split("198.18.5.100/32")
        .nth(1)
        .and_then(|s| s.split("198.18.5.101/32").next())
        .unwrap_or(&r)
        .to_string();
    assert!(
        block.contains("(65000,100)") && block.contains("(65000,200)"),
        "standard communities: {r}"
    );
    assert!(block.contains("(65000, 1, 2)"), "the large community: {r}");
    eventually("the session is up in the metrics", || {
        let st = step(&mut d, &m, &[true, true, true], true, false);
        st.sessions == vec![("10.99.0.1".parse().unwrap(), true)]
    });
    let text = bgp::metrics(&step(&mut d, &m, &[true, true, true], true, false));
    for line in [
        "rvs_bgp_bird_up 1",
        "rvs_bgp_drained 0",
        "rvs_bgp_announced{vip=\"198.18.5.100\"} 1",
        "rvs_bgp_announced{vip=\"2001:db8::100\"} 0",
        "rvs_bgp_session_up{neighbor=\"10.99.0.1\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }

    // Dest sets (decision 45): .100 is the one mh VIP; the router sends
    // back a path of "another director" with our hash, then another one.
    let ours = bgp::dest_set::hashes(&m.requests())[&"198.18.5.100".parse::<IpAddr>().unwrap()];
    assert!(director
        .birdc("show route all")
        .contains(&format!("(65001, 45, {ours})")));
    let st = step(&mut d, &m, &[true, true, true], true, false);
    assert_eq!(
        dest_set(&st, "198.18.5.100"),
        Some((0, false)),
        "no peer yet"
    );
    assert_eq!(dest_set(&st, "198.18.5.101"), None, "rr: no dest set");
    reconfigure(&dir, &router, &router_conf(Some(ours)));
    eventually("the peer's path is seen, the same dests", || {
        let st = step(&mut d, &m, &[true, true, true], true, false);
        dest_set(&st, "198.18.5.100") == Some((1, false))
    });
    // Imported into the import table only: not into the director's table.
    let table = director.birdc("show route all");
    assert!(
        !table.contains("rvs_bgp1") && table.contains("rvs_vips4"),
        "{table}"
    );
    reconfigure(&dir, &router, &router_conf(Some(ours ^ 1)));
    eventually("another director's dests differ", || {
        let st = step(&mut d, &m, &[true, true, true], true, false);
        dest_set(&st, "198.18.5.100") == Some((1, true))
    });
    let text = bgp::metrics(&step(&mut d, &m, &[true, true, true], true, false));
    for line in [
        "rvs_bgp_dest_set_mismatch{vip=\"198.18.5.100\"} 1".to_string(),
        "rvs_bgp_peers_seen{vip=\"198.18.5.100\"} 1".to_string(),
        format!("rvs_bgp_dest_set_hash{{vip=\"198.18.5.100\"}} {ours}"),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    reconfigure(&dir, &router, &router_conf(Some(ours)));
    eventually("the mismatch clears", || {
        let st = step(&mut d, &m, &[true, true, true], true, false);
        dest_set(&st, "198.18.5.100") == Some((1, false))
    });
    reconfigure(&dir, &router, &router_conf(None));
    eventually("the peer's path is gone", || {
        let st = step(&mut d, &m, &[true, true, true], true, false);
        dest_set(&st, "198.18.5.100") == Some((0, false))
    });

    // Quorum lost by .101's service: .101 withdrawn, .100 stays.
    let st = step(&mut d, &m, &[true, false, true], true, false);
    assert!(announced(&st, "198.18.5.100") && !announced(&st, "198.18.5.101"));
    eventually("the router drops 198.18.5.101/32 only", || {
        let r = routes();
        r.contains("198.18.5.100/32") && !r.contains("198.18.5.101/32")
    });

    // Drained: every route withdrawn, the session stays up.
    let st = step(&mut d, &m, &[true, true, true], true, true);
    assert!(st.drained && !announced(&st, "198.18.5.100"));
    eventually("the router drops every VIP", || {
        !routes().contains("198.18.5.10")
    });
    assert!(router
        .birdc("show protocols director")
        .contains("Established"));

    // Undrained, then the dataplane stops answering.
    step(&mut d, &m, &[true, true, true], true, false);
    eventually("announced again", || routes().contains("198.18.5.100/32"));
    let st = step(&mut d, &m, &[true, true, true], false, false);
    assert!(!announced(&st, "198.18.5.100"));
    eventually("withdrawn when the dataplane is down", || {
        !routes().contains("198.18.5.10")
    });

    // The drain command's state file overrides the block.
    let bgp_block = m.bgp.as_ref().expect("the block");
    let file = bgp::drain_file(bgp_block);
    assert!(!bgp::drained(bgp_block));
    bgp::set_drain(&file, Some(true)).expect("writes the state");
    assert!(bgp::drained(bgp_block));
    bgp::set_drain(&file, None).expect("removes the state");
    assert!(!bgp::drained(bgp_block));

    // Graceful stop: the include emptied, the routes and the session gone.
    step(&mut d, &m, &[true, true, true], true, false);
    eventually("announced again", || routes().contains("198.18.5.100/32"));
    d.withdraw_all();
    assert!(!director.birdc("show protocols").contains("rvs_bgp1"));
    eventually("the router drops every VIP at the stop", || {
        !routes().contains("198.18.5.10")
    });
    let st = d.status().lock().expect("status").clone();
    assert!(!st.bird_up && st.announced.iter().all(|(_, a)| !a));

    // A BIRD that is not running: the error state, counted, retried.
    drop(director);
    let before = step(&mut d, &m, &[true, true, true], true, false).errors_total;
    eventually("the dead BIRD is an error", || {
        let st = step(&mut d, &m, &[true, true, true], true, false);
        !st.bird_up && st.errors_total > before && st.announced.iter().all(|(_, a)| !a)
    });
    let text = bgp::metrics(&step(&mut d, &m, &[true, true, true], true, false));
    assert!(text.lines().any(|l| l == "rvs_bgp_bird_up 0"), "{text}");
    assert!(
        text.lines()
            .any(|l| l == "rvs_bgp_announced{vip=\"198.18.5.100\"} 0"),
        "{text}"
    );

    // A BIRD that refuses the include (its bird.conf already has a
    // protocol named as one of rvs's): the error state, nothing announced.
    std::fs::write(dir.join("rvs.conf"), "").expect("the empty include");
    let refusing = Bird::start(
        &dir,
        "refusing",
        &format!(
            "router id 10.255.0.3;\nprotocol device {{}}\nprotocol static rvs_vips4 {{ ipv4; }}\n\
             include \"{}\";\n",
            dir.join("rvs.conf").display()
        ),
        None,
    );
    let m = model(&dir, &refusing.socket, "");
    let mut d = Driver::new();
    let st = step(&mut d, &m, &[true, true, true], true, false);
    assert!(!st.bird_up && st.errors_total == 1, "{st:?}");
    assert!(
        st.last_error.as_deref().unwrap_or("").contains("rvs_vips4"),
        "BIRD's own message: {st:?}"
    );
    assert!(st.announced.iter().all(|(_, a)| !a));
    let st = step(&mut d, &m, &[true, true, true], true, false);
    assert_eq!(st.errors_total, 2, "retried at the next step");
    drop(refusing);
    daemon(&dir, &router);
    drop(router);
    drop(holder);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The router's bird.conf; with `peer`, it also sends the director a
/// route to 198.18.5.100 tagged as another director's with the dest-set
/// hash `peer` (what the routers send back with ADD-PATH, decision 45).
fn router_conf(peer: Option<u32>) -> String {
    let (stat, export) = match peer {
        Some(h) => (
            format!(
                "protocol static peer {{ ipv4; route 198.18.5.100/32 blackhole \
                 {{ bgp_large_community.add((65001,45,{h})); }}; }}\n"
            ),
            "where proto = \"peer\"",
        ),
        None => (String::new(), "none"),
    };
    format!(
        "router id 10.255.0.1;\nprotocol device {{}}\n{stat}\
         protocol bgp director {{\n  local 10.99.0.1 port 1791 as 65000;\n  \
         neighbor 10.99.0.2 port 1790 as 65001;\n  hold time 3;\n  connect retry time 1;\n  \
         ipv4 {{ import all; export {export}; }};\n}}\n"
    )
}

/// Reconfigure the router with `conf`.
fn reconfigure(dir: &Path, router: &Bird, conf: &str) {
    std::fs::write(dir.join("router.conf"), conf).expect("writes the router's conf");
    let out = router.birdc("configure");
    // "Reconfigured", or "in progress" (and queued) while a change of
    // filters refreshes the routes: what it does is checked after.
    assert!(out.contains("Reconfigur") && !out.contains("rror"), "{out}");
}

/// The director's dest set for `vip` in `st`: (peers seen, mismatch).
fn dest_set(st: &Status, vip: &str) -> Option<(u32, bool)> {
    let vip: IpAddr = vip.parse().expect("an address");
    st.dest_sets
        .iter()
        .find(|d| d.vip == vip)
        .map(|d| (d.peers, d.mismatch))
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rvs-bird-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// A dataplane's admin socket that answers the reconcile's reads with an
/// empty state and accepts every change; while `up` is false it hangs up
/// without answering (a dataplane that stopped).
fn fake_dataplane(path: &Path, up: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use rvs_api::{Envelope, Request, Response};
    let listener = std::os::unix::net::UnixListener::bind(path).expect("binds the admin socket");
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            if !up.load(std::sync::atomic::Ordering::Relaxed) {
                continue;
            }
            let Ok(env) = rvs_api::read_frame::<_, Envelope>(&mut stream, 1 << 24) else {
                continue;
            };
            let answer = match env.request {
                Request::List { .. } => Response::Services(vec![]),
                Request::ListLaddrs { .. } => Response::Laddrs(vec![]),
                Request::ListMarkRules => Response::MarkRules(vec![]),
                Request::GetTimeouts => Response::Timeouts(rvs_api::Timeouts {
                    tcp_s: 900,
                    tcpfin_s: 120,
                    udp_s: 300,
                }),
                Request::GetNetwork => Response::Network(rvs_api::Network::default()),
                Request::ReleasedVips => Response::Released(vec![]),
                Request::Daemons => Response::Daemons(vec![]),
                _ => Response::Ok,
            };
            let _ = rvs_api::write_frame(&mut stream, &answer);
        }
    });
}

fn scrape(addr: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// The daemon itself: rvs-controlplane with a bgp block, a fake dataplane,
/// the director's BIRD and the router.
fn daemon(dir: &Path, router: &Bird) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let include = dir.join("rvs2.conf");
    std::fs::write(&include, "").expect("the empty include");
    let director = Bird::start(
        dir,
        "director2",
        &format!(
            "router id 10.255.0.2;\nprotocol device {{}}\ninclude \"{}\";\n",
            include.display()
        ),
        None,
    );
    let up = Arc::new(AtomicBool::new(true));
    let admin = dir.join("admin.sock");
    fake_dataplane(&admin, Arc::clone(&up));
    let conf = dir.join("k2.conf");
    std::fs::write(
        &conf,
        format!(
            "bgp {{\n  bird_socket {}\n  bird_include {}\n  local_as 65001\n  local_address 10.99.0.2\n  \
             local_port 1790\n  neighbor 10.99.0.1 65000 port 1791\n  hold_time 3\n}}\n\
             virtual_server 198.18.5.100 80 {{\n  lb_algo mh\n  lb_kind DR\n  protocol TCP\n  \
             real_server 10.0.0.1 80 {{\n  }}\n}}\n",
            director.socket.display(),
            include.display()
        ),
    )
    .expect("writes the configuration");
    let bin = env!("CARGO_BIN_EXE_rvs-controlplane");
    let metrics = "127.0.0.1:9477";
    let mut cp = Reaped(
        Command::new(bin)
            .arg("--config")
            .arg(&conf)
            .arg("--socket")
            .arg(&admin)
            .args(["--metrics", metrics])
            .stderr(std::fs::File::create(dir.join("cp.log")).expect("the log"))
            .spawn()
            .expect("rvs-controlplane runs"),
    );
    let routes = || router.birdc("show route");
    let has = |m: &str, line: &str| m.lines().any(|l| l == line);

    eventually("the daemon announces the VIP", || {
        routes().contains("198.18.5.100/32")
    });
    eventually("/metrics says so", || {
        has(
            &scrape(metrics),
            "rvs_bgp_announced{vip=\"198.18.5.100\"} 1",
        )
    });

    // The dataplane stops answering: withdrawn; back: announced.
    up.store(false, Ordering::Relaxed);
    eventually("withdrawn while the dataplane does not answer", || {
        !routes().contains("198.18.5.100/32")
    });
    let m = scrape(metrics);
    assert!(m.starts_with("HTTP/1.1 503"), "{m}");
    assert!(
        has(&m, "rvs_bgp_announced{vip=\"198.18.5.100\"} 0") && has(&m, "rvs_bgp_bird_up 1"),
        "the BGP metrics without a dataplane: {m}"
    );
    up.store(true, Ordering::Relaxed);
    eventually("announced again", || routes().contains("198.18.5.100/32"));

    // The drain command, and its undoing.
    let drain = |how: &str| {
        let out = Command::new(bin)
            .args(["--drain", how, "--config"])
            .arg(&conf)
            .output()
            .expect("rvs-controlplane --drain runs");
        assert!(out.status.success(), "{out:?}");
    };
    drain("on");
    eventually("withdrawn by --drain on", || {
        !routes().contains("198.18.5.100/32")
    });
    eventually("drained in /metrics", || {
        has(&scrape(metrics), "rvs_bgp_drained 1")
    });
    assert!(router
        .birdc("show protocols director")
        .contains("Established"));
    drain("config");
    eventually("announced after --drain config", || {
        routes().contains("198.18.5.100/32")
    });

    // A reload whose bgp block has an error keeps the running block: the
    // VIP stays announced.
    let text = std::fs::read_to_string(&conf).expect("the configuration");
    std::fs::write(
        &conf,
        text.replace("65000 port 1791", "650000000000 port 1791"),
    )
    .expect("a bad neighbor");
    let ok = Command::new("kill")
        .args(["-HUP", &cp.0.id().to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok);
    let log = dir.join("cp.log");
    eventually("the reload keeps the running bgp block", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("keeping the running one")
    });
    step_wait();
    assert!(routes().contains("198.18.5.100/32"), "still announced");
    assert!(has(
        &scrape(metrics),
        "rvs_bgp_announced{vip=\"198.18.5.100\"} 1"
    ));

    // Graceful stop: everything withdrawn before the exit.
    let ok = Command::new("kill")
        .args(["-TERM", &cp.0.id().to_string()])
        .status()
        .expect("kill runs")
        .success();
    assert!(ok);
    let st = cp.0.wait().expect("the daemon exits");
    assert!(st.success(), "{st}");
    assert_eq!(
        std::fs::read_to_string(&include).expect("the include"),
        rvs_controlplane::bgp::include::EMPTY
    );
    assert!(!director.birdc("show protocols").contains("rvs_bgp1"));
    eventually("the router drops the VIP at the stop", || {
        !routes().contains("198.18.5.100/32")
    });
}

/// Long enough for the daemon's reconcile after a reload (it runs at once)
/// to have reached BIRD and the router: the assertions after it are on a
/// state that must not change, so there is nothing to wait for.
fn step_wait() {
    std::thread::sleep(Duration::from_secs(2));
}
