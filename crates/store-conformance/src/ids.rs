//! Ids compared by their order. The contract promises ids that increase, are consecutive
//! within a unit and are never reused, not which numbers they are: the embedded backends
//! number from 1 without gaps, PostgreSQL from its transaction ids (docs/SPEC.md). A case
//! that compares a store's answers with the model's, or two stores', compares each id by its
//! rank among the ids its store has given out.

use store_core::LogId;

/// The ids one store has given out, in order, to rank them.
#[derive(Debug, Default, Clone)]
pub struct IdRanks {
    known: Vec<u64>,
}

impl IdRanks {
    /// No id known yet.
    pub fn new() -> Self {
        IdRanks::default()
    }

    /// Adds `ids` (in any order) to the known ones.
    pub fn learn(&mut self, ids: impl IntoIterator<Item = LogId>) {
        self.known.extend(ids.into_iter().map(|id| id.0));
        self.known.sort_unstable();
        self.known.dedup();
    }

    /// How many ids are known.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether no id is known.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// The store's id of rank `rank` (from 1), for an id a case chose as the model's: 0 stays
    /// 0 (before every id), a rank past the known ids is `u64::MAX` (after every id given out
    /// so far).
    pub fn id_of_rank(&self, rank: u64) -> LogId {
        if rank == 0 {
            return LogId(0);
        }
        usize::try_from(rank - 1)
            .ok()
            .and_then(|index| self.known.get(index))
            .map_or(LogId(u64::MAX), |id| LogId(*id))
    }

    /// `text` with every `LogId(n)` of a known id written `LogId(#rank)`; an unknown id is
    /// left as it is, so that it differs from any rank.
    pub fn ranked(&self, text: &str) -> String {
        const OPEN: &str = "LogId(";
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(OPEN) {
            let (before, from) = rest.split_at(at + OPEN.len());
            out.push_str(before);
            let digits = from.bytes().take_while(u8::is_ascii_digit).count();
            let rank = from[..digits]
                .parse::<u64>()
                .ok()
                .and_then(|id| self.known.binary_search(&id).ok());
            match rank {
                Some(index) => out.push_str(&format!("#{}", index + 1)),
                None => out.push_str(&from[..digits]),
            }
            rest = &from[digits..];
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_ids_are_written_as_their_rank_and_unknown_ones_are_left() {
        let mut ranks = IdRanks::new();
        ranks.learn([LogId(7_340_033), LogId(1_048_577)]);
        assert_eq!(
            ranks.ranked("[LogId(1048577), LogId(7340033)] LogId(5) LogId(x"),
            "[LogId(#1), LogId(#2)] LogId(5) LogId(x"
        );
        assert_eq!(ranks.id_of_rank(0), LogId(0));
        assert_eq!(ranks.id_of_rank(2), LogId(7_340_033));
        assert_eq!(ranks.id_of_rank(3), LogId(u64::MAX));
    }
}
