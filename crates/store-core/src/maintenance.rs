//! What the archive needs from a store: days of the log, and their deletion.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Serialize, Serializer, ser::SerializeMap};

use crate::id::LogId;
use crate::status::WorkflowRunStatus;
use crate::time::day_bounds;

/// The size and time span of a log and its runs by status, read in one snapshot from
/// counters and the ends of an index: what `stats` shows without reading the store through.
/// Serialises with camelCase names, `runs` as an object from status to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogStats {
    /// Entries in the store (archived entries are no longer counted).
    pub entries: u64,
    /// The first UTC day with entries; `None` for an empty log.
    pub first_day: Option<NaiveDate>,
    /// The last UTC day with entries; `None` for an empty log.
    pub last_day: Option<NaiveDate>,
    /// The runs in the store, by status.
    pub runs: RunCounts,
}

/// How many runs a store holds of each status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunCounts([u64; WorkflowRunStatus::ALL.len()]);

impl RunCounts {
    /// The runs of `status`.
    pub fn get(&self, status: WorkflowRunStatus) -> u64 {
        self.0[slot(status)]
    }

    /// These counts with `count` runs of `status`.
    pub fn with(mut self, status: WorkflowRunStatus, count: u64) -> Self {
        self.0[slot(status)] = count;
        self
    }

    /// Every run, whatever its status.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Each status with its runs, in the order of [`WorkflowRunStatus::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = (WorkflowRunStatus, u64)> + '_ {
        WorkflowRunStatus::ALL.into_iter().zip(self.0)
    }
}

/// Serialises as an object from each status (in lifecycle order) to its runs.
impl Serialize for RunCounts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (status, count) in self.iter() {
            map.serialize_entry(status.as_str(), &count)?;
        }
        map.end()
    }
}

fn slot(status: WorkflowRunStatus) -> usize {
    WorkflowRunStatus::ALL
        .iter()
        .position(|s| *s == status)
        .unwrap_or_default()
}

/// What a check of a store's file found, when it found nothing it could not mend.
/// Serialises as `{"verdict":"sound"}` or `{"verdict":"repaired","what":"…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "camelCase")]
#[non_exhaustive]
pub enum Checked {
    /// Every page and row the engine can verify is as it wrote it.
    Sound,
    /// The engine's own bookkeeping was wrong and it rebuilt it (redb's allocator state,
    /// as after a failed commit); every entry is as it was.
    Repaired {
        /// What was rebuilt, in the engine's words.
        what: String,
    },
}

/// `sound`, or `repaired` and what was rebuilt: as a person reads the verdict.
impl std::fmt::Display for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Checked::Sound => f.write_str("sound"),
            Checked::Repaired { what } => write!(f, "repaired {what}"),
        }
    }
}

/// The entries of one UTC day whose id is at most `through`: what one archive pass copied
/// out of that day. An entry that lands in the day later (a caller's explicit `ts`) gets a
/// higher id, so it is outside the span and is not deleted unseen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DaySpan {
    /// The UTC day.
    pub day: NaiveDate,
    /// The highest id of the day that the span covers.
    pub through: LogId,
}

impl DaySpan {
    /// The span of `day` through `through`.
    pub fn new(day: NaiveDate, through: LogId) -> Self {
        DaySpan { day, through }
    }

    /// The first millisecond of the day, inclusive, and of the next day, exclusive (see
    /// [`day_bounds`]).
    pub fn bounds(&self) -> (i64, i64) {
        day_bounds(self.day)
    }

    /// Whether the span covers an entry with this id and time.
    pub fn covers(&self, id: LogId, ts: DateTime<Utc>) -> bool {
        id <= self.through && ts.date_naive() == self.day
    }
}
