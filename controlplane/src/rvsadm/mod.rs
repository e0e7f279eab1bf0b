//! `rvsadm`: ipvsadm's command line for the rvs dataplane.
//!
//! Flow: argv → [`parse_args`] (a typed [`Command`], ipvsadm's defaults and
//! error texts) → [`execute`] (one or two admin API requests) → output built
//! by the pure functions of [`list`] and [`errors`].
//!
//! Contract, as ipvsadm 1.31 behaves unless noted:
//! - exit 0 on success; 2 for a refused command line (message alone on
//!   stderr); 255 for "Try `rvsadm -h' ..." (no or misplaced command) and for
//!   popt-level problems (unknown option, missing argument); 255 when the
//!   dataplane refuses a change (ipvsadm's kernel texts, see [`errors`]) or
//!   cannot be reached; 1 when a listing fails (ipvsadm exits 1 there);
//! - the admin socket is `--socket PATH` (an rvs extension), else
//!   `$RVS_ADMIN_SOCKET`, else `/run/rvs/admin.sock`;
//! - `--add-mark`, `--del-mark` and `--list-marks` (rvs extensions, see
//!   [`marks`]) manage the dataplane's firewall-mark classifier;
//! - `--set-defense` and `--list-defense` (rvs extensions, see [`defense`])
//!   set and show IPVS's defence strategies (the kernel's sysctls);
//! - `--fullnat` (a dest's method) and `--add-laddr`, `--del-laddr`,
//!   `--get-laddr` (DPVS's FullNAT extensions, see [`laddrs`]);
//! - `--counters` (an rvs extension) prints the dataplane's packet counters,
//!   one `name value` line each in the dataplane's order; a refusal or an
//!   unreachable dataplane exits 255;
//! - rvsadm never reverse-resolves addresses: `-L` without `-n` prints
//!   addresses numerically and ports by `/etc/services` name, which is what
//!   ipvsadm prints for addresses without a DNS name;
//! - `-R` reads command lines from stdin (`spec/ipvsadm.md` §3.2): a line
//!   that does not parse ends it with exit 2, a refused change is reported
//!   and it goes on, the exit status is the last line's;
//! - `--start-daemon`/`--stop-daemon` start and stop the dataplane's sync
//!   daemons; `--mcast-interface` names an exception interface (default:
//!   the first port's, where ipvsadm defaults to eth0);
//! - options of the grammar not implemented yet are refused with
//!   "rvsadm: OPTION is not supported yet", exit 2.

#![forbid(unsafe_code)]

pub mod command;
pub mod defense;
pub mod errors;
pub mod laddrs;
pub mod list;
mod longopts;
pub mod marks;
pub mod names;
pub mod options;
pub mod parse;
pub mod save;

use std::io::Write;

use rvs_api::{FrameError, Request, Response, ServiceStatus};

pub use command::{Command, Invocation, ParseError};
pub use errors::error_text;
pub use list::{format_all, format_service, largenum, ListFormat, ListView};
pub use names::{Resolver, ServicesDb, SystemResolver};
pub use parse::parse_args;

/// Exit status of a refused change or an unreachable dataplane (ipvsadm's -1).
pub const EXIT_FAILURE_API: i32 = 255;
/// Exit status of a failed listing.
pub const EXIT_FAILURE_LIST: i32 = 1;

/// Run rvsadm on `args` (argv without the program name) against the real
/// socket, printing to the process's stdout and stderr. Returns the exit status.
pub fn main_with_args(args: &[String]) -> i32 {
    let resolver = SystemResolver {
        services: ServicesDb::load(),
    };
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    let invocation = match parse_args(args, &resolver) {
        Ok(invocation) => invocation,
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return e.exit_code();
        }
    };
    let socket = invocation
        .socket
        .clone()
        .unwrap_or_else(rvs_api::socket_path_from_env);
    let mut call = |request: Request| rvs_api::call(&socket, request);
    if invocation.command == Command::Restore {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        return restore(
            &mut input, &resolver, &socket, &mut call, &mut out, &mut err,
        );
    }
    execute(
        &invocation.command,
        &socket,
        &mut call,
        &resolver.services,
        &mut out,
        &mut err,
    )
}

