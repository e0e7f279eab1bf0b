//! What a parsed rvsadm command line is: the [`Command`] to run, the
//! [`Invocation`] around it, and the [`ParseError`] that refuses argv, with
//! ipvsadm's exit statuses. Every grammar (ipvsadm's in `parse`, the
//! classifier's in `marks`, the local addresses' in `laddrs`) builds these.

use rvs_api::{Request, ServiceKey};

use super::list::ListFormat;
use super::options::PoptError;

/// Exit status of a refused command line (ipvsadm's `fail(2, ...)`).
pub const EXIT_SYNTAX: i32 = 2;

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// A command that changes or zeroes the dataplane's state, as the request
    /// it sends: `-A` ([`Request::AddService`]), `-E`
    /// ([`Request::EditService`], a full replacement of the service's
    /// settings), `-D` ([`Request::DelService`]), `-C` ([`Request::Clear`]),
    /// `-a` ([`Request::AddDest`]), `-e` ([`Request::EditDest`], a full
    /// replacement of the dest's settings), `-d` ([`Request::DelDest`]) and
    /// `-Z` ([`Request::Zero`]: all services, or one).
    Change(Request),
    /// `-L`/`-l`: all services (with the version banner), or one (without).
    List {
        service: Option<ServiceKey>,
        format: ListFormat,
    },
    /// `-h`
    Help,
    /// `-v`
    Version,
    /// `--counters` (rvs's): the dataplane's packet counters.
    Counters,
    /// `--list-marks` (rvs's): the classifier rules.
    ListMarks,
    /// `--set-defense NAME=VALUE,...` (rvs's): IPVS's defence settings
    /// named, the others kept.
    SetDefense(Vec<(String, u32)>),
    /// `--list-defense` (rvs's): their settings, state and counters.
    ListDefense,
    /// `--get-laddr` (DPVS's): FullNAT local addresses of all services or one.
    ListLaddrs { service: Option<ServiceKey> },
    /// `-S [-n]`: the table as the command lines that make it.
    Save { numeric: bool },
    /// `-R`: command lines from stdin, one at a time.
    Restore,
    /// `-L --timeout`.
    ListTimeouts,
    /// `-L --daemon`: the sync daemons (none run yet: nothing printed).
    ListDaemons,
    /// `-L -c`: the connection entries (with `--persistent-conn`, the
    /// persistence engine's columns too).
    ListConns { numeric: bool, persistent: bool },
}

/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    pub command: Command,
    /// `--socket PATH`, when given.
    pub socket: Option<String>,
}

/// Why argv was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// ipvsadm's `fail(2, ...)`: the message alone, exit 2.
    Syntax(String),
    /// An option of the grammar rvsadm does not implement yet, as written; exit 2.
    Unsupported(String),
    /// popt could not read an option (unknown, missing argument); exit 255.
    Popt(PoptError),
    /// No command, or argv does not start with one: "Try ..."; exit 255.
    TryHelp,
}

impl ParseError {
    /// The process exit status ipvsadm uses for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            ParseError::Syntax(_) | ParseError::Unsupported(_) => EXIT_SYNTAX,
            ParseError::Popt(_) | ParseError::TryHelp => 255,
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Syntax(message) => f.write_str(message),
            ParseError::Unsupported(option) => write!(f, "rvsadm: {option} is not supported yet"),
            ParseError::Popt(e) => write!(f, "{}: {}", e.word, e.problem),
            ParseError::TryHelp => {
                f.write_str("Try `rvsadm -h' or 'rvsadm --help' for more information.")
            }
        }
    }
}

impl std::error::Error for ParseError {}

/// A refusal with ipvsadm's `fail(2, ...)` text.
pub(super) fn syntax<T>(message: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError::Syntax(message.into()))
}
