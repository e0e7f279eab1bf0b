//! keepalived's configuration preprocessor (keepalived.conf(5), "ADVANCED
//! CONFIGURATION"): what happens to a line before it is split into words.
//!
//! Contract, keepalived's behaviour unless noted:
//! - comments: `#` and `!` start a comment outside quotes; `\#` and `\!`
//!   outside quotes are a literal `#` and `!`;
//! - `@ID rest` keeps `rest` only when ID is the config id ([`Options`],
//!   keepalived's `-i`, default the host name up to its first dot);
//!   `@^ID rest` only when it is not;
//! - `$NAME=VALUE` (no space before `=`) defines a parameter; a value ending
//!   in `\` continues on the next lines (a multi-line definition), up to a
//!   line without `\` or an empty line; redefining replaces;
//! - `$NAME` followed by a space, tab, `,`, `)` or the end of the line, and
//!   `${NAME}` anywhere, are replaced by the value, recursively, at the
//!   time of use; a multi-line definition only expands at the end of a
//!   line, its other lines following as lines of their own; an undefined
//!   parameter is left as written (and [`unexpanded`] finds it so that the
//!   caller can refuse it where a literal `$NAME` makes no sense);
//! - the built-ins `${_PWD}` (the directory of the file being read),
//!   `${_INSTANCE}` (the config id), `${_RANDOM [MIN [MAX]]}`,
//!   `${_ENV NAME}`, `${_HASH}` (`#`) and `${_BANG}` (`!`); a definition of
//!   the same name overrides them;
//! - `~SEQ(VAR, [START,] [STEP,] END) rest` repeats `rest` with `$VAR` set
//!   to each value (`~SEQx`: in hexadecimal); several on a line nest;
//! - **decision** (keepalived only continues definitions): any other line
//!   ending in `\` continues on the next line, joined with a space;
//! - a definition under a false `@ID` is skipped with all its lines
//!   (keepalived would read its continuation lines as configuration);
//! - limits: a line expands to at most [`LINE_MAX`] characters and
//!   [`DEPTH_MAX`] nested expansions, a configuration to [`LINES_MAX`]
//!   lines; past them the line is an error and left out, as a bad `~SEQ`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{ConfigError, Position};

/// The longest line an expansion may give, in characters.
pub const LINE_MAX: usize = 64 * 1024;
/// How deep expansions (multi-line parameters, `~SEQ`) may nest.
pub const DEPTH_MAX: usize = 64;
/// How many lines a configuration may expand to.
pub const LINES_MAX: usize = 4_000_000;

/// What the preprocessor needs from outside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// keepalived's config id (`-i`, `--config-id`).
    pub config_id: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config_id: default_config_id(),
        }
    }
}

/// keepalived's default config id: the host name up to its first dot.
pub fn default_config_id() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    name.split('.').next().unwrap_or("").to_string()
}

/// A character of a line and where it was written. `lit` marks a `#` or
/// `!` that is not a comment (escaped, or from `${_HASH}`/`${_BANG}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ch {
    pub c: char,
    pub line: u32,
    pub col: u32,
    pub lit: bool,
}

/// A logical line, ready to be split into words.
#[derive(Clone, Debug)]
pub struct Line {
    pub file: Arc<Path>,
    pub chars: Vec<Ch>,
}

impl Line {
    pub fn text(&self) -> String {
        self.chars.iter().map(|c| c.c).collect()
    }

    /// The position of character `i` (the line's first if past the end).
    pub fn pos(&self, i: usize) -> Position {
        match self.chars.get(i).or(self.chars.first()) {
            Some(c) => Position::new(self.file.clone(), c.line, c.col),
            None => Position::whole(self.file.clone()),
        }
    }
}

#[derive(Clone, Debug)]
enum Def {
    One(Vec<Ch>),
    /// The lines of a multi-line definition, blank ones left out.
    Multi(Vec<Line>),
}

