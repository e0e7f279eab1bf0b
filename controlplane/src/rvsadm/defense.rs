//! rvs's commands for IPVS's defence strategies, which ipvsadm has no
//! option for (the kernel's are sysctls, `/proc/sys/net/ipv4/vs/`):
//!
//! - `--set-defense NAME=VALUE[,NAME=VALUE...]` sets some of
//!   `drop_entry`, `drop_packet`, `secure_tcp` (modes 0..3), `amemthresh`
//!   (the percentage of a core's connection table kept free, 1..99) and
//!   `am_droprate`; the others keep their values (rvsadm reads them first);
//! - `--list-defense` prints one `name value` line each, the modes as IPVS
//!   shows them (an automatic mode reads 2 while its strategy is on), then
//!   the state (cores under pressure, the fullest table's occupancy, the
//!   drop rate in force) and the counters (entries and packets dropped).
//!
//! `--socket PATH` works as everywhere. Errors are ipvsadm-style: the
//! message alone and exit 2, or popt's `WORD: problem` and exit 255.

use rvs_api::{Defense, DefenseStatus, FrameError, Request, Response};

use super::command::{syntax, Command, Invocation, ParseError};
use super::errors::error_text;
use super::longopts::{holds_command, Words};
use super::{transport_failure, unexpected, Failure, EXIT_FAILURE_API};

const COMMANDS: [&str; 2] = ["set-defense", "list-defense"];

/// The settings `--set-defense` knows.
pub const NAMES: [&str; 5] = [
    "drop_entry",
    "drop_packet",
    "secure_tcp",
    "amemthresh",
    "am_droprate",
];

/// Whether argv holds one of these commands (before any `--`).
pub fn is_defense_command(args: &[String]) -> bool {
    holds_command(args, &COMMANDS)
}

/// Parse a defence command line (argv without the program name).
pub fn parse(args: &[String]) -> Result<Invocation, ParseError> {
    let mut command: Option<Command> = None;
    let mut socket: Option<String> = None;
    let mut words = Words::new(args);
    while let Some(opt) = words.next_opt()? {
        let (name, glued) = (opt.name, opt.glued);
        match name {
            "set-defense" | "list-defense" if command.is_some() => {
                return syntax("multiple commands specified")
            }
            "set-defense" => command = Some(Command::SetDefense(settings(&words.value(&opt)?)?)),
            "list-defense" if glued.is_some() => {
                return Err(opt.popt("option does not take an argument"))
            }
            "list-defense" => command = Some(Command::ListDefense),
            "socket" if socket.is_some() => return syntax("multiple 'socket' options specified"),
            "socket" => socket = Some(words.value(&opt)?),
            _ => return Err(opt.popt("unknown option")),
        }
    }
    match command {
        Some(command) => Ok(Invocation { command, socket }),
        None => Err(ParseError::TryHelp),
    }
}

/// `NAME=VALUE[,NAME=VALUE...]`, each name once.
fn settings(text: &str) -> Result<Vec<(String, u32)>, ParseError> {
    let mut out: Vec<(String, u32)> = vec![];
    for item in text.split(',') {
        let Some((name, value)) = item.split_once('=') else {
            return syntax(format!(
                "invalid defence setting `{item}' (NAME=VALUE, NAME one of {})",
                NAMES.join(", ")
            ));
        };
        if !NAMES.contains(&name) {
            return syntax(format!(
                "unknown defence setting `{name}' (one of {})",
                NAMES.join(", ")
            ));
        }
        if out.iter().any(|(n, _)| n == name) {
            return syntax(format!("defence setting `{name}' given twice"));
        }
        let Ok(v) = value.parse::<u32>() else {
            return syntax(format!("invalid value `{value}' for {name}"));
        };
        out.push((name.to_string(), v));
    }
    Ok(out)
}