/// Carry out `command`, sending requests through `call` (which talks to the
/// dataplane at `socket`; the path is only used in messages). Output goes to
/// `out`, messages to `err`. Returns the exit status.
pub fn execute(
    command: &Command,
    socket: &str,
    call: &mut dyn FnMut(Request) -> Result<Response, FrameError>,
    ports: &ServicesDb,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let mut send =
        |request: Request| change(command, request, socket, call).map(|()| String::new());
    let result = match command {
        Command::Help => Ok(usage()),
        Command::Version => Ok(version()),
        Command::List { service, format } => list(command, *service, format, socket, call, ports),
        Command::Change(request) => send(request.clone()),
        Command::Counters => counters(command, socket, call),
        Command::ListMarks => list_marks(command, socket, call),
        Command::SetDefense(changes) => defense::set(command, changes, socket, call),
        Command::ListDefense => defense::list(command, socket, call),
        Command::ListLaddrs { service } => list_laddrs(command, *service, socket, call),
        Command::Save { numeric } => save_table(command, *numeric, socket, call, ports),
        Command::ListTimeouts => match call(Request::GetTimeouts) {
            Ok(Response::Timeouts(t)) => Ok(format!(
                "Timeout (tcp tcpfin udp): {} {} {}\n",
                t.tcp_s, t.tcpfin_s, t.udp_s
            )),
            Ok(Response::Error(e)) => Err((EXIT_FAILURE_LIST, error_text(command, &e))),
            Ok(other) => Err(unexpected(socket, &other)),
            Err(e) => Err(transport_failure(socket, &e)),
        },
        Command::ListDaemons => match call(Request::Daemons) {
            Ok(Response::Daemons(d)) => Ok(list::format_daemons(&d)),
            Ok(Response::Error(e)) => Err((EXIT_FAILURE_LIST, error_text(command, &e))),
            Ok(other) => Err(unexpected(socket, &other)),
            Err(e) => Err(transport_failure(socket, &e)),
        },
        Command::ListConns {
            numeric,
            persistent,
        } => match call(Request::ListConns) {
            Ok(Response::Conns(conns)) => {
                Ok(list::format_conns(&conns, *numeric, *persistent, ports))
            }
            Ok(Response::Error(e)) => Err((EXIT_FAILURE_LIST, error_text(command, &e))),
            Ok(other) => Err(unexpected(socket, &other)),
            Err(e) => Err(transport_failure(socket, &e)),
        },
        Command::Restore => Err((
            parse::EXIT_SYNTAX,
            "rvsadm: -R reads the commands from standard input; it cannot be one of them"
                .to_string(),
        )),
    };
    match result {
        Ok(text) => match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => 0,
            Err(_) => EXIT_FAILURE_LIST,
        },
        Err((status, message)) => {
            let _ = writeln!(err, "{message}");
            status
        }
    }
}

/// A failure: exit status and message.
type Failure = (i32, String);

fn transport_failure(socket: &str, e: &FrameError) -> Failure {
    let message = match e {
        FrameError::Io(io) => {
            format!(
                "rvsadm: cannot reach the dataplane at {socket}: {io} (is rvs-dataplane running?)"
            )
        }
        other => format!("rvsadm: bad answer from the dataplane at {socket}: {other}"),
    };
    (EXIT_FAILURE_API, message)
}

fn unexpected(socket: &str, response: &Response) -> Failure {
    (
        EXIT_FAILURE_API,
        format!("rvsadm: unexpected answer from the dataplane at {socket}: {response:?}"),
    )
}

/// Send a change (`-A -E -D -C -a -e -d -Z`) made from `command`.
fn change(
    command: &Command,
    request: Request,
    socket: &str,
    call: &mut dyn FnMut(Request) -> Result<Response, FrameError>,
) -> Result<(), Failure> {
    match call(request) {
        Ok(Response::Ok) => Ok(()),
        Ok(Response::Error(e)) => Err((EXIT_FAILURE_API, error_text(command, &e))),
        Ok(other) => Err(unexpected(socket, &other)),
        Err(e) => Err(transport_failure(socket, &e)),
    }
}

