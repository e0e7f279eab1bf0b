//! ipvsadm's option table and a popt-style tokenizer over argv.
//!
//! Contract:
//! - [`OPTIONS`] lists every option of ipvsadm 1.31 (plus rvs's `--socket` and
//!   `--counters`), its short and long spelling and whether it takes an
//!   argument. Which ones rvsadm implements is the parser's business (it
//!   refuses the others by name).
//! - [`Tokens`] splits argv the way popt does: bundled short options (`-Ln`,
//!   `-Lnc`), a short option's argument glued (`-w5`) or in the next word,
//!   `--name value` and `--name=value`, optional arguments (`-p [timeout]`) taken
//!   from the next word only when it does not start with `-`, `--` ending the
//!   options, and other words returned as positional arguments.
//! - [`Cmd`] and [`Opt`] carry ipvsadm's names (`add-service`, `service-address`)
//!   used in its messages; [`rule`] is ipvsadm's command/option matrix (rvs's
//!   `counters` command takes no option of it).

use rvs_api::Forward;

/// The commands, in ipvsadm's order, named as in its messages; rvs's own
/// commands come last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    AddService,
    EditService,
    DelService,
    Flush,
    List,
    AddServer,
    DelServer,
    EditServer,
    Set,
    StartDaemon,
    StopDaemon,
    Restore,
    Save,
    Zero,
    Help,
    Version,
    /// `--counters`: an rvs extension, the dataplane's packet counters.
    Counters,
}

impl Cmd {
    /// ipvsadm's name of the command, as in "... for the 'add-service' command".
    pub fn name(self) -> &'static str {
        match self {
            Cmd::AddService => "add-service",
            Cmd::EditService => "edit-service",
            Cmd::DelService => "delete-service",
            Cmd::Flush => "flush",
            Cmd::List => "list",
            Cmd::AddServer => "add-server",
            Cmd::DelServer => "delete-server",
            Cmd::EditServer => "edit-server",
            Cmd::Set => "set",
            Cmd::StartDaemon => "start-daemon",
            Cmd::StopDaemon => "stop-daemon",
            Cmd::Restore => "restore",
            Cmd::Save => "save",
            Cmd::Zero => "zero",
            Cmd::Help => "help",
            Cmd::Version => "version",
            Cmd::Counters => "counters",
        }
    }
}

/// The options that count in ipvsadm's command/option matrix, in its order
/// (the order decides which problem is reported first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opt {
    Numeric,
    Connection,
    Service,
    Scheduler,
    Persistent,
    Netmask,
    Server,
    Forward,
    Weight,
    UThreshold,
    LThreshold,
    McastInterface,
    Timeout,
    Daemon,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    NoSort,
    SyncId,
    Exact,
    OnePacket,
    PersistenceEngine,
    SchedFlags,
    McastGroup,
    McastPort,
    McastTtl,
    SyncMaxlen,
    TunInfo,
    TunType,
    TunPort,
    TunNoCsum,
    TunCsum,
    TunRemCsum,
    ProxyProtocol,
    SloppyTcp,
    Synproxy,
}

impl Opt {
    /// Every option, in matrix order.
    pub const ALL: [Opt; 37] = [
        Opt::Numeric,
        Opt::Connection,
        Opt::Service,
        Opt::Scheduler,
        Opt::Persistent,
        Opt::Netmask,
        Opt::Server,
        Opt::Forward,
        Opt::Weight,
        Opt::UThreshold,
        Opt::LThreshold,
        Opt::McastInterface,
        Opt::Timeout,
        Opt::Daemon,
        Opt::Stats,
        Opt::Rate,
        Opt::Thresholds,
        Opt::PersistentConn,
        Opt::NoSort,
        Opt::SyncId,
        Opt::Exact,
        Opt::OnePacket,
        Opt::PersistenceEngine,
        Opt::SchedFlags,
        Opt::McastGroup,
        Opt::McastPort,
        Opt::McastTtl,
        Opt::SyncMaxlen,
        Opt::TunInfo,
        Opt::TunType,
        Opt::TunPort,
        Opt::TunNoCsum,
        Opt::TunCsum,
        Opt::TunRemCsum,
        Opt::ProxyProtocol,
        Opt::SloppyTcp,
        Opt::Synproxy,
    ];

