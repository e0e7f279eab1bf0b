//! keepalived.conf's lexical layer (`spec/keepalived.md` §A.1): words,
//! quotes, comments, braces and `include`, producing a tree of statements.
//!
//! Contract:
//! - every line goes through keepalived's preprocessor first
//!   ([`preprocess`]: `@ID`, `$NAME`, `~SEQ`, `\` continuation); a line it
//!   refuses is an error of that line alone, and positions are those of
//!   the characters as written (a substituted value: its `$`'s);
//! - a statement is a keyword and its arguments on one line; `{` and `}`
//!   are tokens of their own wherever they are (outside quotes), and a
//!   statement ends at the end of its line or at a brace; a `{` right after
//!   a statement (on its line or the next) opens that statement's block;
//! - `#` and `!` start a comment anywhere outside quotes;
//! - `"…"` and `'…'` group words, the quotes are removed and shell-like
//!   escapes are decoded (`\n \t \r \\ \" \' \xHH \NNN`); a quoted part
//!   may be glued to a bare one (`a"b c"` is one word `ab c`);
//! - `include PATTERN` (and `includer`, `includem`, `includew`, `includeb`,
//!   `includea`) is replaced by the statements of the files it matches, in
//!   name order; the pattern takes globs and `{a,b}` brace expansion and is
//!   relative to the including file's directory. `include` is silent about
//!   a pattern that matches nothing or an unreadable file, as keepalived;
//!   `includem` requires a match and `includer` readable files (errors),
//!   `includew` warns about both, `includeb` and `includea` require both.
//!   A file that includes itself, directly or not, is an error naming the
//!   chain. Includes work on the token stream, as keepalived's do, so a
//!   block may open in one file and close in another.
//! - brace mismatches are errors: a block still open at the end (reported
//!   at its keyword), a `}` with no open block, a `{` that follows no
//!   statement.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{ConfigError, Position, Warning};
use super::preprocess::{self, Line, Pre};

/// How many files one configuration may consist of.
pub const FILES_MAX: usize = 4096;
/// How many patterns one brace expansion may give.
const BRACE_EXPANSIONS_MAX: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Word,
    Open,
    Close,
}

/// A word or a brace.
#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    text: String,
    pos: Position,
    dollar: Option<Position>,
    /// Counts physical lines across all files: equal means same line.
    line_id: usize,
}

/// A word of a statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub pos: Position,
    /// Where the word's first `$NAME` / `${NAME}` is, if it has one (a
    /// parameter the preprocessor left as written).
    pub dollar: Option<Position>,
}

/// A statement: keyword, arguments, and its block if it has one.
#[derive(Clone, Debug)]
pub struct Node {
    pub key: Word,
    pub args: Vec<Word>,
    pub block: Option<Block>,
}

impl Node {
    /// The keyword followed by the arguments, as text.
    pub fn words(&self) -> Vec<&str> {
        std::iter::once(self.key.text.as_str())
            .chain(self.args.iter().map(|w| w.text.as_str()))
            .collect()
    }
}

/// The statements between `{` and `}`.
#[derive(Clone, Debug)]
pub struct Block {
    /// Where the `{` is.
    pub open: Position,
    pub nodes: Vec<Node>,
}

/// The statement tree of `text`, the contents of `file` (whose directory
/// relative includes start from), with the default preprocessor options;
/// a line the preprocessor leaves out is an error.
pub fn parse_text(
    text: &str,
    file: Arc<Path>,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Node>, ConfigError> {
    let mut errors = Vec::new();
    let tree = parse_text_with(
        text,
        file,
        &preprocess::Options::default(),
        warnings,
        &mut errors,
    )?;
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(tree),
    }
}