/// `-L`: all services with the banner, or one without.
fn list(
    command: &Command,
    service: Option<rvs_api::ServiceKey>,
    format: &ListFormat,
    socket: &str,
    call: &mut dyn FnMut(Request) -> Result<Response, FrameError>,
    ports: &ServicesDb,
) -> Result<String, Failure> {
    let info = match service {
        Some(_) => None,
        None => match call(Request::Info) {
            Ok(Response::Info(info)) => Some(info),
            Ok(Response::Error(e)) => return Err((EXIT_FAILURE_LIST, error_text(command, &e))),
            Ok(other) => return Err(unexpected(socket, &other)),
            Err(e) => return Err(transport_failure(socket, &e)),
        },
    };
    let services: Vec<ServiceStatus> = match call(Request::List { service }) {
        Ok(Response::Services(services)) => services,
        Ok(Response::Error(e)) => return Err((EXIT_FAILURE_LIST, error_text(command, &e))),
        Ok(other) => return Err(unexpected(socket, &other)),
        Err(e) => return Err(transport_failure(socket, &e)),
    };
    match (info, service) {
        (Some(info), _) => Ok(format_all(&info, &services, format, ports)),
        (None, Some(key)) => match services.iter().find(|s| s.key == key) {
            Some(found) => Ok(format_service(found, format, ports)),
            None => Err((EXIT_FAILURE_LIST, "No such service".to_string())),
        },
        (None, None) => Ok(String::new()),
    }
}

/// `--counters`: one `name value` line per counter, in the dataplane's order.
fn counters(
    command: &Command,
    socket: &str,
    call: &mut dyn FnMut(Request) -> Result<Response, FrameError>,
) -> Result<String, Failure> {
    match call(Request::Counters) {
        Ok(Response::Counters(counters)) => Ok(counters
            .counters
            .iter()
            .map(|c| format!("{} {}\n", c.name, c.value))
            .collect()),
        Ok(Response::Error(e)) => Err((EXIT_FAILURE_API, error_text(command, &e))),
        Ok(other) => Err(unexpected(socket, &other)),
        Err(e) => Err(transport_failure(socket, &e)),
    }
}

/// `--list-marks`: the classifier rules, one `--add-mark ...` line each.
fn list_marks(
    command: &Command,
    socket: &str,
    call: &mut dyn FnMut(Request) -> Result<Response, FrameError>,
) -> Result<String, Failure> {
    match call(Request::ListMarkRules) {
        Ok(Response::MarkRules(rules)) => Ok(marks::format_rules(&rules)),
        Ok(Response::Error(e)) => Err((EXIT_FAILURE_LIST, error_text(command, &e))),
        Ok(other) => Err(unexpected(socket, &other)),
        Err(e) => Err(transport_failure(socket, &e)),
    }
}

/// `-S`: the services, their dests, the classifier rules and the local
/// addresses, as command lines.
fn save_table(
    command: &Command,
    numeric: bool,
    socket: &str,
    call: &mut dyn FnMut(Request) -> Result<Response, FrameError>,
    ports: &ServicesDb,
) -> Result<String, Failure> {
    let mut ask = |request: Request| match call(request) {
        Ok(Response::Error(e)) => Err((EXIT_FAILURE_LIST, error_text(command, &e))),
        Ok(r) => Ok(r),
        Err(e) => Err(transport_failure(socket, &e)),
    };
    let Response::Services(services) = ask(Request::List { service: None })? else {
        return Err((
            EXIT_FAILURE_LIST,
            format!("rvsadm: unexpected answer from {socket}"),
        ));
    };
    let Response::MarkRules(marks) = ask(Request::ListMarkRules)? else {
        return Err((
            EXIT_FAILURE_LIST,
            format!("rvsadm: unexpected answer from {socket}"),
        ));
    };
    let Response::Laddrs(laddrs) = ask(Request::ListLaddrs { service: None })? else {
        return Err((
            EXIT_FAILURE_LIST,
            format!("rvsadm: unexpected answer from {socket}"),
        ));
    };
    Ok(save::format_save(
        &services, &laddrs, &marks, numeric, ports,
    ))
}