    /// ipvsadm's name of the option, as in "Illegal 'weight' option".
    pub fn name(self) -> &'static str {
        match self {
            Opt::Numeric => "numeric",
            Opt::Connection => "connection",
            Opt::Service => "service-address",
            Opt::Scheduler => "scheduler",
            Opt::Persistent => "persistent",
            Opt::Netmask => "netmask",
            Opt::Server => "real-server",
            Opt::Forward => "forwarding-method",
            Opt::Weight => "weight",
            Opt::UThreshold => "u-threshold",
            Opt::LThreshold => "l-threshold",
            Opt::McastInterface => "mcast-interface",
            Opt::Timeout => "timeout",
            Opt::Daemon => "daemon",
            Opt::Stats => "stats",
            Opt::Rate => "rate",
            Opt::Thresholds => "thresholds",
            Opt::PersistentConn => "persistent-conn",
            Opt::NoSort => "nosort",
            Opt::SyncId => "syncid",
            Opt::Exact => "exact",
            Opt::OnePacket => "ops",
            Opt::PersistenceEngine => "pe",
            Opt::SchedFlags => "sched-flags",
            Opt::McastGroup => "mcast-group",
            Opt::McastPort => "mcast-port",
            Opt::McastTtl => "mcast-ttl",
            Opt::SyncMaxlen => "sync-maxlen",
            Opt::TunInfo => "tun-info",
            Opt::TunType => "tun-type",
            Opt::TunPort => "tun-port",
            Opt::TunNoCsum => "tun-nocsum",
            Opt::TunCsum => "tun-csum",
            Opt::TunRemCsum => "tun-remcsum",
            Opt::ProxyProtocol => "proxy-protocol",
            Opt::SloppyTcp => "sloppy-tcp",
            Opt::Synproxy => "synproxy",
        }
    }

    /// The option's bit in an option set.
    pub fn bit(self) -> u64 {
        1 << (self as u32)
    }
}

/// What the matrix says about an option with a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// `+`: must be given.
    Required,
    /// ` `: may be given.
    Optional,
    /// `1`: at most one of the options so marked.
    Exclusive,
    /// `x`: must not be given.
    Illegal,
}

/// ipvsadm's `commands_v_options` matrix.
pub fn rule(cmd: Cmd, opt: Opt) -> Rule {
    use Opt as O;
    match (cmd, opt) {
        (Cmd::AddService | Cmd::EditService, O::Service) => Rule::Required,
        (
            Cmd::AddService | Cmd::EditService,
            O::Scheduler
            | O::Persistent
            | O::Netmask
            | O::OnePacket
            | O::PersistenceEngine
            | O::SchedFlags
            | O::ProxyProtocol
            | O::SloppyTcp
            | O::Synproxy,
        ) => Rule::Optional,
        (Cmd::DelService, O::Service) => Rule::Required,
        (Cmd::List, O::Connection | O::Service | O::Timeout | O::Daemon) => Rule::Exclusive,
        (
            Cmd::List,
            O::Numeric
            | O::Stats
            | O::Rate
            | O::Thresholds
            | O::PersistentConn
            | O::NoSort
            | O::Exact
            | O::TunInfo,
        ) => Rule::Optional,
        (Cmd::AddServer | Cmd::EditServer | Cmd::DelServer, O::Service | O::Server) => {
            Rule::Required
        }
        (
            Cmd::AddServer | Cmd::EditServer,
            O::Forward
            | O::Weight
            | O::UThreshold
            | O::LThreshold
            | O::TunType
            | O::TunPort
            | O::TunNoCsum
            | O::TunCsum
            | O::TunRemCsum,
        ) => Rule::Optional,
        (
            Cmd::StartDaemon,
            O::McastInterface
            | O::SyncId
            | O::SyncMaxlen
            | O::McastGroup
            | O::McastPort
            | O::McastTtl,
        ) => Rule::Optional,
        (Cmd::StopDaemon, O::SyncId) => Rule::Optional,
        (Cmd::Save, O::Numeric) => Rule::Optional,
        (Cmd::Zero, O::Service) => Rule::Optional,
        // `Cmd::Counters` (rvs's) takes no option: all illegal.
        _ => Rule::Illegal,
    }
}