/// A multi-line definition being read.
struct Pending {
    name: String,
    keep: bool,
    lines: Vec<Line>,
}

/// The preprocessor's state through one configuration (its includes too:
/// definitions are global, as keepalived's).
pub struct Pre {
    opts: Options,
    defs: HashMap<String, Def>,
    multi: Option<Pending>,
    /// A line ending in `\`, waiting for the next.
    cont: Option<Line>,
    emitted: usize,
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Comments off, escapes of `#`/`!` made literal, blanks trimmed; whether
/// the line ended in a continuation `\`.
fn decomment(raw: &str, line: u32) -> (Vec<Ch>, bool) {
    let chars: Vec<char> = raw.chars().collect();
    let mut out = Vec::with_capacity(chars.len());
    let mut quote: Option<char> = None;
    let mut cont = false;
    let mut i = 0;
    let at = |i: usize| u32::try_from(i + 1).unwrap_or(u32::MAX);
    while i < chars.len() {
        let c = chars[i];
        let ch = |c: char, lit: bool| Ch {
            c,
            line,
            col: at(i),
            lit,
        };
        match quote {
            Some(q) => {
                if c == '\\' && i + 1 < chars.len() {
                    out.push(ch(c, false));
                    out.push(Ch {
                        c: chars[i + 1],
                        line,
                        col: at(i + 1),
                        lit: true,
                    });
                    i += 2;
                    continue;
                }
                if c == q {
                    quote = None;
                }
                out.push(ch(c, false));
            }
            None => {
                if c == '\\' {
                    match chars.get(i + 1) {
                        Some(&n @ ('#' | '!')) => {
                            out.push(Ch {
                                c: n,
                                line,
                                col: at(i + 1),
                                lit: true,
                            });
                            i += 2;
                            continue;
                        }
                        None => {
                            cont = true;
                            break;
                        }
                        Some(_) => {}
                    }
                } else if c == '"' || c == '\'' {
                    quote = Some(c);
                } else if c == '#' || c == '!' {
                    break;
                }
                out.push(ch(c, false));
            }
        }
        i += 1;
    }
    let start = out
        .iter()
        .position(|c| !(c.c == ' ' || c.c == '\t') || c.lit)
        .unwrap_or(out.len());
    let end = out
        .iter()
        .rposition(|c| !(c.c == ' ' || c.c == '\t') || c.lit)
        .map_or(start, |e| e + 1);
    (out[start..end.max(start)].to_vec(), cont)
}

fn trim_start(chars: &[Ch]) -> &[Ch] {
    let n = chars
        .iter()
        .take_while(|c| c.c == ' ' || c.c == '\t')
        .count();
    &chars[n..]
}

/// The definition `$NAME=VALUE` at the start of `chars`: name and value.
fn definition(chars: &[Ch]) -> Option<(String, &[Ch])> {
    if chars.first()?.c != '$' || !is_name_start(chars.get(1)?.c) {
        return None;
    }
    let mut i = 1;
    while i < chars.len() && is_name(chars[i].c) {
        i += 1;
    }
    if chars.get(i)?.c != '=' {
        return None;
    }
    let name: String = chars[1..i].iter().map(|c| c.c).collect();
    Some((name, trim_start(&chars[i + 1..])))
}

/// `@ID` / `@^ID` at the start of `chars`: whether the rest is kept (for
/// `config_id`), and the rest. A line of `@ID` alone is dropped.
fn condition<'c>(chars: &'c [Ch], config_id: &str) -> (bool, &'c [Ch]) {
    let (neg, start) = if chars.get(1).is_some_and(|c| c.c == '^') {
        (true, 2)
    } else {
        (false, 1)
    };
    let Some(end) = chars[start..]
        .iter()
        .position(|c| c.c == ' ' || c.c == '\t')
        .map(|e| e + start)
    else {
        return (false, &[]);
    };
    let id: String = chars[start..end].iter().map(|c| c.c).collect();
    ((id == config_id) != neg, trim_start(&chars[end..]))
}