/// The statement tree of `text`, the contents of `file`, through
/// keepalived's preprocessor ([`preprocess`]) with `opts`; the lines it
/// leaves out (a bad `~SEQ` ...) go to `errors`.
pub fn parse_text_with(
    text: &str,
    file: Arc<Path>,
    opts: &preprocess::Options,
    warnings: &mut Vec<Warning>,
    errors: &mut Vec<ConfigError>,
) -> Result<Vec<Node>, ConfigError> {
    let mut reader = Reader {
        warnings,
        errors,
        pre: Pre::new(opts),
        chain: Vec::new(),
        line_id: 0,
        files: 0,
        out: Vec::new(),
    };
    let canonical = std::fs::canonicalize(&*file).unwrap_or_else(|_| file.to_path_buf());
    reader.chain.push((canonical, file.clone()));
    reader.text(text, &file)?;
    reader.chain.pop();
    let tokens = reader.out;
    let mut parser = Parser { tokens, at: 0 };
    parser.block(None)
}

struct Reader<'w> {
    warnings: &'w mut Vec<Warning>,
    errors: &'w mut Vec<ConfigError>,
    pre: Pre,
    /// The files being read: canonical path (for loops) and display name.
    chain: Vec<(PathBuf, Arc<Path>)>,
    line_id: usize,
    files: usize,
    out: Vec<Token>,
}

/// The include keywords and what they check: (must match, must be
/// readable, only warn).
fn include_kind(word: &str) -> Option<(bool, bool, bool)> {
    Some(match word {
        "include" => (false, false, false),
        "includer" => (false, true, false),
        "includem" => (true, false, false),
        "includew" => (true, true, true),
        "includeb" | "includea" => (true, true, false),
        _ => return None,
    })
}

impl Reader<'_> {
    fn text(&mut self, text: &str, file: &Arc<Path>) -> Result<(), ConfigError> {
        let mut lines = Vec::new();
        for (n, raw) in text.split('\n').enumerate() {
            let line_no = u32::try_from(n + 1).unwrap_or(u32::MAX);
            self.pre
                .physical(raw, file, line_no, &mut lines, self.errors);
            for line in lines.drain(..) {
                self.logical(&line)?;
            }
        }
        self.pre.end_of_file(&mut lines, self.errors);
        for line in lines.drain(..) {
            self.logical(&line)?;
        }
        Ok(())
    }

    /// A line out of the preprocessor: an include, or words and braces.
    fn logical(&mut self, line: &Line) -> Result<(), ConfigError> {
        self.line_id += 1;
        let text = line.text();
        let first = text.split_whitespace().next().unwrap_or("");
        if let Some(checks) = include_kind(first) {
            let pos = line.pos(0);
            let rest = &text[first.len()..];
            let pattern = include_pattern(rest, &pos)?;
            let keyword = first.to_string();
            return self.include(&keyword, &pattern, checks, &pos, &line.file);
        }
        tokenize(line, self.line_id, &mut self.out)
    }

    fn include(
        &mut self,
        keyword: &str,
        pattern: &str,
        (must_match, must_read, only_warn): (bool, bool, bool),
        pos: &Position,
        file: &Arc<Path>,
    ) -> Result<(), ConfigError> {
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let report = |this: &mut Self, message: String| -> Result<(), ConfigError> {
            if only_warn {
                this.warnings.push(Warning::new(pos.clone(), message));
                Ok(())
            } else {
                Err(ConfigError::new(pos.clone(), message))
            }
        };
        for p in expand_braces(pattern) {
            let full = if Path::new(&p).is_absolute() {
                PathBuf::from(&p)
            } else {
                base.join(&p)
            };
            let full_text = full.to_string_lossy().into_owned();
            let paths = glob::glob(&full_text).map_err(|e| {
                ConfigError::new(pos.clone(), format!("invalid {keyword} pattern '{p}': {e}"))
            })?;
            let mut matched: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
            matched.sort();
            if matched.is_empty() && must_match {
                report(self, format!("{keyword} pattern '{p}' matches no file"))?;
            }
            for path in matched {
                if path.is_dir() {
                    continue;
                }
                let shown: Arc<Path> = Arc::from(path.as_path());
                let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
                if self.chain.iter().any(|(c, _)| *c == canonical) {
                    let mut names: Vec<String> = self
                        .chain
                        .iter()
                        .skip_while(|(c, _)| *c != canonical)
                        .map(|(_, shown)| shown.display().to_string())
                        .collect();
                    names.push(shown.display().to_string());
                    return Err(ConfigError::new(
                        pos.clone(),
                        format!("include loop: {}", names.join(" -> ")),
                    ));
                }
                let text = match std::fs::read(&path) {
                    Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                    Err(e) => {
                        if must_read {
                            report(self, format!("cannot read {}: {e}", path.display()))?;
                        }
                        continue;
                    }
                };
                self.files += 1;
                if self.files > FILES_MAX {
                    return Err(ConfigError::new(
                        pos.clone(),
                        format!("more than {FILES_MAX} included files"),
                    ));
                }
                self.chain.push((canonical, shown.clone()));
                self.text(&text, &shown)?;
                self.chain.pop();
            }
        }
        Ok(())
    }
}