/// How a virtual service is named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceFlag {
    /// `-t`
    Tcp,
    /// `-u`
    Udp,
    /// `--sctp-service`
    Sctp,
    /// `-f`
    Fwmark,
}

/// What an option does when seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Selects the command.
    Command(Cmd),
    /// Names the virtual service (sets [`Opt::Service`]).
    Service(ServiceFlag),
    /// Selects the forwarding method (sets [`Opt::Forward`]).
    Forward(Forward),
    /// Any other option of the matrix.
    Option(Opt),
    /// `--sort`: accepted, does nothing.
    Sort,
    /// `-6`: the fwmark service is IPv6.
    Ipv6,
    /// `--socket PATH`: rvs's extension, the admin socket to use.
    Socket,
}

/// Whether an option takes an argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    None,
    Required,
    /// Taken only glued (`-p600`, `--persistent=600`) or from a next word
    /// that does not start with `-`.
    Optional,
}

/// One row of the option table.
#[derive(Debug, PartialEq, Eq)]
pub struct OptionSpec {
    pub long: Option<&'static str>,
    pub short: Option<char>,
    pub arg: Arg,
    pub kind: Kind,
}

const fn spec(long: &'static str, short: char, arg: Arg, kind: Kind) -> OptionSpec {
    OptionSpec {
        long: if long.is_empty() { None } else { Some(long) },
        short: if short == '\0' { None } else { Some(short) },
        arg,
        kind,
    }
}