/// A reference at `chars[i]` (a `$`): the name, its parameters (braced
/// form only) and the index past it.
fn reference(chars: &[Ch], i: usize) -> Option<(String, Vec<String>, usize)> {
    let braced = chars.get(i + 1)?.c == '{';
    let start = if braced { i + 2 } else { i + 1 };
    if !is_name_start(chars.get(start)?.c) {
        return None;
    }
    let mut j = start;
    while j < chars.len() && is_name(chars[j].c) {
        j += 1;
    }
    let name: String = chars[start..j].iter().map(|c| c.c).collect();
    if !braced {
        return match chars.get(j).map(|c| c.c) {
            None | Some(' ' | '\t' | ',' | ')') => Some((name, Vec::new(), j)),
            _ => None,
        };
    }
    // `${NAME [P1 [P2]]}`: no blank before the `}`.
    let mut params = Vec::new();
    let mut k = j;
    loop {
        let c = chars.get(k)?.c;
        if c == '}' {
            if k > j && (chars[k - 1].c == ' ' || chars[k - 1].c == '\t') {
                return None;
            }
            return Some((name, params, k + 1));
        }
        if c == ' ' || c == '\t' {
            k += 1;
            continue;
        }
        if !is_name(c) || k == j {
            return None;
        }
        let p0 = k;
        while k < chars.len() && is_name(chars[k].c) {
            k += 1;
        }
        params.push(chars[p0..k].iter().map(|c| c.c).collect());
    }
}

/// The first `$NAME` or `${NAME}` of `text` that a literal reading would
/// carry: a `$` followed by a name or `{` and a name. Its byte offset and
/// name.
pub fn unexpanded(text: &str) -> Option<(usize, String)> {
    let b = text.as_bytes();
    for (i, _) in text.match_indices('$') {
        let start = if b.get(i + 1) == Some(&b'{') {
            i + 2
        } else {
            i + 1
        };
        if b.get(start)
            .is_some_and(|&c| c.is_ascii_alphabetic() || c == b'_')
        {
            let end = b[start..]
                .iter()
                .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_'))
                .map_or(b.len(), |e| e + start);
            return Some((i, text[start..end].to_string()));
        }
    }
    None
}

