//! The reading context ([`Cx`]) and the readers every section shares: a keyword's block, value, number,
//! timer, boolean, address, and the `$NAME` check.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use crate::config::draft::{CheckKindName, Draft, Positions};
use crate::config::error::{ConfigError, Warning};
use crate::config::forms::parse_timer;
use crate::config::lexer::{Node, Word};
use crate::config::preprocess;

/// The reading of one file: the draft so far, its positions, and where
/// warnings and the errors of the items left out go.
pub(super) struct Cx<'w> {
    pub(super) draft: Draft,
    pub(super) pos: Positions,
    pub(super) warnings: &'w mut Vec<Warning>,
    /// The errors of the items left out.
    pub(super) errors: &'w mut Vec<ConfigError>,
}

pub(super) fn err(w: &Word, message: impl Into<String>) -> ConfigError {
    ConfigError::new(w.pos.clone(), message)
}

/// Keywords whose words are a shell command (or a secret, a pattern):
/// a `$NAME` there is the shell's (or plain text), as keepalived leaves
/// an undefined parameter as written.
pub(super) const VERBATIM: &[&str] = &[
    "script",
    "misc_path",
    "notify",
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify_deleted",
    "notify_master_rx_lower_pri",
    "notify_up",
    "notify_down",
    "quorum_up",
    "quorum_down",
    "startup_script",
    "shutdown_script",
    "notify_fifo_script",
    "vrrp_notify_fifo_script",
    "lvs_notify_fifo_script",
    "auth_pass",
    "password",
    "regex",
    "path",
];

/// Items inside a block that are checked by their own handler, so that an
/// error there loses only them.
pub(super) const SUB_ITEMS: &[&str] = &["real_server", "url"];

/// An error if `n`'s keyword or arguments carry a `$NAME` the preprocessor
/// left as written: an undefined parameter (or one not followed by a
/// blank: `${NAME}` is needed then). keepalived would use the text as it
/// is (an interface literally named `$IF`); rvs refuses it.
pub(super) fn expanded(n: &Node) -> Result<(), ConfigError> {
    let verbatim = VERBATIM.contains(&n.key.text.as_str());
    let words = std::iter::once(&n.key).chain(n.args.iter().filter(|_| !verbatim));
    for w in words {
        if let Some((_, name)) = preprocess::unexpanded(&w.text) {
            return Err(ConfigError::new(
                w.dollar.clone().unwrap_or_else(|| w.pos.clone()),
                format!(
                    "'{}': parameter ${name} is not defined (keepalived would use the text as written): \
                     define it with ${name}=VALUE, or write ${{{name}}} when text follows it",
                    w.text
                ),
            ));
        }
    }
    Ok(())
}

pub(super) fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Some(true),
        "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