/// `-R`: each line of `input` as a command line (`spec/ipvsadm.md` §3.2).
/// A line that does not parse ends the restore (its message, exit 2); a
/// refused change prints its message and the restore goes on; the exit
/// status is the last line's. Nothing is flushed first.
pub fn restore(
    input: &mut dyn std::io::BufRead,
    resolver: &dyn Resolver,
    socket: &str,
    call: &mut dyn FnMut(Request) -> Result<Response, FrameError>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let ports = ServicesDb::default();
    let mut status = 0;
    let mut line = String::new();
    loop {
        line.clear();
        match input.read_line(&mut line) {
            Ok(0) => return status,
            Ok(_) => {}
            Err(e) => {
                let _ = writeln!(err, "rvsadm: cannot read the commands: {e}");
                return parse::EXIT_SYNTAX;
            }
        }
        let words = save::restore_words(line.trim_end_matches('\n'));
        if words.is_empty() {
            continue;
        }
        let invocation = match parse_args(&words, resolver) {
            Ok(i) => i,
            Err(e) => {
                let _ = writeln!(err, "{e}");
                return e.exit_code();
            }
        };
        status = execute(&invocation.command, socket, call, &ports, out, err);
    }
}

/// `--get-laddr`: FullNAT local addresses, DPVS's table.
fn list_laddrs(
    command: &Command,
    service: Option<rvs_api::ServiceKey>,
    socket: &str,
    call: &mut dyn FnMut(Request) -> Result<Response, FrameError>,
) -> Result<String, Failure> {
    match call(Request::ListLaddrs { service }) {
        Ok(Response::Laddrs(list)) => Ok(laddrs::format_laddrs(&list)),
        Ok(Response::Error(e)) => Err((EXIT_FAILURE_LIST, error_text(command, &e))),
        Ok(other) => Err(unexpected(socket, &other)),
        Err(e) => Err(transport_failure(socket, &e)),
    }
}

/// `-v`.
pub fn version() -> String {
    format!(
        "rvsadm v{} (ipvsadm v1.31 command line, rvs admin API v{})\n",
        env!("CARGO_PKG_VERSION"),
        rvs_api::API_VERSION
    )
}

/// `-h`: the usage text.
pub fn usage() -> String {
    let mut text = version();
    text.push_str(USAGE);
    text
}

const USAGE: &str = "\
Usage:
  rvsadm -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags] [-o]
  rvsadm -D virtual-service
  rvsadm -C
  rvsadm -a|e virtual-service -r server-address [options]
  rvsadm -d virtual-service -r server-address
  rvsadm -R
  rvsadm -S [-n]
  rvsadm -L|l [virtual-service] [options]
  rvsadm -Z [virtual-service]
  rvsadm --set tcp tcpfin udp
  rvsadm --start-daemon {master|backup} [daemon-options]
  rvsadm --stop-daemon {master|backup}
  rvsadm -h
  rvsadm -v
  rvsadm --counters
  rvsadm --add-mark mark --dst prefix [--proto tcp|udp] [--dport ports] [--src prefix]
  rvsadm --del-mark mark [--dst prefix [--proto tcp|udp] [--dport ports] [--src prefix]]
  rvsadm --list-marks
  rvsadm --set-defense name=value[,name=value...]
  rvsadm --list-defense
  rvsadm --add-laddr|-P|--del-laddr|-Q -t|-u service-address -z local-address
  rvsadm --get-laddr|-G [-t|-u service-address]

Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options (a full replacement:
                              omitted options take their defaults)
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table
  --restore         -R        restore rules from stdin
  --save            -S        save rules to stdout
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options (a full replacement)
  --delete-server   -d        delete real server
  --list            -L|-l     list the table (the default without arguments)
  --zero            -Z        zero counters in a service or all services
  --set tcp tcpfin udp        set connection timeout values
  --start-daemon              start connection sync daemon
  --stop-daemon               stop connection sync daemon
  --help            -h        display this help message
  --version         -v        display the version

virtual-service:
  --tcp-service|-t  service-address   service-address is host[:port]
  --udp-service|-u  service-address   service-address is host[:port]
  --sctp-service    service-address   service-address is host[:port]
  --fwmark-service|-f fwmark          fwmark is an integer greater than zero
  IPv6 addresses are bracketed: -t [2001:db8::1]:80