/// The pattern of an include line: the rest of the line without its
/// comment, unquoted when quoted.
fn include_pattern(rest: &str, pos: &Position) -> Result<String, ConfigError> {
    let rest = rest.trim();
    let pattern = if let Some(q) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let mut chars = rest.chars().skip(1).peekable();
        quoted(&mut chars, q)
            .ok_or_else(|| ConfigError::new(pos.clone(), "unterminated quoted string"))?
    } else {
        let end = rest.find(['#', '!']).unwrap_or(rest.len());
        rest[..end].trim().to_string()
    };
    if pattern.is_empty() {
        return Err(ConfigError::new(pos.clone(), "include needs a file name"));
    }
    Ok(pattern)
}

/// Shell brace expansion: `a{b,c}d` → `abd`, `acd`; nested braces work;
/// braces without a comma are literal.
pub fn expand_braces(pattern: &str) -> Vec<String> {
    let mut out = Vec::new();
    expand_into(pattern, &mut out);
    out.truncate(BRACE_EXPANSIONS_MAX);
    out
}

fn expand_into(pattern: &str, out: &mut Vec<String>) {
    if out.len() >= BRACE_EXPANSIONS_MAX {
        return;
    }
    let bytes: Vec<char> = pattern.chars().collect();
    for start in 0..bytes.len() {
        if bytes[start] != '{' {
            continue;
        }
        let mut depth = 0;
        let mut commas = Vec::new();
        let mut end = None;
        for (i, &c) in bytes.iter().enumerate().skip(start) {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i);
                        break;
                    }
                }
                ',' if depth == 1 => commas.push(i),
                _ => {}
            }
        }
        let Some(end) = end else {
            break;
        };
        if commas.is_empty() {
            continue;
        }
        let prefix: String = bytes[..start].iter().collect();
        let suffix: String = bytes[end + 1..].iter().collect();
        let mut bounds = vec![start];
        bounds.extend(&commas);
        bounds.push(end);
        for w in bounds.windows(2) {
            let alt: String = bytes[w[0] + 1..w[1]].iter().collect();
            expand_into(&format!("{prefix}{alt}{suffix}"), out);
        }
        return;
    }
    out.push(pattern.to_string());
}

