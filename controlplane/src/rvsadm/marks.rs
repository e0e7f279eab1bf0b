//! rvs's classifier commands, an extension of ipvsadm's grammar: kernel LVS
//! users mark packets with `iptables -t mangle ... -j MARK --set-mark N` for
//! fwmark services (`-f N`), and no iptables sees the dataplane's packets,
//! so its classifier takes the rules instead.
//!
//! Grammar (long options only, in any order, `--opt value` or `--opt=value`):
//! - `--add-mark N --dst PREFIX [--proto tcp|udp] [--dport LIST] [--src PREFIX]`
//!   appends a rule: packets to PREFIX (an address is a /32), of the
//!   protocol (both when absent), to a port in LIST (`80,443,8000:8080`;
//!   every port when absent), from PREFIX (every client when absent) get
//!   mark N. Rules are tried in the order they were added; the first match
//!   wins.
//! - `--del-mark N` deletes every rule setting N; with `--dst` and the
//!   other options it deletes exactly that rule.
//! - `--list-marks` prints the rules in match order, one per line, as the
//!   `--add-mark` options that make them (like `-S`, so the output can be
//!   replayed).
//!
//! `--socket PATH` works as everywhere. Errors are ipvsadm-style: the
//! message alone and exit 2, or popt's `WORD: problem` and exit 255.

use rvs_api::{MarkRule, PortRange, Prefix, Protocol, Request};

use super::command::{syntax, Command, Invocation, ParseError};
use super::longopts::{holds_command, Words};

/// The command names, as `--NAME`.
const COMMANDS: [&str; 3] = ["add-mark", "del-mark", "list-marks"];
/// The options, as `--NAME VALUE`.
const OPTIONS: [&str; 5] = ["dst", "proto", "dport", "src", "socket"];

/// Whether argv holds one of the classifier commands (before any `--`).
pub fn is_mark_command(args: &[String]) -> bool {
    holds_command(args, &COMMANDS)
}

