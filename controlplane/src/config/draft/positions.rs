//! Where each item of a draft was written ([`Locus`] → position), for
//! the resolver's messages.

use crate::config::error::Position;
use std::collections::HashMap;

/// A thing of a draft that has a position: indexes into the draft's lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Locus {
    Service(usize),
    /// Service, dest.
    Dest(usize, usize),
    /// Service, dest, check.
    Check(usize, usize, usize),
    Sorry(usize),
    Group(usize),
    Pool(usize),
    MarkRule(usize),
    Script(usize),
    SyncGroup(usize),
    Instance(usize),
    Global,
}

/// Where each [`Locus`] of a draft was written.
#[derive(Clone, Debug)]
pub struct Positions {
    whole: Position,
    map: HashMap<Locus, Position>,
}

impl Positions {
    /// A table for a configuration whose main file is `whole`.
    pub fn new(whole: Position) -> Self {
        Positions {
            whole,
            map: HashMap::new(),
        }
    }

    pub fn set(&mut self, locus: Locus, pos: Position) {
        self.map.insert(locus, pos);
    }

    /// The position of `locus`, else of what contains it, else the file.
    pub fn at(&self, locus: Locus) -> Position {
        if let Some(p) = self.map.get(&locus) {
            return p.clone();
        }
        let parent = match locus {
            Locus::Check(s, d, _) => Some(Locus::Dest(s, d)),
            Locus::Dest(s, _) | Locus::Sorry(s) => Some(Locus::Service(s)),
            _ => None,
        };
        match parent {
            Some(p) => self.at(p),
            None => self.whole.clone(),
        }
    }
}