/// Every option rvsadm knows.
pub static OPTIONS: &[OptionSpec] = &[
    spec(
        "add-service",
        'A',
        Arg::None,
        Kind::Command(Cmd::AddService),
    ),
    spec(
        "edit-service",
        'E',
        Arg::None,
        Kind::Command(Cmd::EditService),
    ),
    spec(
        "delete-service",
        'D',
        Arg::None,
        Kind::Command(Cmd::DelService),
    ),
    spec("clear", 'C', Arg::None, Kind::Command(Cmd::Flush)),
    spec("list", 'L', Arg::None, Kind::Command(Cmd::List)),
    spec("", 'l', Arg::None, Kind::Command(Cmd::List)),
    spec("zero", 'Z', Arg::None, Kind::Command(Cmd::Zero)),
    spec("add-server", 'a', Arg::None, Kind::Command(Cmd::AddServer)),
    spec(
        "edit-server",
        'e',
        Arg::None,
        Kind::Command(Cmd::EditServer),
    ),
    spec(
        "delete-server",
        'd',
        Arg::None,
        Kind::Command(Cmd::DelServer),
    ),
    spec("set", '\0', Arg::None, Kind::Command(Cmd::Set)),
    spec("help", 'h', Arg::None, Kind::Command(Cmd::Help)),
    spec("version", 'v', Arg::None, Kind::Command(Cmd::Version)),
    spec("restore", 'R', Arg::None, Kind::Command(Cmd::Restore)),
    spec("save", 'S', Arg::None, Kind::Command(Cmd::Save)),
    spec(
        "start-daemon",
        '\0',
        Arg::Required,
        Kind::Command(Cmd::StartDaemon),
    ),
    spec(
        "stop-daemon",
        '\0',
        Arg::Required,
        Kind::Command(Cmd::StopDaemon),
    ),
    spec(
        "tcp-service",
        't',
        Arg::Required,
        Kind::Service(ServiceFlag::Tcp),
    ),
    spec(
        "udp-service",
        'u',
        Arg::Required,
        Kind::Service(ServiceFlag::Udp),
    ),
    spec(
        "sctp-service",
        '\0',
        Arg::Required,
        Kind::Service(ServiceFlag::Sctp),
    ),
    spec(
        "fwmark-service",
        'f',
        Arg::Required,
        Kind::Service(ServiceFlag::Fwmark),
    ),
    spec(
        "scheduler",
        's',
        Arg::Required,
        Kind::Option(Opt::Scheduler),
    ),
    spec(
        "persistent",
        'p',
        Arg::Optional,
        Kind::Option(Opt::Persistent),
    ),
    spec("netmask", 'M', Arg::Required, Kind::Option(Opt::Netmask)),
    spec("real-server", 'r', Arg::Required, Kind::Option(Opt::Server)),
    spec("masquerading", 'm', Arg::None, Kind::Forward(Forward::Masq)),
    spec("ipip", 'i', Arg::None, Kind::Forward(Forward::Tunnel)),
    spec("gatewaying", 'g', Arg::None, Kind::Forward(Forward::Route)),
    spec("fullnat", '\0', Arg::None, Kind::Forward(Forward::FullNat)),
    spec("weight", 'w', Arg::Required, Kind::Option(Opt::Weight)),
    spec(
        "u-threshold",
        'x',
        Arg::Required,
        Kind::Option(Opt::UThreshold),
    ),
    spec(
        "l-threshold",
        'y',
        Arg::Required,
        Kind::Option(Opt::LThreshold),
    ),
    spec("numeric", 'n', Arg::None, Kind::Option(Opt::Numeric)),
    spec("connection", 'c', Arg::None, Kind::Option(Opt::Connection)),
    spec(
        "mcast-interface",
        '\0',
        Arg::Required,
        Kind::Option(Opt::McastInterface),
    ),
    spec("syncid", '\0', Arg::Required, Kind::Option(Opt::SyncId)),
    spec("timeout", '\0', Arg::None, Kind::Option(Opt::Timeout)),
    spec("daemon", '\0', Arg::None, Kind::Option(Opt::Daemon)),
    spec("stats", '\0', Arg::None, Kind::Option(Opt::Stats)),
    spec("rate", '\0', Arg::None, Kind::Option(Opt::Rate)),
    spec("thresholds", '\0', Arg::None, Kind::Option(Opt::Thresholds)),
    spec(
        "persistent-conn",
        '\0',
        Arg::None,
        Kind::Option(Opt::PersistentConn),
    ),
    spec("nosort", '\0', Arg::None, Kind::Option(Opt::NoSort)),
    spec("sort", '\0', Arg::None, Kind::Sort),
    spec("exact", 'X', Arg::None, Kind::Option(Opt::Exact)),
    spec("ipv6", '6', Arg::None, Kind::Ipv6),
    spec("ops", 'o', Arg::None, Kind::Option(Opt::OnePacket)),
    spec(
        "pe",
        '\0',
        Arg::Required,
        Kind::Option(Opt::PersistenceEngine),
    ),
    spec(
        "sched-flags",
        'b',
        Arg::Required,
        Kind::Option(Opt::SchedFlags),
    ),
    spec(
        "mcast-group",
        '\0',
        Arg::Required,
        Kind::Option(Opt::McastGroup),
    ),
    spec(
        "mcast-port",
        '\0',
        Arg::Required,
        Kind::Option(Opt::McastPort),
    ),
    spec(
        "mcast-ttl",
        '\0',
        Arg::Required,
        Kind::Option(Opt::McastTtl),
    ),
    spec(
        "sync-maxlen",
        '\0',
        Arg::Required,
        Kind::Option(Opt::SyncMaxlen),
    ),
    spec("tun-info", '\0', Arg::None, Kind::Option(Opt::TunInfo)),
    spec("tun-type", '\0', Arg::Required, Kind::Option(Opt::TunType)),
    spec("tun-port", '\0', Arg::Required, Kind::Option(Opt::TunPort)),
    spec("tun-nocsum", '\0', Arg::None, Kind::Option(Opt::TunNoCsum)),
    spec("tun-csum", '\0', Arg::None, Kind::Option(Opt::TunCsum)),
    spec(
        "tun-remcsum",
        '\0',
        Arg::None,
        Kind::Option(Opt::TunRemCsum),
    ),
    spec(
        "proxy-protocol",
        '\0',
        Arg::Required,
        Kind::Option(Opt::ProxyProtocol),
    ),
    spec("sloppy-tcp", '\0', Arg::None, Kind::Option(Opt::SloppyTcp)),
    spec("synproxy", '\0', Arg::None, Kind::Option(Opt::Synproxy)),
    spec("socket", '\0', Arg::Required, Kind::Socket),
    spec("counters", '\0', Arg::None, Kind::Command(Cmd::Counters)),
];