/// Read a quoted string after its opening `quote`, decoding escapes;
/// `None` if the line ends first.
fn quoted(
    chars: &mut std::iter::Peekable<impl Iterator<Item = char>>,
    quote: char,
) -> Option<String> {
    let mut value = String::new();
    loop {
        let c = chars.next()?;
        if c == quote {
            return Some(value);
        }
        if c != '\\' {
            value.push(c);
            continue;
        }
        let e = chars.next()?;
        match e {
            'n' => value.push('\n'),
            't' => value.push('\t'),
            'r' => value.push('\r'),
            'a' => value.push('\x07'),
            'b' => value.push('\x08'),
            'f' => value.push('\x0c'),
            'v' => value.push('\x0b'),
            'e' => value.push('\x1b'),
            '\\' | '"' | '\'' => value.push(e),
            'x' => {
                let mut n = 0u32;
                let mut digits = 0;
                while digits < 2 {
                    match chars.peek().and_then(|c| c.to_digit(16)) {
                        Some(d) => {
                            n = n * 16 + d;
                            digits += 1;
                            chars.next();
                        }
                        None => break,
                    }
                }
                if digits == 0 {
                    value.push_str("\\x");
                } else {
                    value.push(char::from_u32(n).unwrap_or('?'));
                }
            }
            '0'..='7' => {
                let mut n = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            n = n * 8 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                value.push(char::from_u32(n & 0xff).unwrap_or('?'));
            }
            other => {
                value.push('\\');
                value.push(other);
            }
        }
    }
}