/// `strtol(s, _, 0)`-like: sign, `0x` hex, leading-0 octal, decimal.
fn number(s: &str) -> Option<i64> {
    let s = s.trim();
    let (neg, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()?
    } else if s.len() > 1 && s.starts_with('0') {
        i64::from_str_radix(&s[1..], 8).ok()?
    } else {
        s.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

impl Pre {
    pub fn new(opts: &Options) -> Pre {
        Pre {
            opts: opts.clone(),
            defs: HashMap::new(),
            multi: None,
            cont: None,
            emitted: 0,
        }
    }

    /// Physical line `line_no` of `file` (its text `raw`): the logical
    /// lines it completes go to `out`, the lines left out to `errors`.
    pub fn physical(
        &mut self,
        raw: &str,
        file: &Arc<Path>,
        line_no: u32,
        out: &mut Vec<Line>,
        errors: &mut Vec<ConfigError>,
    ) {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if self.multi.is_some() {
            if raw.is_empty() {
                self.end_definition();
                return;
            }
            let (chars, cont) = decomment(raw, line_no);
            if chars.is_empty() && !cont {
                // Blanks or a comment: skipped, the definition goes on.
                return;
            }
            if let Some(m) = &mut self.multi {
                if !chars.is_empty() {
                    m.lines.push(Line {
                        file: file.clone(),
                        chars,
                    });
                }
            }
            if !cont {
                self.end_definition();
            }
            return;
        }
        let (mut chars, cont) = decomment(raw, line_no);
        if let Some(mut before) = self.cont.take() {
            if !chars.is_empty() {
                if let Some(last) = before.chars.last().copied() {
                    before.chars.push(Ch {
                        c: ' ',
                        lit: false,
                        ..last
                    });
                }
                before.chars.append(&mut chars);
            }
            chars = before.chars;
        }
        if chars.is_empty() && !cont {
            return;
        }
        let line = Line {
            file: file.clone(),
            chars,
        };
        if cont {
            // A definition continued: a multi-line definition; anything
            // else waits for the rest of its line.
            let (keep, rest) = if line.chars.first().is_some_and(|c| c.c == '@') {
                condition(&line.chars, &self.opts.config_id)
            } else {
                (true, line.chars.as_slice())
            };
            if let Some((name, value)) = definition(rest) {
                let first = value.to_vec();
                let mut lines = Vec::new();
                if !first.is_empty() {
                    lines.push(Line {
                        file: file.clone(),
                        chars: first,
                    });
                }
                self.multi = Some(Pending { name, keep, lines });
            } else {
                self.cont = Some(line);
            }
            return;
        }
        if let Err(e) = self.process(line, 0, out) {
            errors.push(e);
        }
    }

    /// The end of a file: a line still waiting for its continuation ends.
    pub fn end_of_file(&mut self, out: &mut Vec<Line>, errors: &mut Vec<ConfigError>) {
        if self.multi.is_some() {
            self.end_definition();
        }
        if let Some(line) = self.cont.take() {
            if let Err(e) = self.process(line, 0, out) {
                errors.push(e);
            }
        }
    }

    fn end_definition(&mut self) {
        if let Some(m) = self.multi.take() {
            if m.keep {
                let def = if m.lines.is_empty() {
                    Def::One(Vec::new())
                } else {
                    Def::Multi(m.lines)
                };
                self.defs.insert(m.name, def);
            }
        }
    }

    /// A complete logical line: conditions, definitions, sequences and
    /// substitutions; the lines it gives go to `out`.
    fn process(
        &mut self,
        mut line: Line,
        depth: usize,
        out: &mut Vec<Line>,
    ) -> Result<(), ConfigError> {
        if depth > DEPTH_MAX {
            return Err(ConfigError::new(
                line.pos(0),
                format!("parameter expansion nests deeper than {DEPTH_MAX}"),
            ));
        }
        let mut after: Vec<Line> = Vec::new();
        let mut passes = 0;
        loop {
            passes += 1;
            if line.chars.is_empty() {
                break;
            }
            if line.chars[0].c == '@' {
                let (keep, rest) = condition(&line.chars, &self.opts.config_id);
                if !keep {
                    return Ok(());
                }
                line.chars = rest.to_vec();
                continue;
            }
            if let Some((name, value)) = definition(&line.chars) {
                self.defs.insert(name, Def::One(value.to_vec()));
                return Ok(());
            }
            let text_starts = |s: &str| {
                line.chars.len() >= s.len()
                    && line.chars.iter().zip(s.chars()).all(|(c, s)| c.c == s)
            };
            if text_starts("~SEQ") {
                return self.sequence(&line, depth, out);
            }
            if line.chars[0].c == '~' {
                break;
            }
            if passes > 2 * DEPTH_MAX {
                return Err(ConfigError::new(
                    line.pos(0),
                    "parameter substitution does not end",
                ));
            }
            if !self.substitute(&mut line, &mut after)? {
                break;
            }
            let again = matches!(line.chars.first().map(|c| c.c), Some('@' | '$' | '~'));
            if !again {
                break;
            }
        }
        if !line.chars.is_empty() {
            self.emitted += 1;
            if self.emitted > LINES_MAX {
                return Err(ConfigError::new(
                    line.pos(0),
                    format!("the configuration expands to more than {LINES_MAX} lines"),
                ));
            }
            out.push(line);
        }
        for l in after {
            self.process(l, depth + 1, out)?;
        }
        Ok(())
    }

    /// One pass of substitution over `line` (keepalived's `replace_param`:
    /// an inserted value is scanned again where it starts); the other
    /// lines of a multi-line parameter go to the front of `after`.
    /// Whether anything was replaced.
    fn substitute(&mut self, line: &mut Line, after: &mut Vec<Line>) -> Result<bool, ConfigError> {
        let mut changed = false;
        let mut i = 0;
        let mut replacements = 0usize;
        while i < line.chars.len() {
            if line.chars[i].c != '$' {
                i += 1;
                continue;
            }
            let Some((name, params, end)) = reference(&line.chars, i) else {
                i += 1;
                continue;
            };
            let at_end = end == line.chars.len();
            let here = line.chars[i];
            let value: Vec<Ch> = match self.value(&name, &params, &line.file, at_end) {
                Some(Value::Chars(v)) => v
                    .into_iter()
                    .map(|c| Ch {
                        line: here.line,
                        col: here.col,
                        ..c
                    })
                    .collect(),
                Some(Value::Lines(mut lines)) => {
                    let first = if lines.is_empty() {
                        Vec::new()
                    } else {
                        lines.remove(0).chars
                    };
                    lines.append(after);
                    *after = lines;
                    first
                        .into_iter()
                        .map(|c| Ch {
                            line: here.line,
                            col: here.col,
                            ..c
                        })
                        .collect()
                }
                None => {
                    i += 1;
                    continue;
                }
            };
            let tilde = value
                .iter()
                .find(|c| !(c.c == ' ' || c.c == '\t'))
                .is_some_and(|c| c.c == '~');
            line.chars.splice(i..end, value);
            changed = true;
            replacements += 1;
            if line.chars.len() > LINE_MAX || replacements > LINE_MAX {
                return Err(ConfigError::new(
                    Position::new(line.file.clone(), here.line, here.col),
                    format!(
                        "parameter substitution makes the line longer than {LINE_MAX} characters"
                    ),
                ));
            }
            if tilde {
                break;
            }
        }
        Ok(changed)
    }

    /// The value of `name` with `params`; a multi-line one only `at_end`.
    fn value(&self, name: &str, params: &[String], file: &Path, at_end: bool) -> Option<Value> {
        if let Some(def) = self.defs.get(name) {
            if !params.is_empty() {
                return None;
            }
            return match def {
                Def::One(v) => Some(Value::Chars(v.clone())),
                Def::Multi(lines) if at_end => Some(Value::Lines(lines.clone())),
                Def::Multi(_) => None,
            };
        }
        let plain = |s: &str, lit: bool| {
            Some(Value::Chars(
                s.chars()
                    .map(|c| Ch {
                        c,
                        line: 0,
                        col: 0,
                        lit,
                    })
                    .collect(),
            ))
        };
        match (name, params.len()) {
            ("_PWD", 0) => {
                let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
                let dir = if dir.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    dir
                };
                let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
                plain(&dir.to_string_lossy(), false)
            }
            ("_INSTANCE", 0) => plain(&self.opts.config_id, false),
            ("_HASH", 0) => plain("#", true),
            ("_BANG", 0) => plain("!", true),
            ("_ENV", 1) => plain(&std::env::var(&params[0]).unwrap_or_default(), false),
            ("_RANDOM", 0..=2) => {
                let nums: Option<Vec<u64>> = params.iter().map(|p| p.parse().ok()).collect();
                let nums = nums?;
                let min = nums.first().copied().unwrap_or(0);
                let max = nums.get(1).copied().unwrap_or(32767).max(min);
                plain(&fastrand::u64(min..=max).to_string(), false)
            }
            _ => None,
        }
    }

    /// `~SEQ(VAR, [START,] [STEP,] END) rest` / `~SEQx(...)`.
    fn sequence(
        &mut self,
        line: &Line,
        depth: usize,
        out: &mut Vec<Line>,
    ) -> Result<(), ConfigError> {
        let bad = |m: &str| ConfigError::new(line.pos(0), format!("invalid ~SEQ: {m}"));
        let text = line.text();
        let mut rest = &text[4..];
        let hex = rest.starts_with('x');
        if hex {
            rest = &rest[1..];
        }
        let rest = rest.trim_start_matches([' ', '\t']);
        let Some(rest) = rest.strip_prefix('(') else {
            return Err(bad("'(' expected"));
        };
        let Some(close) = rest.find(')') else {
            return Err(bad("missing ')'"));
        };
        let inside = &rest[..close];
        let (var, params) = inside.split_once(',').ok_or_else(|| bad("no end value"))?;
        let var = var.trim();
        if var.is_empty()
            || !var.chars().next().is_some_and(is_name_start)
            || !var.chars().all(is_name)
        {
            return Err(bad(&format!("'{var}' is not a parameter name")));
        }
        // The numbers may be parameters themselves.
        let mut p = Line {
            file: line.file.clone(),
            chars: params
                .chars()
                .map(|c| Ch {
                    c,
                    line: line.chars[0].line,
                    col: line.chars[0].col,
                    lit: false,
                })
                .collect(),
        };
        let mut none = Vec::new();
        self.substitute(&mut p, &mut none)?;
        if !none.is_empty() {
            return Err(bad("a parameter is a multi-line definition"));
        }
        let nums: Option<Vec<i64>> = p.text().split(',').map(number).collect();
        let nums = nums.ok_or_else(|| bad(&format!("'{}' are not numbers", p.text().trim())))?;
        let (start, step, end) = match nums[..] {
            [end] => (
                if end < 0 { -1 } else { 1 },
                if end < 1 { -1 } else { 1 },
                end,
            ),
            [start, end] => (start, if start <= end { 1 } else { -1 }, end),
            [start, step, end] => {
                if step == 0 || (start < end && step < 0) || (start > end && step > 0) {
                    return Err(bad("the step does not go from start to end"));
                }
                (start, step, end)
            }
            _ => return Err(bad("one to three numbers expected")),
        };
        if hex && (start < 0 || end < 0) {
            return Err(bad("~SEQx is only for positive numbers"));
        }
        // What follows the `)`, with its own positions.
        let offset = text.len() - rest.len() + close + 1;
        let char_offset = text[..offset].chars().count();
        let body = trim_start(&line.chars[char_offset..]).to_vec();
        let mut v = start;
        loop {
            if (step > 0 && v > end) || (step < 0 && v < end) {
                break;
            }
            let value = if hex { format!("{v:x}") } else { v.to_string() };
            let chars = value
                .chars()
                .map(|c| Ch {
                    c,
                    line: 0,
                    col: 0,
                    lit: false,
                })
                .collect();
            self.defs.insert(var.to_string(), Def::One(chars));
            self.process(
                Line {
                    file: line.file.clone(),
                    chars: body.clone(),
                },
                depth + 1,
                out,
            )?;
            match v.checked_add(step) {
                Some(n) => v = n,
                None => break,
            }
        }
        Ok(())
    }
}

enum Value {
    Chars(Vec<Ch>),
    Lines(Vec<Line>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, text: &str) -> (Vec<String>, Vec<String>) {
        let mut pre = Pre::new(&Options {
            config_id: id.to_string(),
        });
        let file: Arc<Path> = Arc::from(Path::new("/nonexistent/t.conf"));
        let (mut out, mut errors) = (Vec::new(), Vec::new());
        for (n, l) in text.split('\n').enumerate() {
            pre.physical(l, &file, n as u32 + 1, &mut out, &mut errors);
        }
        pre.end_of_file(&mut out, &mut errors);
        (
            out.iter().map(Line::text).collect(),
            errors.iter().map(ToString::to_string).collect(),
        )
    }

    #[test]
    fn conditions() {
        let text = "@main router_id a\n@backup router_id b\n@^main x\n@main\n";
        assert_eq!(run("main", text).0, ["router_id a"]);
        assert_eq!(run("backup", text).0, ["router_id b", "x"]);
    }

    #[test]
    fn definitions_substitute_at_use() {
        let text = "$B=10.2.${S}\n$S=0\n${B}.100/32\n$S=10\n${B}.100/32\ninterface $IF\n$IF=eth0\ninterface $IF\n$IF.5 ${IF}.5";
        assert_eq!(
            run("x", text).0,
            [
                "10.2.0.100/32",
                "10.2.10.100/32",
                "interface $IF",
                "interface eth0",
                "$IF.5 eth0.5"
            ]
        );
    }

    #[test]
    fn multiline_definitions_nest() {
        let text = "$RS= \\\n real_server 10.0.${N}.${R} 80 { \\\n weight 1 \\\n } \n\n$VS= \\\n vs ${N} { \\\n $R=1 \\\n $RS \\\n $R=2 \\\n $RS \\\n }\n$N=7\n$VS\n";
        assert_eq!(
            run("x", text).0,
            [
                "vs 7 {",
                "real_server 10.0.7.1 80 {",
                "weight 1",
                "}",
                "real_server 10.0.7.2 80 {",
                "weight 1",
                "}",
                "}"
            ]
        );
    }

    #[test]
    fn sequences() {
        let (out, _) = run("x", "~SEQ(S, 0, 3) ip 10.0.${S}.1");
        assert_eq!(
            out,
            ["ip 10.0.0.1", "ip 10.0.1.1", "ip 10.0.2.1", "ip 10.0.3.1"]
        );
        let (out, _) = run("x", "~SEQx(S, 0x90, 0x10, 0xc0) fe80::${S}:1");
        assert_eq!(
            out,
            ["fe80::90:1", "fe80::a0:1", "fe80::b0:1", "fe80::c0:1"]
        );
        let (out, _) = run("x", "~SEQ(A,2) ~SEQ(B,3,-1,2) ${A}.${B}");
        assert_eq!(out, ["1.3", "1.2", "2.3", "2.2"]);
        let (out, e) = run("x", "~SEQ(A, 1, -1, 3) x");
        assert!(out.is_empty());
        assert_eq!(
            e,
            ["/nonexistent/t.conf:1:1: invalid ~SEQ: the step does not go from start to end"]
        );
    }

    #[test]
    fn builtins_escapes_and_continuation() {
        let (out, _) = run("node1", "a ${_INSTANCE} ${_HASH}x \\# not \"q # in\" # comment\nb \\\n  c\n$_INSTANCE=over\n${_INSTANCE}");
        assert_eq!(out, ["a node1 #x # not \"q # in\"", "b c", "over"]);
        let (out, _) = run("x", "p ${_PWD}");
        assert_eq!(out, ["p /nonexistent"]);
        let (out, _) = run("x", "r ${_RANDOM 5 5}");
        assert_eq!(out, ["r 5"]);
    }

    #[test]
    fn columns_follow_the_text() {
        let mut pre = Pre::new(&Options {
            config_id: "x".into(),
        });
        let file: Arc<Path> = Arc::from(Path::new("t"));
        let (mut out, mut errors) = (Vec::new(), Vec::new());
        pre.physical("$IF=eth0", &file, 1, &mut out, &mut errors);
        pre.physical("  interface $IF bad", &file, 2, &mut out, &mut errors);
        let l = &out[0];
        assert_eq!(l.text(), "interface eth0 bad");
        // "eth0" carries the `$`'s column, "bad" its own.
        assert_eq!(l.chars[10].col, 13);
        assert_eq!(l.chars[15].col, 17);
    }

    #[test]
    fn unexpanded_finds_names() {
        assert_eq!(unexpanded("eth$IF"), Some((3, "IF".into())));
        assert_eq!(unexpanded("a${X_1}b"), Some((1, "X_1".into())));
        assert_eq!(unexpanded("cost $5 or $"), None);
    }
}