/// One item of argv, as popt hands it out.
#[derive(Debug, PartialEq, Eq)]
pub enum Token {
    /// An option, how the user wrote it (`-n`, `--numeric`), and its argument.
    Option {
        spec: &'static OptionSpec,
        shown: String,
        value: Option<String>,
    },
    /// A word that is not an option.
    Positional(String),
}

/// What popt could not make sense of; shown as `"<word>: <problem>"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoptError {
    /// The word as given.
    pub word: String,
    /// popt's text for the problem.
    pub problem: &'static str,
}

/// A popt-style iterator over argv (without the program name).
#[derive(Debug)]
pub struct Tokens<'a> {
    args: &'a [String],
    next: usize,
    /// A bundle of short options being taken apart: the word, and where in
    /// it the options not taken yet start (an offset, not a copy of the
    /// rest: copying the rest for each option made a long bundle cost its
    /// length squared, which the fuzzer found).
    bundle: Option<(String, usize)>,
    /// After `--`, everything is positional.
    options_done: bool,
}

impl<'a> Tokens<'a> {
    pub fn new(args: &'a [String]) -> Self {
        Tokens {
            args,
            next: 0,
            bundle: None,
            options_done: false,
        }
    }

    fn next_word(&mut self) -> Option<String> {
        let word = self.args.get(self.next)?.clone();
        self.next += 1;
        Some(word)
    }

    /// The argument of `spec`: `glued` if any, else from the next word.
    fn argument(
        &mut self,
        spec: &'static OptionSpec,
        glued: Option<String>,
        word: &str,
    ) -> Result<Option<String>, PoptError> {
        match (spec.arg, glued) {
            (Arg::None, None) => Ok(None),
            (Arg::None, Some(_)) => Err(PoptError {
                word: word.to_string(),
                problem: "option does not take an argument",
            }),
            (_, Some(value)) => Ok(Some(value)),
            (Arg::Required, None) => match self.next_word() {
                Some(value) => Ok(Some(value)),
                None => Err(PoptError {
                    word: word.to_string(),
                    problem: "missing argument",
                }),
            },
            (Arg::Optional, None) => match self.args.get(self.next) {
                Some(next) if !next.starts_with('-') => Ok(self.next_word()),
                _ => Ok(None),
            },
        }
    }

    /// The short option at byte `at` of `word`, and its argument.
    fn short(&mut self, word: String, at: usize) -> Result<Token, PoptError> {
        let Some(c) = word[at..].chars().next() else {
            return Err(PoptError {
                word,
                problem: "unknown option",
            });
        };
        let tail_at = at + c.len_utf8();
        let Some(spec) = OPTIONS.iter().find(|s| s.short == Some(c)) else {
            return Err(PoptError {
                word,
                problem: "unknown option",
            });
        };
        let shown = format!("-{c}");
        let value = if spec.arg == Arg::None {
            if tail_at < word.len() {
                self.bundle = Some((word, tail_at));
            }
            None
        } else {
            let glued = (tail_at < word.len()).then(|| word[tail_at..].to_string());
            self.argument(spec, glued, &word)?
        };
        Ok(Token::Option { spec, shown, value })
    }
}