/// `d` with `changes` applied; a value out of a field's range is refused
/// here (the dataplane checks the ranges again).
pub fn apply(mut d: Defense, changes: &[(String, u32)]) -> Result<Defense, String> {
    let byte =
        |name: &str, v: u32| u8::try_from(v).map_err(|_| format!("{name} {v} is out of range"));
    for (name, v) in changes {
        match name.as_str() {
            "drop_entry" => d.drop_entry = byte(name, *v)?,
            "drop_packet" => d.drop_packet = byte(name, *v)?,
            "secure_tcp" => d.secure_tcp = byte(name, *v)?,
            "amemthresh" => d.amemthresh = byte(name, *v)?,
            _ => d.am_droprate = *v,
        }
    }
    d.validate()?;
    Ok(d)
}

/// `--list-defense`'s lines.
pub fn format(s: &DefenseStatus) -> String {
    let d = &s.shown;
    let occupancy = format!("{:.1}%", f64::from(s.occupancy_ppm) / 10_000.0);
    [
        ("drop_entry", d.drop_entry.to_string()),
        ("drop_packet", d.drop_packet.to_string()),
        ("secure_tcp", d.secure_tcp.to_string()),
        ("amemthresh", format!("{}%", d.amemthresh)),
        ("am_droprate", d.am_droprate.to_string()),
        ("cores_under_pressure", s.cores_under_pressure.to_string()),
        ("occupancy", occupancy),
        ("drop_rate", s.drop_rate.to_string()),
        ("secure_tcp_on", u8::from(s.secure_tcp_on).to_string()),
        ("entries_dropped", s.entries_dropped.to_string()),
        ("packets_dropped", s.packets_dropped.to_string()),
        ("synproxy_cookies_sent", s.synproxy.cookies_sent.to_string()),
        ("synproxy_acks_valid", s.synproxy.acks_valid.to_string()),
        ("synproxy_acks_bad", s.synproxy.acks_bad.to_string()),
        ("synproxy_conns", s.synproxy.conns.to_string()),
    ]
    .iter()
    .map(|(n, v)| format!("{n} {v}\n"))
    .collect()
}

type Call<'a> = dyn FnMut(Request) -> Result<Response, FrameError> + 'a;

fn get(command: &Command, socket: &str, call: &mut Call) -> Result<DefenseStatus, Failure> {
    match call(Request::GetDefense) {
        Ok(Response::Defense(s)) => Ok(s),
        Ok(Response::Error(e)) => Err((EXIT_FAILURE_API, error_text(command, &e))),
        Ok(other) => Err(unexpected(socket, &other)),
        Err(e) => Err(transport_failure(socket, &e)),
    }
}

/// `--list-defense`.
pub(super) fn list(command: &Command, socket: &str, call: &mut Call) -> Result<String, Failure> {
    get(command, socket, call).map(|s| format(&s))
}

