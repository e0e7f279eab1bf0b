//! The director's configuration: two dialects (and ldirectord's), one
//! validated [`Model`] (`design.md` decision 7).
//!
//! ```text
//!  keepalived.conf ─ lexer (preprocess, includes) ─ keepalived ─┐
//!  ldirectord.cf ─────────────────────────────────── ldirectord ─┼─ Draft ─ resolve ─ Model ─ requests()
//!  rvs.toml ──────────────────────────────────────────── toml ───┘    (as written)   (validated)
//! ```
//!
//! Contract:
//! - [`load_report`] reads a file and returns a [`Report`]: the model of
//!   the items that load, the warnings, and the error of each item left
//!   out. keepalived.conf loads as keepalived loads it: a bad item (a
//!   virtual_server, a real_server, a checker, a sorry_server, a
//!   vrrp_instance, a vrrp_script, a virtual address, a static address or
//!   route, a group or pool entry, a global_defs keyword, a line the
//!   preprocessor refuses) is left out with its error at FILE:LINE:COL and
//!   the rest loads. A file that cannot be read or split into blocks at all
//!   (unreadable, a missing or extra brace, an unterminated quote, an
//!   include loop or a failed `includem`/`includer`...) is the `Err`: it
//!   loads nothing. ldirectord.cf and TOML stay all or nothing:
//!   [`Report::usable`] is false when they have any error;
//! - nothing that loads carries an unexpanded `$NAME` (keepalived would
//!   leave an undefined parameter as written): it is an error of its item,
//!   except in shell commands, passwords and patterns ([`keepalived`]);
//! - [`load`] / [`parse`] are the all-or-nothing forms: the model and its
//!   warnings, or the first error; none has any other effect;
//! - every error and warning prints as `FILE:LINE:COL: message` (see
//!   [`error`]): files are named as given, included files as their path
//!   joined to the including file's directory;
//! - the dialect comes from the file ([`Dialect::detect`]): a `.toml`
//!   extension is the native TOML; a `.cf` extension, a name starting with
//!   `ldirectord`, or a first directive of the form `key=value` is
//!   ldirectord.cf; anything else is keepalived.conf;
//! - the three dialects resolve through the same code ([`resolve`]), so a
//!   default or a warning is the same whatever the dialect;
//! - [`Model::requests`] gives the admin requests that build the model on
//!   an empty dataplane; [`Model::to_toml`] the native text that reads back
//!   to the same model.

#![forbid(unsafe_code)]

pub mod bgp;
pub mod draft;
pub mod error;
pub mod forms;
pub mod iproute;
pub mod keepalived;
pub mod ldirectord;
pub mod lexer;
pub mod model;
pub mod preprocess;
pub mod resolve;
pub mod toml;

use std::path::Path;
use std::sync::Arc;

pub use error::{ConfigError, Position, Warning};
pub use model::{
    Check, CheckKind, Dest, DnsCheck, DnsType, Global, HealthView, HttpCheck, HttpProtocol,
    LaddrPool, LocalAddress, MiscCheck, Model, Network, Service, SmtpCheck, SorryServer, Ssl,
    StatusRange, UdpCheck, Url, Vrrp, VrrpInstance, VrrpScript, VrrpState,
};

/// A configuration language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// keepalived.conf (`spec/keepalived.md` Part A).
    Keepalived,
    /// ldirectord.cf (Part B).
    Ldirectord,
    /// rvs's own TOML (`configs/rvs.toml`).
    Toml,
}

impl Dialect {
    /// The dialect of `path` whose contents are `text` (see the module
    /// contract).
    pub fn detect(path: &Path, text: &str) -> Dialect {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if ext.eq_ignore_ascii_case("toml") {
            Dialect::Toml
        } else if ext.eq_ignore_ascii_case("cf")
            || name.starts_with("ldirectord")
            || ldirectord::sniff(text)
        {
            Dialect::Ldirectord
        } else {
            Dialect::Keepalived
        }
    }
}

/// What loading a configuration gave.
#[derive(Clone, Debug)]
pub struct Report {
    pub dialect: Dialect,
    /// The items that load.
    pub model: Model,
    pub warnings: Vec<Warning>,
    /// One per item left out, in file order (the reader's, then the
    /// resolver's).
    pub errors: Vec<ConfigError>,
}

impl Report {
    /// Whether the model may be used: always for keepalived.conf (what is
    /// left out is in `errors`), only without errors for the others.
    pub fn usable(&self) -> bool {
        self.dialect == Dialect::Keepalived || self.errors.is_empty()
    }

    /// The all-or-nothing view: the first error, or the model.
    pub fn strict(self) -> Result<(Model, Vec<Warning>), ConfigError> {
        match self.errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok((self.model, self.warnings)),
        }
    }
}

/// How a configuration is read: keepalived's preprocessor's config id.
pub use preprocess::Options;

/// Read the configuration at `path` in the dialect its name and contents
/// say, and validate it, all or nothing.
pub fn load(path: &Path) -> Result<(Model, Vec<Warning>), ConfigError> {
    load_report(path, &Options::default())?.strict()
}

/// [`load`] in a given dialect.
pub fn load_as(path: &Path, dialect: Dialect) -> Result<(Model, Vec<Warning>), ConfigError> {
    let text = read(path)?;
    parse_report(&text, path, dialect, &Options::default())?.strict()
}

/// Read the configuration at `path` item by item (see the module
/// contract).
pub fn load_report(path: &Path, opts: &Options) -> Result<Report, ConfigError> {
    let text = read(path)?;
    parse_report(&text, path, Dialect::detect(path, &text), opts)
}

/// Parse `text` as the contents of `path` (which names it in messages and
/// is where keepalived's relative includes start from), all or nothing.
pub fn parse(
    text: &str,
    path: &Path,
    dialect: Dialect,
) -> Result<(Model, Vec<Warning>), ConfigError> {
    parse_report(text, path, dialect, &Options::default())?.strict()
}

/// [`parse`] item by item.
pub fn parse_report(
    text: &str,
    path: &Path,
    dialect: Dialect,
    opts: &Options,
) -> Result<Report, ConfigError> {
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    let (draft, positions) = match dialect {
        Dialect::Keepalived => {
            keepalived::parse_text(text, path, opts, &mut warnings, &mut errors)?
        }
        Dialect::Ldirectord => ldirectord::parse_text(text, path, &mut warnings)?,
        Dialect::Toml => toml::parse(text, path)?,
    };
    let (model, more, bad) = resolve::resolve_items(&draft, &positions);
    warnings.extend(more);
    errors.extend(bad);
    Ok(Report {
        dialect,
        model,
        warnings,
        errors,
    })
}

fn read(path: &Path) -> Result<String, ConfigError> {
    let file: Arc<Path> = Arc::from(path);
    let bytes = std::fs::read(path)
        .map_err(|e| ConfigError::new(Position::whole(file), format!("cannot read: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
