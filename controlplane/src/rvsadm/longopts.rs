//! Command lines of long options only (`--NAME`, `--NAME VALUE`,
//! `--NAME=VALUE`): the grammar of rvs's own commands beside ipvsadm's,
//! the classifier's ([`super::marks`]) and the defence settings'
//! ([`super::defense`]). A word that is no long option is a syntax error;
//! a missing value or an unknown option is popt's `WORD: problem`.

use super::command::{syntax, ParseError};
use super::options::PoptError;

/// The long option of `word`: its name and a glued `=value`.
fn long(word: &str) -> Option<(&str, Option<&str>)> {
    let rest = word.strip_prefix("--")?;
    Some(match rest.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (rest, None),
    })
}

/// Whether argv holds one of `commands` (as `--NAME`, before any `--`).
pub(super) fn holds_command(args: &[String], commands: &[&str]) -> bool {
    args.iter()
        .take_while(|w| w.as_str() != "--")
        .filter_map(|w| long(w))
        .any(|(name, _)| commands.contains(&name))
}

/// One option of the command line.
pub(super) struct Opt<'a> {
    /// The word as given.
    word: &'a str,
    /// Its name, without `--` and a glued value.
    pub name: &'a str,
    /// The value glued to it with `=`.
    pub glued: Option<&'a str>,
}

impl Opt<'_> {
    /// popt's error for this word.
    pub fn popt(&self, problem: &'static str) -> ParseError {
        ParseError::Popt(PoptError {
            word: self.word.to_string(),
            problem,
        })
    }
}

/// argv (without the program name), one option at a time.
pub(super) struct Words<'a> {
    words: std::slice::Iter<'a, String>,
}

impl<'a> Words<'a> {
    pub fn new(args: &'a [String]) -> Self {
        Words { words: args.iter() }
    }

    /// The next option, if any.
    pub fn next_opt(&mut self) -> Result<Option<Opt<'a>>, ParseError> {
        let Some(word) = self.words.next() else {
            return Ok(None);
        };
        let Some((name, glued)) = long(word) else {
            return syntax(format!("unexpected argument {word}"));
        };
        Ok(Some(Opt { word, name, glued }))
    }

    /// The value of `opt`: glued to it, or the next word.
    pub fn value(&mut self, opt: &Opt) -> Result<String, ParseError> {
        match opt.glued {
            Some(v) => Ok(v.to_string()),
            None => self
                .words
                .next()
                .cloned()
                .ok_or_else(|| opt.popt("missing argument")),
        }
    }
}