/// Split one line into tokens (a `#` or `!` the preprocessor made
/// literal is a character like any other).
fn tokenize(line: &Line, line_id: usize, out: &mut Vec<Token>) -> Result<(), ConfigError> {
    let pos_at = |i: usize| line.pos(i);
    let chars: Vec<char> = line.chars.iter().map(|c| c.c).collect();
    let comment = |i: usize| matches!(chars[i], '#' | '!') && !line.chars[i].lit;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if comment(i) {
            break;
        }
        if c == '{' || c == '}' {
            out.push(Token {
                kind: if c == '{' { Kind::Open } else { Kind::Close },
                text: c.to_string(),
                pos: pos_at(i),
                dollar: None,
                line_id,
            });
            i += 1;
            continue;
        }
        let start = i;
        let mut text = String::new();
        while i < chars.len() {
            let c = chars[i];
            if c.is_whitespace() || matches!(c, '{' | '}') || comment(i) {
                break;
            }
            // `${NAME}` left as written (undefined) stays one word, for
            // the interpreter to report it, rather than a block.
            if c == '$' && chars.get(i + 1) == Some(&'{') {
                let close = chars[i + 2..]
                    .iter()
                    .position(|&n| !(n == '_' || n == ' ' || n.is_ascii_alphanumeric()))
                    .map(|p| p + i + 2)
                    .filter(|&p| chars[p] == '}' && p > i + 2);
                if let Some(close) = close {
                    text.extend(&chars[i..=close]);
                    i = close + 1;
                    continue;
                }
            }
            if c == '"' || c == '\'' {
                let mut rest = chars[i + 1..].iter().copied().peekable();
                let before = rest.clone().count();
                let value = quoted(&mut rest, c)
                    .ok_or_else(|| ConfigError::new(pos_at(i), "unterminated quoted string"))?;
                let consumed = before - rest.count();
                text.push_str(&value);
                i += 1 + consumed;
                continue;
            }
            text.push(c);
            i += 1;
        }
        let dollar = (start..i)
            .find(|&k| {
                chars[k] == '$'
                    && chars
                        .get(k + 1)
                        .is_some_and(|&n| n == '{' || n == '_' || n.is_ascii_alphabetic())
            })
            .map(pos_at);
        out.push(Token {
            kind: Kind::Word,
            text,
            pos: pos_at(start),
            dollar,
            line_id,
        });
    }
    Ok(())
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    /// The statements up to the `}` closing `opener`'s block (or the end,
    /// at the top level).
    fn block(&mut self, opener: Option<&Word>) -> Result<Vec<Node>, ConfigError> {
        let mut nodes: Vec<Node> = Vec::new();
        loop {
            let Some(tok) = self.tokens.get(self.at).cloned() else {
                return match opener {
                    Some(w) => Err(ConfigError::new(
                        w.pos.clone(),
                        format!("'{}' block is not closed: missing '}}'", w.text),
                    )),
                    None => Ok(nodes),
                };
            };
            self.at += 1;
            match tok.kind {
                Kind::Close => {
                    return match opener {
                        Some(_) => Ok(nodes),
                        None => Err(ConfigError::new(
                            tok.pos,
                            "unexpected '}': no block is open",
                        )),
                    };
                }
                Kind::Open => {
                    let Some(last) = nodes.last_mut().filter(|n| n.block.is_none()) else {
                        return Err(ConfigError::new(
                            tok.pos,
                            "unexpected '{': it follows no keyword",
                        ));
                    };
                    let key = last.key.clone();
                    let inner = self.block(Some(&key))?;
                    // `last` is still the last node: nothing was pushed.
                    if let Some(last) = nodes.last_mut() {
                        last.block = Some(Block {
                            open: tok.pos,
                            nodes: inner,
                        });
                    }
                }
                Kind::Word => {
                    let key = Word {
                        text: tok.text,
                        pos: tok.pos,
                        dollar: tok.dollar,
                    };
                    let mut args = Vec::new();
                    while let Some(next) = self.tokens.get(self.at) {
                        if next.kind != Kind::Word || next.line_id != tok.line_id {
                            break;
                        }
                        args.push(Word {
                            text: next.text.clone(),
                            pos: next.pos.clone(),
                            dollar: next.dollar.clone(),
                        });
                        self.at += 1;
                    }
                    nodes.push(Node {
                        key,
                        args,
                        block: None,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Result<Vec<Node>, ConfigError> {
        let mut w = Vec::new();
        parse_text(text, Arc::from(Path::new("/nonexistent/t.conf")), &mut w)
    }

    #[test]
    fn braces_split_off_and_blocks_nest() {
        let t = tree("a b{c d\n}\ne\n{ f }\ng { h } i").unwrap();
        assert_eq!(t.len(), 4);
        assert_eq!(t[0].words(), ["a", "b"]);
        let inner = &t[0].block.as_ref().unwrap().nodes;
        assert_eq!(inner[0].words(), ["c", "d"]);
        assert_eq!(t[1].words(), ["e"]);
        assert_eq!(t[1].block.as_ref().unwrap().nodes[0].words(), ["f"]);
        assert_eq!(t[3].words(), ["i"]);
    }

    #[test]
    fn comments_and_quotes() {
        let t =
            tree("a \"x # y\" 'z' # comment\nb ! c\nd e\"f g\"h \"\\x41\\t\\101\\\"\"").unwrap();
        assert_eq!(t[0].words(), ["a", "x # y", "z"]);
        assert_eq!(t[1].words(), ["b"]);
        assert_eq!(t[2].words(), ["d", "ef gh", "A\tA\""]);
        assert_eq!(t[2].args[0].pos.col, 3);
    }

    #[test]
    fn brace_errors_are_positioned() {
        let e = tree("a {\n b\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/t.conf:1:1: 'a' block is not closed: missing '}'"
        );
        let e = tree("a\n}\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/t.conf:2:1: unexpected '}': no block is open"
        );
        let e = tree("{ a }").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/t.conf:1:1: unexpected '{': it follows no keyword"
        );
        let e = tree("a \"b").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/t.conf:1:3: unterminated quoted string"
        );
    }

    #[test]
    fn braces_expand() {
        assert_eq!(expand_braces("a{b,c}d"), ["abd", "acd"]);
        assert_eq!(
            expand_braces("{x,y{1,2}}.conf"),
            ["x.conf", "y1.conf", "y2.conf"]
        );
        assert_eq!(expand_braces("a{b}c"), ["a{b}c"]);
        assert_eq!(expand_braces("*.conf"), ["*.conf"]);
    }

    #[test]
    fn missing_plain_includes_are_silent_and_includem_is_not() {
        let t = tree("include nothing-here-*.conf\na").unwrap();
        assert_eq!(t.len(), 1);
        let e = tree("includem nothing-here-*.conf").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/nonexistent/t.conf:1:1: includem pattern 'nothing-here-*.conf' matches no file"
        );
    }
}
