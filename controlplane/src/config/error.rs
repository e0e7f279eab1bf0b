//! Where a configuration problem is and what it is.
//!
//! Contract: every [`ConfigError`] and [`Warning`] names a [`Position`] and
//! prints as `FILE:LINE:COL: message` (lines and columns count from 1,
//! columns in characters, a tab being one). A problem with a file as a
//! whole (it cannot be read) has no line and prints as `FILE: message`.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A place in a configuration file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Position {
    /// The file as it was named: the path given to [`super::load`], or an
    /// included file's path joined to its includer's directory.
    pub file: Arc<Path>,
    /// 1-based line; 0 for the file as a whole.
    pub line: u32,
    /// 1-based column in characters; 0 with line 0.
    pub col: u32,
}

impl Position {
    /// Line `line`, column `col` of `file`.
    pub fn new(file: Arc<Path>, line: u32, col: u32) -> Self {
        Position { file, line, col }
    }

    /// `file` as a whole.
    pub fn whole(file: Arc<Path>) -> Self {
        Position {
            file,
            line: 0,
            col: 0,
        }
    }

    /// The position of byte `offset` of `text` (the contents of `file`).
    pub fn of_offset(file: Arc<Path>, text: &str, offset: usize) -> Self {
        let offset = offset.min(text.len());
        // Back off to a character boundary (toml spans always are one).
        let mut end = offset;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let before = &text[..end];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before[line_start..].chars().count() + 1;
        Position::new(file, saturate(line), saturate(col))
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
        }
    }
}

/// A configuration that cannot be used. Nothing of it applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub pos: Position,
    pub message: String,
}

impl ConfigError {
    pub fn new(pos: Position, message: impl Into<String>) -> Self {
        ConfigError {
            pos,
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Something keepalived would log and go on with: the configuration is
/// used, with the default or the correction the message states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub pos: Position,
    pub message: String,
}

impl Warning {
    pub fn new(pos: Position, message: impl Into<String>) -> Self {
        Warning {
            pos,
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_lines_and_character_columns() {
        let file: Arc<Path> = Arc::from(Path::new("a.toml"));
        let text = "a = 1\nbé = 2\n";
        let p = Position::of_offset(file.clone(), text, 0);
        assert_eq!(p.to_string(), "a.toml:1:1");
        // "2" on line 2: 'b', 'é' (2 bytes), ' ', '=', ' ' → column 6.
        let two = text.find('2').unwrap();
        assert_eq!(
            Position::of_offset(file.clone(), text, two).to_string(),
            "a.toml:2:6"
        );
        assert_eq!(Position::whole(file).to_string(), "a.toml");
    }
}
