//! What the archive replica's tests share: a local archive to push.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;

use chrono::{Duration, Utc};
use store_archive::{ArchiveOptions, archive_logs};
use store_core::{LogStore, MemoryLogStore, NewLogEntry};

/// An archive in `dir/archive` of `days` days of 300 entries each, ending two days ago; the
/// first day compressed when `compress_first`.
pub fn archive_of(dir: &Path, days: i64, compress_first: bool) -> ArchiveOptions {
    let store = MemoryLogStore::new();
    let start = Utc::now() - Duration::days(days + 2);
    for day in 0..days {
        let entries = (0..300)
            .map(|i| {
                NewLogEntry::new("worker", "tick", format!("{{\"day\":{day},\"i\":{i}}}"))
                    .at(start + Duration::days(day) + Duration::seconds(i))
            })
            .collect();
        store.append_batch(entries).expect("entries");
    }
    let options = ArchiveOptions {
        dir: dir.join("archive"),
        retain_days: 1,
        ..ArchiveOptions::default()
    };
    if compress_first {
        let first = ArchiveOptions {
            compress: true,
            now: start + Duration::days(2),
            ..options.clone()
        };
        archive_logs(&store, &first).expect("the first day, compressed");
    }
    archive_logs(&store, &options).expect("the days");
    options
}