Options:
  --ipv6         -6                   fwmark entry uses IPv6 (after -f)
  --scheduler    -s scheduler         one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh|twos,
                                      the default scheduler is wlc.
  --pe            engine              alternate persistence engine, not set by default.
  --persistent   -p [timeout]         persistent service (default timeout 360 s)
  --netmask      -M netmask           persistent granularity mask
  --real-server  -r server-address    server-address is host (and port)
  --gatewaying   -g                   gatewaying (direct routing) (default)
  --ipip         -i                   ipip encapsulation (tunneling)
  --masquerading -m                   masquerading (NAT)
  --fullnat                           FullNAT: the client's address becomes a local
                                      address of the service (see --add-laddr);
                                      the real server may be of the other
                                      family (with a local address of its own)
  --tun-type     ipip|gue|gre         tunnel encapsulation of -i (default ipip;
                                      gre is not supported)
  --tun-port     port                 GUE's UDP port (needed with gue)
  --tun-nocsum                        no checksum in the encapsulation (default)
  --tun-csum                          a UDP checksum over the encapsulation
  --tun-remcsum                       remote checksum offload (not supported)
  --tun-info                          output of tunnel information
  --weight       -w weight            capacity of real server (default 1)
  --u-threshold  -x uthreshold        upper threshold of connections
  --l-threshold  -y lthreshold        lower threshold of connections
  --timeout                           output of timeout (tcp tcpfin udp)
  --daemon                            output of daemon information
  --stats                             output of statistics information
  --rate                              output of rate information
  --exact        -X                   expand numbers (display exact values)
  --thresholds                        output of thresholds information
  --persistent-conn                   output of persistent connection info
  --nosort                            disable sorting output of service/server entries
  --sort                              does nothing, for backwards compatibility
  --ops          -o                   one-packet scheduling
  --connection   -c                   output of current IPVS connections
  --numeric      -n                   numeric output of addresses and ports
  --sched-flags  -b flags             scheduler flags (comma-separated)
  --proxy-protocol v2                 FullNAT dests get the client's address in a
                                      PROXY protocol v2 header instead of TOA
  --sloppy-tcp                        (rvs) IPVS's sloppy_tcp for this service: a
                                      TCP ACK without an entry gets one, picked by
                                      the scheduler. Connections moved between
                                      directors stay whole only with mh, sh or dh
                                      and the same dests on every director; with
                                      other schedulers at your own risk. NAT
                                      replies must come back through this
                                      director; not with FullNAT dests.
  --synproxy                          SYN proxy: SYN cookies, the real server's
                                      handshake after the client's ACK (NAT and
                                      FullNAT dests only)