impl Iterator for Tokens<'_> {
    type Item = Result<Token, PoptError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some((word, at)) = self.bundle.take() {
            return Some(self.short(word, at));
        }
        let word = self.next_word()?;
        if self.options_done || word == "-" || !word.starts_with('-') {
            return Some(Ok(Token::Positional(word)));
        }
        if word == "--" {
            self.options_done = true;
            return self.next();
        }
        if let Some(long) = word.strip_prefix("--") {
            let (name, glued) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (long, None),
            };
            let Some(spec) = OPTIONS.iter().find(|s| s.long == Some(name)) else {
                return Some(Err(PoptError {
                    word,
                    problem: "unknown option",
                }));
            };
            let shown = format!("--{name}");
            return Some(
                self.argument(spec, glued, &word)
                    .map(|value| Token::Option { spec, shown, value }),
            );
        }
        Some(self.short(word, 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    /// The tokens of `line` as `shown[=value]` / `'positional'` strings.
    fn tokens(line: &str) -> Vec<String> {
        let args = words(line);
        Tokens::new(&args)
            .map(|t| match t {
                Ok(Token::Option {
                    shown,
                    value: Some(v),
                    ..
                }) => format!("{shown}={v}"),
                Ok(Token::Option {
                    shown, value: None, ..
                }) => shown,
                Ok(Token::Positional(p)) => format!("'{p}'"),
                Err(e) => format!("{}: {}", e.word, e.problem),
            })
            .collect()
    }

    #[test]
    fn bundles_and_arguments() {
        assert_eq!(tokens("-Ln"), ["-L", "-n"]);
        assert_eq!(tokens("-Lnc"), ["-L", "-n", "-c"]);
        assert_eq!(tokens("-At 1.2.3.4:80"), ["-A", "-t=1.2.3.4:80"]);
        assert_eq!(tokens("-w5 -w 6"), ["-w=5", "-w=6"]);
        assert_eq!(tokens("-tn 1.2.3.4"), ["-t=n", "'1.2.3.4'"]);
        assert_eq!(
            tokens("--weight 5 --weight=6"),
            ["--weight=5", "--weight=6"]
        );
        assert_eq!(tokens("-l"), ["-l"]);
    }

    /// A bundle of 50 000 flags is 50 000 tokens (the fuzzer's 23 KB
    /// `-666…` took seconds when each flag copied the rest of the bundle;
    /// `fuzz/corpus/rvsadm/long-bundle` keeps that input).
    #[test]
    fn a_long_bundle_is_taken_apart_flag_by_flag() {
        let word = format!("-{}", "6".repeat(50_000));
        let t = tokens(&word);
        assert_eq!(t.len(), 50_000);
        assert!(t.iter().all(|s| s == "-6"));
        // An unknown flag inside a bundle names the whole word, as before.
        assert_eq!(tokens("-6n!"), ["-6", "-n", "-6n!: unknown option"]);
    }

    #[test]
    fn optional_argument_of_persistent() {
        assert_eq!(tokens("-p 600 -s rr"), ["-p=600", "-s=rr"]);
        assert_eq!(tokens("-p -s rr"), ["-p", "-s=rr"]);
        assert_eq!(tokens("-p"), ["-p"]);
        assert_eq!(tokens("-p600"), ["-p=600"]);
        assert_eq!(tokens("--persistent=600"), ["--persistent=600"]);
        assert_eq!(tokens("--persistent 600"), ["--persistent=600"]);
    }

    #[test]
    fn positionals_and_double_dash() {
        assert_eq!(tokens("foo -L - -- -n"), ["'foo'", "-L", "'-'", "'-n'"]);
    }

    #[test]
    fn popt_errors() {
        assert_eq!(tokens("-L -q"), ["-L", "-q: unknown option"]);
        assert_eq!(tokens("--bogus"), ["--bogus: unknown option"]);
        assert_eq!(tokens("-A -t"), ["-A", "-t: missing argument"]);
        assert_eq!(
            tokens("--clear=1"),
            ["--clear=1: option does not take an argument"]
        );
    }

    #[test]
    fn table_is_consistent() {
        for (i, a) in OPTIONS.iter().enumerate() {
            assert!(a.long.is_some() || a.short.is_some());
            for b in &OPTIONS[i + 1..] {
                assert!(a.short.is_none() || a.short != b.short, "{a:?}");
                assert!(a.long.is_none() || a.long != b.long, "{a:?}");
            }
        }
        for (i, opt) in Opt::ALL.iter().enumerate() {
            assert_eq!(*opt as usize, i);
        }
    }
}
