//! FullNAT local addresses, an extension of ipvsadm's grammar in DPVS's
//! words: a FullNAT service (dests added with `--fullnat`) rewrites the
//! client's address to one of its local addresses, which the real servers
//! answer to.
//!
//! Grammar (DPVS's ipvsadm): `--add-laddr|-P`, `--del-laddr|-Q` with a
//! service (`-t|--tcp-service ADDR:PORT` or `-u|--udp-service ADDR:PORT`)
//! and `-z|--laddr ADDR`; `--get-laddr|-G` with an optional service lists
//! them, in `-L`'s order, with their connections (those holding one of the
//! address's ports, whichever service made them) and exhaustion events
//! (DPVS's CONFLICTS: a new connection found every port of the address
//! taken). Addresses are numeric. `--socket PATH` works as everywhere.

use std::net::{IpAddr, SocketAddr};

use rvs_api::{LaddrStatus, Protocol, Request, ServiceKey};

use super::command::{syntax, Command, Invocation, ParseError};
use super::options::PoptError;

/// The command words (long, then DPVS's short form).
const COMMANDS: [(&str, &str); 3] = [
    ("--add-laddr", "-P"),
    ("--del-laddr", "-Q"),
    ("--get-laddr", "-G"),
];

/// Whether argv holds one of the local-address commands (before any `--`).
pub fn is_laddr_command(args: &[String]) -> bool {
    args.iter()
        .take_while(|w| w.as_str() != "--")
        .any(|w| COMMANDS.iter().any(|(l, s)| w == l || w == s))
}

/// Parse a local-address command line (argv without the program name).
pub fn parse(args: &[String]) -> Result<Invocation, ParseError> {
    let mut command: Option<usize> = None;
    let mut service: Option<ServiceKey> = None;
    let mut laddr: Option<IpAddr> = None;
    let mut socket: Option<String> = None;
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let (name, glued) = match word.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (word.as_str(), None),
        };
        let mut value = || -> Result<String, ParseError> {
            match &glued {
                Some(v) => Ok(v.clone()),
                None => words.next().cloned().ok_or_else(|| {
                    ParseError::Popt(PoptError {
                        word: word.clone(),
                        problem: "missing argument",
                    })
                }),
            }
        };
        if let Some(i) = COMMANDS.iter().position(|(l, s)| name == *l || name == *s) {
            if command.is_some() {
                return syntax("multiple commands specified");
            }
            command = Some(i);
            continue;
        }
        match name {
            "-t" | "--tcp-service" | "-u" | "--udp-service" => {
                if service.is_some() {
                    return syntax("multiple 'service' options specified");
                }
                let text = value()?;
                let addr: SocketAddr = text.parse().map_err(|_| {
                    ParseError::Syntax(format!(
                        "illegal virtual server address[:port] specified: {text}"
                    ))
                })?;
                let protocol = if matches!(name, "-t" | "--tcp-service") {
                    Protocol::Tcp
                } else {
                    Protocol::Udp
                };
                service = Some(ServiceKey::Inet { protocol, addr });
            }
            "-z" | "--laddr" => {
                if laddr.is_some() {
                    return syntax("multiple 'laddr' options specified");
                }
                let text = value()?;
                laddr = Some(text.parse().map_err(|_| {
                    ParseError::Syntax(format!("illegal local address `{text}' specified"))
                })?);
            }
            "--socket" => {
                if socket.is_some() {
                    return syntax("multiple 'socket' options specified");
                }
                socket = Some(value()?);
            }
            _ => {
                return Err(ParseError::Popt(PoptError {
                    word: word.clone(),
                    problem: "unknown option",
                }))
            }
        }
    }
    let Some(command) = command else {
        return Err(ParseError::TryHelp);
    };
    let command = match (command, service, laddr) {
        (2, service, None) => Command::ListLaddrs { service },
        (2, _, Some(_)) => return syntax("Illegal 'laddr' option with the 'get-laddr' command"),
        (_, None, _) => return syntax("You need to supply the 'service' option"),
        (_, Some(_), None) => return syntax("You need to supply the 'laddr' option"),
        (0, Some(service), Some(addr)) => Command::Change(Request::AddLaddr { service, addr }),
        (_, Some(service), Some(addr)) => Command::Change(Request::DelLaddr { service, addr }),
    };
    Ok(Invocation { command, socket })
}