Daemon Options:
  --syncid sid                        syncid for connection sync (default=0: a
                                      backup takes any)
  --sync-maxlen length                Max sync message length (default: the
                                      interface's MTU less 28)
  --mcast-interface interface         multicast interface for connection sync
                                      (default: the first port's)
  --mcast-group address               IPv4/IPv6 group (default=224.0.0.81)
  --mcast-port port                   UDP port (default=8848)
  --mcast-ttl ttl                     Multicast TTL (default=1)

rvs specifics:
  --socket PATH                       admin socket of rvs-dataplane (default:
                                      $RVS_ADMIN_SOCKET, else /run/rvs/admin.sock)
  rvsadm never reverse-resolves addresses: -L without -n prints addresses
  numerically (ports by /etc/services name).
  -S also saves rvs's extensions in use (classifier rules, --fullnat dests,
  local addresses, --proxy-protocol, --sloppy-tcp, --synproxy), so -R restores them.
  FullNAT is --fullnat: DPVS's -b would clash with ipvsadm's -b (--sched-flags).

rvs extensions:
  --counters                          print the dataplane's packet counters
                                      (verdicts and drops by reason), one
                                      line per counter: name value
  Firewall marks for -f services (what iptables' MARK target does for kernel
  LVS; no iptables sees the dataplane's packets). Rules are tried in the order
  they were added and the first match sets the mark:
  --add-mark     mark                 add a rule setting mark (1..4294967295)
    --dst        prefix               destination address or address/length
    --proto      tcp|udp              protocol (default: both)
    --dport      ports                destination ports: 80,443,8000:8080
                                      (default: every port)
    --src        prefix               client address or address/length
                                      (default: every client)
  --del-mark     mark                 delete the rules setting mark, or with
                                      --dst ... exactly that rule
  --list-marks                        print the rules as --add-mark lines
  IPVS's defence strategies (the kernel's /proc/sys/net/ipv4/vs/ sysctls,
  which ipvsadm has no option for), against a connection table filling up:
  --set-defense  name=value,...       set some of: drop_entry, drop_packet,
                                      secure_tcp (0 off, 1 automatic: on while
                                      a core's table is under pressure, 3
                                      always), amemthresh (under pressure:
                                      fewer than this % of a core's table
                                      free, 1..99, default 10), am_droprate
                                      (drop_packet 3 drops 1 in N, default 10)
  --list-defense                      print them (an automatic mode reads 2
                                      while on), the tables' pressure and
                                      the entries and packets dropped
  FullNAT local addresses (DPVS's ipvsadm): the real servers of a --fullnat
  service see one of its local addresses as the client; the client's address
  and port reach them in the TCP option TOA (kind 254) of the handshake.
  --add-laddr    -P                   add a local address (-z) to a service
  --del-laddr    -Q                   delete a local address from a service
  --get-laddr    -G                   list local addresses, their connections and
                                      CONFLICTS (connections refused: no free port)
  --laddr        -z address           the local address
";

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use rvs_api::{ApiError, Counter, Counters, ErrorKind, Info, Protocol, ServiceKey};

    use super::*;

    struct Run {
        status: i32,
        out: String,
        err: String,
        requests: Vec<Request>,
    }

    /// Execute `command` against a fake dataplane answering `answers` in turn.
    fn run(command: &Command, answers: Vec<Result<Response, FrameError>>) -> Run {
        let mut answers = answers.into_iter();
        let mut requests = Vec::new();
        let mut call = |request: Request| {
            requests.push(request);
            answers
                .next()
                .unwrap_or_else(|| Err(FrameError::Io(std::io::Error::other("no answer"))))
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let status = execute(
            command,
            "/tmp/x.sock",
            &mut call,
            &ServicesDb::default(),
            &mut out,
            &mut err,
        );
        Run {
            status,
            out: String::from_utf8_lossy(&out).into_owned(),
            err: String::from_utf8_lossy(&err).into_owned(),
            requests,
        }
    }

    fn key() -> ServiceKey {
        ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: SocketAddr::from(([192, 0, 2, 1], 80)),
        }
    }

    /// `-R` (`spec/ipvsadm.md` §3.2): `ipvsadm` words dropped, empty lines
    /// skipped, a refused change reported and the restore going on, the
    /// exit status the last line's; a line that does not parse ends it.
    #[test]
    fn restore_runs_line_by_line() {
        let input = "ipvsadm -A -t 192.0.2.1:80 -s rr\n\n-a -t 192.0.2.1:80 -r 192.0.2.11 -m\n-D -t 192.0.2.9:80\n";
        let run_restore = |input: &str, answers: Vec<Response>| {
            let mut answers = answers.into_iter();
            let mut requests = vec![];
            let mut call = |r: Request| {
                requests.push(r);
                Ok(answers.next().unwrap_or(Response::Ok))
            };
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let resolver = SystemResolver {
                services: ServicesDb::default(),
            };
            let status = restore(
                &mut input.as_bytes(),
                &resolver,
                "/tmp/x.sock",
                &mut call,
                &mut out,
                &mut err,
            );
            (status, requests, String::from_utf8_lossy(&err).into_owned())
        };
        let refused = Response::Error(ApiError::new(ErrorKind::NoService, "no such service"));
        let (status, requests, err) =
            run_restore(input, vec![Response::Ok, Response::Ok, refused.clone()]);
        assert_eq!(requests.len(), 3);
        assert_eq!(status, EXIT_FAILURE_API, "the last line's status");
        assert!(err.contains("No such service"), "{err}");
        // A refusal in the middle does not stop it; the last line's status
        // (0) is the result.
        let (status, requests, _) = run_restore(
            "-D -t 192.0.2.9:80\n-A -t 192.0.2.1:80 -s rr\n",
            vec![refused, Response::Ok],
        );
        assert_eq!((status, requests.len()), (0, 2));
        // A syntax error ends it, exit 2, nothing after it runs.
        let (status, requests, err) = run_restore(
            "-A -t 192.0.2.1:80 -s rr\n-A -t 80\n-C\n",
            vec![Response::Ok],
        );
        assert_eq!((status, requests.len()), (2, 1));
        assert!(err.contains("illegal virtual server address"), "{err}");
    }

    #[test]
    fn change_ok_and_refused() {
        let del = Command::Change(Request::DelService { key: key() });
        let ok = run(&del, vec![Ok(Response::Ok)]);
        assert_eq!((ok.status, ok.out.as_str(), ok.err.as_str()), (0, "", ""));
        assert_eq!(ok.requests, [Request::DelService { key: key() }]);
        let refused = run(
            &del,
            vec![Ok(Response::Error(ApiError::new(ErrorKind::NoService, "")))],
        );
        assert_eq!(
            (refused.status, refused.err.as_str()),
            (255, "No such service\n")
        );
    }

    #[test]
    fn unreachable_dataplane() {
        let r = run(&Command::Change(Request::Clear), vec![]);
        assert_eq!(r.status, 255);
        assert_eq!(
            r.err,
            "rvsadm: cannot reach the dataplane at /tmp/x.sock: no answer (is rvs-dataplane running?)\n"
        );
    }

    #[test]
    fn full_listing_asks_info_then_services() {
        let info = Info {
            version: "0.1.0".into(),
            ipvs_version: 0x010201,
            conn_table_size: 4096,
            workers: 1,
            generation: 1,
        };
        let list = Command::List {
            service: None,
            format: ListFormat::default(),
        };
        let r = run(
            &list,
            vec![Ok(Response::Info(info)), Ok(Response::Services(vec![]))],
        );
        assert_eq!(r.status, 0);
        assert_eq!(r.requests, [Request::Info, Request::List { service: None }]);
        assert!(r
            .out
            .starts_with("IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port"));
    }

    #[test]
    fn missing_single_service() {
        let list = Command::List {
            service: Some(key()),
            format: ListFormat::default(),
        };
        let r = run(
            &list,
            vec![Ok(Response::Error(ApiError::new(ErrorKind::NoService, "")))],
        );
        assert_eq!((r.status, r.err.as_str()), (1, "No such service\n"));
        let r = run(&list, vec![Ok(Response::Services(vec![]))]);
        assert_eq!((r.status, r.err.as_str()), (1, "No such service\n"));
        let r = run(&list, vec![Ok(Response::Ok)]);
        assert_eq!(r.status, 255);
    }

    #[test]
    fn counters_in_dataplane_order() {
        let counters = Counters {
            counters: vec![
                Counter {
                    name: "rx_packets".into(),
                    value: 5,
                },
                Counter {
                    name: "drop_ipv4_truncated".into(),
                    value: 2,
                },
            ],
        };
        let r = run(&Command::Counters, vec![Ok(Response::Counters(counters))]);
        assert_eq!(
            (r.status, r.out.as_str(), r.err.as_str()),
            (0, "rx_packets 5\ndrop_ipv4_truncated 2\n", "")
        );
        assert_eq!(r.requests, [Request::Counters]);
    }

    #[test]
    fn counters_failures() {
        let r = run(
            &Command::Counters,
            vec![Ok(Response::Error(ApiError::new(
                ErrorKind::Invalid,
                "no counters",
            )))],
        );
        assert_eq!(
            (r.status, r.out.as_str(), r.err.as_str()),
            (255, "", "no counters\n")
        );
        let r = run(&Command::Counters, vec![Ok(Response::Ok)]);
        assert_eq!((r.status, r.out.as_str()), (255, ""));
        assert!(r.err.starts_with("rvsadm: unexpected answer"));
        let r = run(&Command::Counters, vec![]);
        assert_eq!(r.status, 255);
        assert_eq!(
            r.err,
            "rvsadm: cannot reach the dataplane at /tmp/x.sock: no answer (is rvs-dataplane running?)\n"
        );
    }

    #[test]
    fn help_and_version() {
        let r = run(&Command::Help, vec![]);
        assert_eq!(r.status, 0);
        assert!(r.out.contains("--socket PATH"));
        assert!(r.out.contains("rvs extensions:\n  --counters"));
        assert!(r.out.contains("  --sctp-service    service-address"));
        assert!(!r.out.contains("Not supported yet"));
        assert!(r.requests.is_empty());
        assert!(run(&Command::Version, vec![]).out.starts_with("rvsadm v"));
    }
}
