//! Checking the activity counts a store keeps against a walk of its log.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};

use crate::activity::{ActivitySeries, ActivityTally};

/// What a walk of the log says of the activity counts a store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivityCheck {
    /// Every count is what the walk gives: this many (hour, series) counts.
    Agree {
        /// How many counts were compared.
        counts: usize,
    },
    /// The first count, in (hour, series) order, that differs from the walk.
    Differ {
        /// The hour.
        hour: DateTime<Utc>,
        /// What is counted.
        series: ActivitySeries,
        /// What the store keeps.
        kept: u64,
        /// What the walk gives.
        walked: u64,
    },
}

impl fmt::Display for ActivityCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActivityCheck::Agree { counts } => {
                write!(f, "{counts} hourly counts agree with the log")
            }
            ActivityCheck::Differ {
                hour,
                series,
                kept,
                walked,
            } => write!(
                f,
                "the store counts {kept} {series} in the hour from {}, the log holds {walked}",
                crate::time::format_ts(*hour)
            ),
        }
    }
}

/// Compares the counts `store` keeps with a walk of its whole log, a page at a time (what
/// `nerve-store check` runs): memory holds a page and one count per hour and series. Run it
/// on a view pinned to one snapshot when writers may be at work
/// ([`crate::LogTransfer::with_snapshot`]).
///
/// # Errors
/// The store's, reading either.
pub fn check_activity(store: &dyn crate::LogStore) -> crate::StoreResult<ActivityCheck> {
    let mut tally = ActivityTally::new();
    let mut after = None;
    loop {
        let page = store.query(&crate::LogQuery {
            after,
            limit: Some(crate::pages::PAGE),
            ..crate::LogQuery::default()
        })?;
        for entry in &page {
            tally.entry(entry, 1);
        }
        match page.last() {
            Some(last) if page.len() == crate::pages::PAGE => after = Some(last.id),
            _ => break,
        }
    }
    let walked: BTreeMap<(DateTime<Utc>, ActivitySeries), u64> = tally
        .counts("logs")?
        .into_iter()
        .map(|count| ((count.hour, count.series), count.count))
        .collect();
    let kept: BTreeMap<(DateTime<Utc>, ActivitySeries), u64> = store
        .activity(crate::time::min_ts(), crate::time::max_ts())?
        .into_iter()
        .map(|count| ((count.hour, count.series), count.count))
        .collect();
    let first_difference = walked
        .keys()
        .chain(kept.keys())
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|key| {
            (
                key,
                kept.get(&key).copied().unwrap_or(0),
                walked.get(&key).copied().unwrap_or(0),
            )
        })
        .find(|(_, kept, walked)| kept != walked);
    Ok(match first_difference {
        None => ActivityCheck::Agree { counts: kept.len() },
        Some(((hour, series), kept, walked)) => ActivityCheck::Differ {
            hour,
            series,
            kept,
            walked,
        },
    })
}