/// `--get-laddr`, as DPVS's ipvsadm prints it: a header, then each
/// service's first local address on its line and the others below.
pub fn format_laddrs(list: &[LaddrStatus]) -> String {
    // Services in `-L`'s order (a stable sort: each one's addresses stay in
    // the order they were added).
    let mut refs: Vec<&LaddrStatus> = list.iter().collect();
    super::list::merge_sort(&mut refs, &|a, b| {
        super::list::compare_services(&a.service, &b.service)
    });
    let sorted: Vec<LaddrStatus> = refs.into_iter().cloned().collect();
    let list = &sorted[..];
    let mut out = format!(
        "{:<20} {:<8} {:<20} {:<10} {:<10}\n",
        "VIP:VPORT", "TOTAL", "SNAT_IP", "CONFLICTS", "CONNS"
    );
    let mut i = 0;
    while i < list.len() {
        let service = list[i].service;
        let n = list[i..]
            .iter()
            .take_while(|l| l.service == service)
            .count();
        let name = match service {
            ServiceKey::Inet { addr, .. } => addr.to_string(),
            ServiceKey::Fwmark { mark, .. } => format!("FWM {mark}"),
        };
        for (k, l) in list[i..i + n].iter().enumerate() {
            let lead = if k == 0 {
                format!("{name:<20} {n:<8}")
            } else {
                " ".repeat(29)
            };
            out.push_str(&format!(
                "{lead} {:<20} {:<10} {:<10}\n",
                l.addr.to_string(),
                l.exhausted,
                l.conns
            ));
        }
        i += n;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn command(line: &str) -> Result<Command, ParseError> {
        let args = words(line);
        assert!(is_laddr_command(&args), "{line}");
        parse(&args).map(|i| i.command)
    }

    fn tcp(addr: &str) -> ServiceKey {
        ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr: addr.parse().unwrap(),
        }
    }

    #[test]
    fn dpvs_grammar() {
        let add = Command::Change(Request::AddLaddr {
            service: tcp("198.18.0.101:80"),
            addr: "198.18.0.201".parse().unwrap(),
        });
        assert_eq!(
            command("--add-laddr -t 198.18.0.101:80 -z 198.18.0.201").unwrap(),
            add
        );
        assert_eq!(
            command("-P -z 198.18.0.201 -t 198.18.0.101:80").unwrap(),
            add
        );
        assert_eq!(
            command("-Q -t 198.18.0.101:80 --laddr=198.18.0.201").unwrap(),
            Command::Change(Request::DelLaddr {
                service: tcp("198.18.0.101:80"),
                addr: "198.18.0.201".parse().unwrap(),
            })
        );
        assert_eq!(
            command("-G").unwrap(),
            Command::ListLaddrs { service: None }
        );
        assert_eq!(
            command("--get-laddr -u 198.18.0.101:53").unwrap(),
            Command::ListLaddrs {
                service: Some(ServiceKey::Inet {
                    protocol: Protocol::Udp,
                    addr: "198.18.0.101:53".parse().unwrap()
                })
            }
        );
        for (line, message) in [
            (
                "-P -z 198.18.0.201",
                "You need to supply the 'service' option",
            ),
            (
                "-P -t 198.18.0.101:80",
                "You need to supply the 'laddr' option",
            ),
            (
                "-P -t 198.18.0.101:80 -z nowhere",
                "illegal local address `nowhere' specified",
            ),
            (
                "-G -z 198.18.0.201",
                "Illegal 'laddr' option with the 'get-laddr' command",
            ),
            (
                "-P -Q -t 198.18.0.101:80 -z 198.18.0.201",
                "multiple commands specified",
            ),
        ] {
            assert_eq!(
                command(line),
                Err(ParseError::Syntax(message.into())),
                "{line}"
            );
        }
        assert!(matches!(
            command("-P -t 198.18.0.101:80 -x 1"),
            Err(ParseError::Popt(_))
        ));
    }

    #[test]
    fn listing_shape() {
        let l = |a: &str, conns, exhausted| LaddrStatus {
            service: tcp("198.18.0.101:80"),
            addr: a.parse().unwrap(),
            conns,
            exhausted,
        };
        let text = format_laddrs(&[l("198.18.0.201", 3, 0), l("198.18.0.202", 2, 7)]);
        assert_eq!(
            text,
            "VIP:VPORT            TOTAL    SNAT_IP              CONFLICTS  CONNS     \n\
             198.18.0.101:80      2        198.18.0.201         0          3         \n\
             \x20                             198.18.0.202         7          2         \n"
        );
    }
}