impl Cx<'_> {
    pub(super) fn warn(&mut self, w: &Word, message: impl Into<String>) {
        self.warnings.push(Warning::new(w.pos.clone(), message));
    }

    pub(super) fn unknown(&mut self, n: &Node) {
        let m = if n.block.is_some() {
            format!("Unknown keyword '{}' - skipping its block", n.key.text)
        } else {
            format!("Unknown keyword '{}'", n.key.text)
        };
        self.warn(&n.key, m);
    }

    pub(super) fn unsupported(&mut self, n: &Node) {
        let m = format!(
            "Keyword '{}' is not supported by rvs - ignoring",
            n.key.text
        );
        self.warn(&n.key, m);
    }

    /// A keyword its block does not act on: "not supported" when it is one
    /// of `keepalived_knows`, else "unknown". Returns false (not a keyword
    /// of the block: [`Cx::after`]'s `known`).
    pub(super) fn not_ours(&mut self, n: &Node, keepalived_knows: &[&str]) -> bool {
        if keepalived_knows.contains(&n.key.text.as_str()) {
            self.unsupported(n);
        } else {
            self.unknown(n);
        }
        false
    }

    pub(super) fn deprecated(&mut self, n: &Node, instead: &str) {
        let m = format!("{} is deprecated - please use '{instead}'", n.key.text);
        self.warn(&n.key, m);
    }

    /// `n`'s block, or an error if it has none or if one of its lines
    /// carries an unexpanded `$NAME` (then the item that owns the block is
    /// left out). Sub-items (`real_server`, checkers) are checked on their
    /// own, by their handler.
    pub(super) fn block<'n>(&self, n: &'n Node) -> Result<&'n [Node], ConfigError> {
        match &n.block {
            Some(b) => {
                for line in &b.nodes {
                    if !SUB_ITEMS.contains(&line.key.text.as_str())
                        && CheckKindName::from_keyword(&line.key.text).is_none()
                    {
                        expanded(line)?;
                    }
                }
                Ok(&b.nodes)
            }
            None => Err(err(
                &n.key,
                format!("'{}' needs a block: missing '{{'", n.key.text),
            )),
        }
    }

    /// `n`'s block, or an error if it has none; its lines are items of
    /// their own, each checked for `$NAME` by the caller ([`expanded`]).
    pub(super) fn lines<'n>(&self, n: &'n Node) -> Result<&'n [Node], ConfigError> {
        match &n.block {
            Some(b) => Ok(&b.nodes),
            None => Err(err(
                &n.key,
                format!("'{}' needs a block: missing '{{'", n.key.text),
            )),
        }
    }

    /// An error if `n` has a block it cannot have.
    pub(super) fn no_block(&self, n: &Node) -> Result<(), ConfigError> {
        match &n.block {
            Some(b) => Err(ConfigError::new(
                b.open.clone(),
                format!("unexpected '{{': '{}' takes no block", n.key.text),
            )),
            None => Ok(()),
        }
    }

    /// After `n` was handled as a keyword of its block: an error if it
    /// carries a block and is not one of `blocks` (an unknown keyword's
    /// block was skipped, `known` is false then).
    pub(super) fn after(&self, n: &Node, known: bool, blocks: &[&str]) -> Result<(), ConfigError> {
        if known && !blocks.contains(&n.key.text.as_str()) {
            self.no_block(n)
        } else {
            Ok(())
        }
    }

    /// The single value of `n`, warning (and `None`) when there is none;
    /// extra words are warned about and ignored.
    pub(super) fn value<'n>(&mut self, n: &'n Node) -> Option<&'n Word> {
        match n.args.as_slice() {
            [] => {
                let m = format!("'{}' needs a value - ignoring", n.key.text);
                self.warn(&n.key, m);
                None
            }
            [v] => Some(v),
            [v, extra, ..] => {
                let m = format!("'{}': extra argument '{}' ignored", n.key.text, extra.text);
                self.warn(extra, m);
                Some(v)
            }
        }
    }

    /// The value as a string, all words joined (for `script`-like keywords
    /// keepalived takes the rest of the line).
    pub(super) fn text(&mut self, n: &Node) -> Option<String> {
        if n.args.is_empty() {
            let m = format!("'{}' needs a value - ignoring", n.key.text);
            self.warn(&n.key, m);
            return None;
        }
        Some(
            n.args
                .iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        )
    }

    /// A script keyword's command (`notify_master "<cmd>" [USER [GROUP]]`):
    /// the first word; running it as another user is not supported.
    pub(super) fn command(&mut self, n: &Node) -> Option<String> {
        let cmd = match n.args.first() {
            Some(w) => w.text.clone(),
            None => {
                let m = format!("'{}' needs a value - ignoring", n.key.text);
                self.warn(&n.key, m);
                return None;
            }
        };
        if let Some(user) = n.args.get(1) {
            let m = format!(
                "{}: running the script as '{}' is not supported by rvs - ignoring the user",
                n.key.text, user.text
            );
            self.warn(user, m);
        }
        Some(cmd)
    }

    /// A number `min..=max`, else a warning and `None`.
    pub(super) fn number<T>(&mut self, n: &Node, min: T, max: T) -> Option<T>
    where
        T: FromStr + PartialOrd + Copy + std::fmt::Display,
    {
        let v = self.value(n)?;
        match v.text.parse::<T>() {
            Ok(x) if x >= min && x <= max => Some(x),
            _ => {
                let m = format!(
                    "{} '{}' is outside range {min}..{max} - ignoring",
                    n.key.text, v.text
                );
                self.warn(v, m);
                None
            }
        }
    }

    pub(super) fn timer(&mut self, n: &Node) -> Option<Duration> {
        let v = self.value(n)?;
        match parse_timer(&v.text) {
            Some(d) => Some(d),
            None => {
                let m = format!(
                    "{} '{}' is not a number of seconds - ignoring",
                    n.key.text, v.text
                );
                self.warn(v, m);
                None
            }
        }
    }

    /// `<BOOL>`; no value is true.
    pub(super) fn boolean(&mut self, n: &Node) -> Option<bool> {
        let Some(v) = n.args.first() else {
            return Some(true);
        };
        match parse_bool(&v.text) {
            Some(b) => Some(b),
            None => {
                let m = format!("{} '{}' is not a boolean - ignoring", n.key.text, v.text);
                self.warn(v, m);
                None
            }
        }
    }

    pub(super) fn ip(&mut self, n: &Node) -> Option<IpAddr> {
        let v = self.value(n)?;
        match v.text.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                let m = format!(
                    "{} '{}' is not an IP address - ignoring",
                    n.key.text, v.text
                );
                self.warn(v, m);
                None
            }
        }
    }

    /// The name after a block keyword (`vrrp_instance VI_1`).
    pub(super) fn name(&self, n: &Node) -> Result<String, ConfigError> {
        n.args
            .first()
            .map(|w| w.text.clone())
            .ok_or_else(|| err(&n.key, format!("'{}' needs a name", n.key.text)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::parse_bool;

    #[test]
    fn booleans_as_keepalived_spells_them() {
        for (text, b) in [
            ("on", true),
            ("Yes", true),
            ("TRUE", true),
            ("off", false),
            ("no", false),
            ("False", false),
        ] {
            assert_eq!(parse_bool(text), Some(b), "{text}");
        }
        assert_eq!(parse_bool("maybe"), None);
    }

    #[test]
    fn a_missing_or_extra_value_warns_and_the_keyword_is_ignored() {
        let (m, w) = parse_ok("global_defs {\n router_id\n}\n");
        assert_eq!(m.global.router_id, None);
        assert_eq!(
            messages(&w),
            ["/nonexistent/test.conf:2:2: 'router_id' needs a value - ignoring"]
        );
        let (m, w) = parse_ok("global_defs {\n router_id LB1 LB2\n}\n");
        assert_eq!(m.global.router_id.as_deref(), Some("LB1"));
        assert_eq!(
            messages(&w),
            ["/nonexistent/test.conf:2:16: 'router_id': extra argument 'LB2' ignored"]
        );
    }

    #[test]
    fn an_undefined_parameter_is_an_error_except_in_a_command() {
        let e = parse("global_defs {\n router_id $RID\n}\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/nonexistent/test.conf:2:12: '$RID': parameter $RID is not defined"),
            "{e}"
        );
        let (m, _) = parse_ok("vrrp_script chk {\n script \"/bin/check $HOME\"\n}\n");
        assert_eq!(m.vrrp.scripts[0].script, "/bin/check $HOME");
    }
}
