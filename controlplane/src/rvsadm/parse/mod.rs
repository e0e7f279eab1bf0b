//! ipvsadm's grammar: argv → a typed [`Command`], with ipvsadm's defaults,
//! checks and error texts.
//!
//! Contract:
//! - [`parse_args`] never panics and never touches the network itself: names
//!   go through the [`Resolver`] it is given.
//! - Defaults are filled in as ipvsadm does, so `-E`/`-e` are full
//!   replacements: scheduler `wlc` for `-A` and `-E`, bare `-p` = 360 s,
//!   forwarding `-g`, weight 1, thresholds 0; `-r` without a port copies the
//!   service port, and `-g`/`-i` force the dest port to the service port on
//!   address services.
//! - Errors are [`ParseError`]s carrying ipvsadm's text and exit status.
//!
//! Where rvsadm differs from ipvsadm 1.31, on purpose:
//! - `-h`/`-v` count as commands (after another command they are an
//!   "invalid option", as in ipvsadm);
//! - `-r`, `-M` and `-b` are interpreted after all options are read, so their
//!   meaning does not depend on whether `-t`/`-s` came first;
//! - `--socket PATH` (an rvs extension) may appear anywhere; argv holding only
//!   `--socket` options lists like an empty argv;
//! - `--counters` (an rvs extension, long form only) is a command that takes
//!   no option of the matrix;
//! - options of the grammar that rvsadm does not implement yet are refused
//!   by name ([`ParseError::Unsupported`]) instead of being acted on.
//!
//! [`parse_args`] walks argv; `draft` reads each option into a `Draft`
//! (once each, its value checked), `build` interprets the options that
//! depend on others, checks the matrix, fills in the defaults and makes
//! the [`Command`]; `tests` drive the whole grammar.

use rvs_api::Request;

pub use super::command::{Command, Invocation, ParseError, EXIT_SYNTAX};

use super::command::syntax;
use super::list::ListFormat;
use super::names::Resolver;
use super::options::{Cmd, Kind, Token, Tokens};

/// The scheduler of `-A`/`-E` when `-s` is not given.
pub use rvs_api::SCHEDULER_DEFAULT;
/// A bare `-p` is ipvsadm's `IPVS_SVC_PERSISTENT_TIMEOUT` (its man page
/// wrongly says 300).
pub use rvs_api::{PERSISTENT_TIMEOUT_DEFAULT_S, PERSISTENT_TIMEOUT_MAX_S};
/// Longest scheduler or persistence engine name; longer ones are cut, as
/// ipvsadm's `strncpy` into a 16-byte field does.
pub const NAME_LEN_MAX: usize = 15;

mod build;
mod draft;
#[cfg(test)]
mod tests;

use build::{check_matrix, finish, parse_timeout};
use draft::Draft;

/// Parse argv (without the program name). An empty argv lists, like `-L`
/// without `-n`.
pub fn parse_args(args: &[String], resolver: &dyn Resolver) -> Result<Invocation, ParseError> {
    if super::marks::is_mark_command(args) {
        return super::marks::parse(args);
    }
    if super::laddrs::is_laddr_command(args) {
        return super::laddrs::parse(args);
    }
    if super::defense::is_defense_command(args) {
        return super::defense::parse(args);
    }
    let mut socket: Option<String> = None;
    let mut draft: Option<Draft> = None;
    let mut positionals: Vec<String> = vec![];
    for token in Tokens::new(args) {
        let (spec, shown, value) = match token {
            Ok(Token::Option { spec, shown, value }) => (spec, shown, value),
            Ok(Token::Positional(word)) => {
                positionals.push(word);
                continue;
            }
            Err(_) if draft.is_none() => return Err(ParseError::TryHelp),
            Err(e) => return Err(ParseError::Popt(e)),
        };
        if spec.kind == Kind::Socket {
            if socket.is_some() {
                return syntax("multiple 'socket' options specified");
            }
            socket = Some(value.unwrap_or_default());
            continue;
        }
        match &mut draft {
            Some(d) => d.take(spec.kind, &shown, value, resolver)?,
            None => {
                let Kind::Command(cmd) = spec.kind else {
                    return Err(ParseError::TryHelp);
                };
                match cmd {
                    Cmd::Help => {
                        return Ok(Invocation {
                            command: Command::Help,
                            socket,
                        })
                    }
                    Cmd::Version => {
                        return Ok(Invocation {
                            command: Command::Version,
                            socket,
                        })
                    }
                    Cmd::StartDaemon | Cmd::StopDaemon => {
                        let role = match value.as_deref() {
                            Some("master") => rvs_api::SyncRole::Master,
                            Some("backup") => rvs_api::SyncRole::Backup,
                            _ if cmd == Cmd::StartDaemon => {
                                return syntax("illegal start-daemon parameter specified")
                            }
                            // ipvsadm 1.31's text for --stop-daemon, word for word.
                            _ => return syntax("illegal start_daemon specified"),
                        };
                        let mut d = Draft::new(cmd);
                        d.daemon = Some(role);
                        draft = Some(d);
                    }
                    _ => draft = Some(Draft::new(cmd)),
                }
            }
        }
    }
    let Some(draft) = draft else {
        return match positionals.first() {
            None => Ok(Invocation {
                command: Command::List {
                    service: None,
                    format: ListFormat::default(),
                },
                socket,
            }),
            Some(_) => Err(ParseError::TryHelp),
        };
    };
    let mut positionals = positionals.into_iter();
    let timeouts = if draft.cmd == Cmd::Set {
        // ipvsadm takes the three values with poptGetArg.
        let (Some(tcp), Some(tcpfin), Some(udp)) =
            (positionals.next(), positionals.next(), positionals.next())
        else {
            return syntax("--set option requires 3 timeout values");
        };
        Some(rvs_api::Timeouts {
            tcp_s: parse_timeout(&tcp)?,
            tcpfin_s: parse_timeout(&tcpfin)?,
            udp_s: parse_timeout(&udp)?,
        })
    } else {
        None
    };
    if let Some(word) = positionals.next() {
        return syntax(format!("unexpected argument {word}"));
    }
    let command = match timeouts {
        Some(t) => {
            check_matrix(&draft)?;
            Command::Change(Request::SetTimeouts(t))
        }
        None => finish(draft, resolver)?,
    };
    Ok(Invocation { command, socket })
}