/// `--set-defense`: read the settings, change the named ones, send them.
pub(super) fn set(
    command: &Command,
    changes: &[(String, u32)],
    socket: &str,
    call: &mut Call,
) -> Result<String, Failure> {
    let now = get(command, socket, call)?;
    let want = apply(now.shown, changes).map_err(|m| (super::command::EXIT_SYNTAX, m))?;
    match call(Request::SetDefense(want)) {
        Ok(Response::Ok) => Ok(String::new()),
        Ok(Response::Error(e)) => Err((EXIT_FAILURE_API, error_text(command, &e))),
        Ok(other) => Err(unexpected(socket, &other)),
        Err(e) => Err(transport_failure(socket, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn command(line: &str) -> Command {
        parse(&args(line)).expect(line).command
    }

    fn error(line: &str) -> String {
        parse(&args(line)).unwrap_err().to_string()
    }

    #[test]
    fn the_grammar() {
        assert!(is_defense_command(&args("--set-defense drop_entry=1")));
        assert!(!is_defense_command(&args("-L -n")));
        assert_eq!(
            command("--set-defense drop_entry=1,amemthresh=20"),
            Command::SetDefense(vec![("drop_entry".into(), 1), ("amemthresh".into(), 20)])
        );
        assert_eq!(
            command("--set-defense=secure_tcp=3 --socket /tmp/s"),
            Command::SetDefense(vec![("secure_tcp".into(), 3)])
        );
        assert_eq!(
            parse(&args("--socket /tmp/s --list-defense"))
                .unwrap()
                .socket
                .as_deref(),
            Some("/tmp/s")
        );
        assert_eq!(command("--list-defense"), Command::ListDefense);
        assert!(
            error("--set-defense drop_entri=1").starts_with("unknown defence setting `drop_entri'")
        );
        assert!(error("--set-defense drop_entry").starts_with("invalid defence setting"));
        assert_eq!(
            error("--set-defense drop_entry=x"),
            "invalid value `x' for drop_entry"
        );
        assert_eq!(
            error("--set-defense drop_entry=1,drop_entry=2"),
            "defence setting `drop_entry' given twice"
        );
        assert_eq!(
            error("--list-defense --set-defense a=1"),
            "multiple commands specified"
        );
        assert_eq!(
            error("--list-defense=1"),
            "--list-defense=1: option does not take an argument"
        );
        assert_eq!(error("--list-defense --dst x"), "--dst: unknown option");
        assert_eq!(
            error("--set-defense").to_string(),
            "--set-defense: missing argument"
        );
    }

    #[test]
    fn apply_changes_only_the_named_settings_and_checks_ranges() {
        let d = Defense::default();
        let got = apply(d, &[("drop_packet".into(), 3), ("am_droprate".into(), 4)]).unwrap();
        assert_eq!(
            got,
            Defense {
                drop_packet: 3,
                am_droprate: 4,
                ..d
            }
        );
        assert!(apply(d, &[("drop_entry".into(), 4)]).is_err());
        assert!(apply(d, &[("secure_tcp".into(), 300)]).is_err());
        assert!(apply(d, &[("amemthresh".into(), 0)]).is_err());
    }

    #[test]
    fn set_reads_then_sends_the_whole_settings() {
        let mut sent = vec![];
        let status = DefenseStatus {
            shown: Defense {
                drop_entry: 2,
                ..Defense::default()
            },
            ..DefenseStatus::default()
        };
        let mut answers = vec![Ok(Response::Defense(status)), Ok(Response::Ok)].into_iter();
        let mut call = |r: Request| {
            sent.push(r);
            answers.next().unwrap()
        };
        let cmd = Command::SetDefense(vec![("secure_tcp".into(), 1)]);
        assert_eq!(
            set(&cmd, &[("secure_tcp".into(), 1)], "/s", &mut call),
            Ok(String::new())
        );
        assert_eq!(
            sent,
            [
                Request::GetDefense,
                Request::SetDefense(Defense {
                    drop_entry: 2,
                    secure_tcp: 1,
                    ..Defense::default()
                })
            ]
        );
        // A refusal of the range is exit 2 and sends nothing more.
        let mut sent = vec![];
        let mut answers = vec![Ok(Response::Defense(DefenseStatus::default()))].into_iter();
        let mut call = |r: Request| {
            sent.push(r);
            answers.next().unwrap()
        };
        let r = set(&cmd, &[("drop_entry".into(), 7)], "/s", &mut call);
        assert_eq!(r.unwrap_err().0, super::super::command::EXIT_SYNTAX);
        assert_eq!(sent, [Request::GetDefense]);
    }

    #[test]
    fn the_listing() {
        let s = DefenseStatus {
            shown: Defense {
                drop_packet: 2,
                ..Defense::default()
            },
            cores_under_pressure: 1,
            occupancy_ppm: 953_000,
            drop_rate: 2,
            secure_tcp_on: false,
            entries_dropped: 0,
            packets_dropped: 17,
            synproxy: rvs_api::SynproxyCounts {
                cookies_sent: 9,
                acks_valid: 4,
                acks_bad: 5,
                conns: 3,
            },
        };
        assert_eq!(
            format(&s),
            "drop_entry 0\ndrop_packet 2\nsecure_tcp 0\namemthresh 10%\nam_droprate 10\n\
             cores_under_pressure 1\noccupancy 95.3%\ndrop_rate 2\nsecure_tcp_on 0\n\
             entries_dropped 0\npackets_dropped 17\nsynproxy_cookies_sent 9\n\
             synproxy_acks_valid 4\nsynproxy_acks_bad 5\nsynproxy_conns 3\n"
        );
    }
}
