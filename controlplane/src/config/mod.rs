//! The director's configuration: two dialects (and ldirectord's), one
//! validated [`Model`] (`design.md` decision 7).
//!
//! ```text
//!  keepalived.conf ─ lexer (includes) ─ keepalived ─┐
//!  ldirectord.cf ─────────────────────── ldirectord ─┼─ Draft ─ resolve ─ Model ─ requests()
//!  rvs.toml ──────────────────────────────── toml ───┘    (as written)   (validated)
//! ```
//!
//! Contract:
//! - [`load`] reads a file and returns the model and its warnings, or the
//!   first error; it has no other effect, so a bad file changes nothing;
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

pub mod draft;
pub mod error;
pub mod forms;
pub mod keepalived;
pub mod ldirectord;
pub mod lexer;
pub mod model;
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

/// Read the configuration at `path` in the dialect its name and contents
/// say, and validate it.
pub fn load(path: &Path) -> Result<(Model, Vec<Warning>), ConfigError> {
    let text = read(path)?;
    parse(&text, path, Dialect::detect(path, &text))
}

/// [`load`] in a given dialect.
pub fn load_as(path: &Path, dialect: Dialect) -> Result<(Model, Vec<Warning>), ConfigError> {
    let text = read(path)?;
    parse(&text, path, dialect)
}

/// Parse `text` as the contents of `path` (which names it in messages and
/// is where keepalived's relative includes start from).
pub fn parse(
    text: &str,
    path: &Path,
    dialect: Dialect,
) -> Result<(Model, Vec<Warning>), ConfigError> {
    let mut warnings = Vec::new();
    let (draft, positions) = match dialect {
        Dialect::Keepalived => keepalived::parse_text(text, path, &mut warnings)?,
        Dialect::Ldirectord => ldirectord::parse_text(text, path, &mut warnings)?,
        Dialect::Toml => toml::parse(text, path)?,
    };
    let (model, more) = resolve::resolve(&draft, &positions)?;
    warnings.extend(more);
    Ok((model, warnings))
}

fn read(path: &Path) -> Result<String, ConfigError> {
    let file: Arc<Path> = Arc::from(path);
    let bytes = std::fs::read(path)
        .map_err(|e| ConfigError::new(Position::whole(file), format!("cannot read: {e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