#[derive(Default)]
struct Draft {
    command: Option<(&'static str, Option<String>)>,
    dst: Option<String>,
    proto: Option<String>,
    dport: Option<String>,
    src: Option<String>,
    socket: Option<String>,
}

/// Parse a classifier command line (argv without the program name).
pub fn parse(args: &[String]) -> Result<Invocation, ParseError> {
    let mut d = Draft::default();
    let mut words = Words::new(args);
    while let Some(opt) = words.next_opt()? {
        let (name, glued) = (opt.name, opt.glued);
        if let Some(&cmd) = COMMANDS.iter().find(|&&c| c == name) {
            if d.command.is_some() {
                return syntax("multiple commands specified");
            }
            let arg = match cmd {
                "list-marks" if glued.is_some() => {
                    return Err(opt.popt("option does not take an argument"))
                }
                "list-marks" => None,
                _ => Some(words.value(&opt)?),
            };
            d.command = Some((cmd, arg));
            continue;
        }
        let slot = match OPTIONS.iter().find(|&&o| o == name) {
            Some(&"dst") => &mut d.dst,
            Some(&"proto") => &mut d.proto,
            Some(&"dport") => &mut d.dport,
            Some(&"src") => &mut d.src,
            Some(_) => &mut d.socket,
            None => return Err(opt.popt("unknown option")),
        };
        if slot.is_some() {
            return syntax(format!("multiple '{name}' options specified"));
        }
        *slot = Some(words.value(&opt)?);
    }
    let socket = d.socket.clone();
    // is_mark_command saw a command word, but another option may have taken
    // it as its value (`--dst --add-mark`).
    let Some((cmd, arg)) = d.command.take() else {
        return Err(ParseError::TryHelp);
    };
    let given: Vec<&str> = [
        ("dst", &d.dst),
        ("proto", &d.proto),
        ("dport", &d.dport),
        ("src", &d.src),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_some())
    .map(|(n, _)| n)
    .collect();
    let command = match cmd {
        "list-marks" => {
            if let Some(opt) = given.first() {
                return syntax(format!(
                    "Illegal '{opt}' option with the 'list-marks' command"
                ));
            }
            Command::ListMarks
        }
        _ => {
            let text = arg.unwrap_or_default();
            let mark = text.parse::<u32>().ok().filter(|&m| m > 0).ok_or_else(|| {
                ParseError::Syntax(format!("invalid mark value `{text}' specified"))
            })?;
            if cmd == "del-mark" && given.is_empty() {
                Command::Change(Request::DelMarkRules { mark })
            } else {
                let rule = rule(mark, &d, cmd)?;
                Command::Change(if cmd == "add-mark" {
                    Request::AddMarkRule(rule)
                } else {
                    Request::DelMarkRule(rule)
                })
            }
        }
    };
    Ok(Invocation { command, socket })
}

fn rule(mark: u32, d: &Draft, cmd: &str) -> Result<MarkRule, ParseError> {
    let Some(dst) = &d.dst else {
        return syntax(format!(
            "You need to supply the 'dst' option for the '{cmd}' command"
        ));
    };
    let prefix = |what: &str, text: &str| {
        text.parse::<Prefix>().map_err(|e| {
            ParseError::Syntax(format!("illegal {what} prefix `{text}' specified: {e}"))
        })
    };
    let protocol = match d.proto.as_deref() {
        None => None,
        Some("tcp") => Some(Protocol::Tcp),
        Some("udp") => Some(Protocol::Udp),
        Some(p) => return syntax(format!("invalid protocol `{p}' specified (tcp or udp)")),
    };
    let dst_ports = match &d.dport {
        None => vec![],
        Some(text) => PortRange::parse_list(text).map_err(|e| {
            ParseError::Syntax(format!("illegal port list `{text}' specified: {e}"))
        })?,
    };
    Ok(MarkRule {
        mark,
        protocol,
        dst: prefix("destination", dst)?,
        dst_ports,
        src: d.src.as_deref().map(|s| prefix("source", s)).transpose()?,
    })
}

/// `--list-marks`: the rules, one `--add-mark ...` line each.
pub fn format_rules(rules: &[MarkRule]) -> String {
    rules.iter().map(|r| format!("{r}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    fn parse_line(line: &str) -> Result<Invocation, ParseError> {
        let args = words(line);
        assert!(is_mark_command(&args), "{line}");
        parse(&args)
    }

    fn command(line: &str) -> Command {
        parse_line(line).unwrap().command
    }

    fn error(line: &str) -> (String, i32) {
        let e = parse_line(line).unwrap_err();
        (e.to_string(), e.exit_code())
    }

    #[test]
    fn add_list_and_delete() {
        let Command::Change(Request::AddMarkRule(r)) =
            command("--add-mark 5 --proto tcp --dst 198.18.0.100 --dport 80,443")
        else {
            panic!()
        };
        assert_eq!(
            r.to_string(),
            "--add-mark 5 --proto tcp --dst 198.18.0.100/32 --dport 80,443"
        );
        // The printed form parses back to the same rule.
        let Command::Change(Request::AddMarkRule(again)) = command(&r.to_string()) else {
            panic!()
        };
        assert_eq!(again, r);
        assert_eq!(format_rules(std::slice::from_ref(&r)), format!("{r}\n"));
        let inv =
            parse_line("--socket=/tmp/a.sock --add-mark=7 --dst=10.1.0.0/16 --src 198.51.100.0/24")
                .unwrap();
        assert_eq!(inv.socket.as_deref(), Some("/tmp/a.sock"));
        let Command::Change(Request::AddMarkRule(r)) = inv.command else {
            panic!()
        };
        assert_eq!((r.mark, r.protocol, r.dst_ports.len()), (7, None, 0));
        assert_eq!(r.src.unwrap().to_string(), "198.51.100.0/24");
        assert_eq!(command("--list-marks"), Command::ListMarks);
        assert_eq!(
            command("--del-mark 5"),
            Command::Change(Request::DelMarkRules { mark: 5 })
        );
        assert!(matches!(
            command("--del-mark 5 --dst 198.18.0.100 --dport 80"),
            Command::Change(Request::DelMarkRule(MarkRule { mark: 5, .. }))
        ));
    }

    #[test]
    fn errors() {
        let syntax = |m: &str| (m.to_string(), 2);
        assert_eq!(
            error("--add-mark 5"),
            syntax("You need to supply the 'dst' option for the 'add-mark' command")
        );
        assert_eq!(
            error("--add-mark 0 --dst 1.2.3.4"),
            syntax("invalid mark value `0' specified")
        );
        assert_eq!(
            error("--add-mark x --dst 1.2.3.4"),
            syntax("invalid mark value `x' specified")
        );
        assert_eq!(
            error("--add-mark 5 --dst 1.2.3.4 --proto icmp"),
            syntax("invalid protocol `icmp' specified (tcp or udp)")
        );
        assert!(error("--add-mark 5 --dst 1.2.3.4/33")
            .0
            .starts_with("illegal destination prefix `1.2.3.4/33'"));
        assert!(error("--add-mark 5 --dst 1.2.3.4 --dport 90:80")
            .0
            .starts_with("illegal port list `90:80'"));
        assert_eq!(
            error("--add-mark 5 --dst 1.2.3.4 --dst 1.2.3.5"),
            syntax("multiple 'dst' options specified")
        );
        assert_eq!(
            error("--add-mark 5 --list-marks"),
            syntax("multiple commands specified")
        );
        assert_eq!(
            error("--list-marks --dst 1.2.3.4"),
            syntax("Illegal 'dst' option with the 'list-marks' command")
        );
        assert_eq!(
            error("--del-mark 5 --dport 80"),
            syntax("You need to supply the 'dst' option for the 'del-mark' command")
        );
        assert_eq!(
            error("--add-mark 5 --bogus 1"),
            ("--bogus: unknown option".into(), 255)
        );
        assert_eq!(
            error("--add-mark"),
            ("--add-mark: missing argument".into(), 255)
        );
        assert_eq!(
            error("--list-marks=1"),
            (
                "--list-marks=1: option does not take an argument".into(),
                255
            )
        );
        assert_eq!(
            error("--list-marks extra"),
            syntax("unexpected argument extra")
        );
        assert_eq!(
            error("--dst --add-mark").1,
            255,
            "the option took the command as its value"
        );
        assert_eq!(error("--socket --list-marks").1, 255);
        assert!(!is_mark_command(&words("-L -n")));
        assert!(!is_mark_command(&words("-L -- --add-mark")));
    }
}
