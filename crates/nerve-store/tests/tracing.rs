//! The store reports what it does through `tracing`, to whatever subscriber the application
//! installs (and to none by default): opens, every group commit with its size, archive days,
//! migrate progress.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use nerve_store::{NewLogEntry, archive};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// One event as the subscriber saw it: `target message field=value ...`.
#[derive(Default, Clone)]
struct Events(Arc<Mutex<Vec<String>>>);

impl Events {
    fn with_target(&self, target: &str) -> Vec<String> {
        self.0
            .lock()
            .expect("events")
            .iter()
            .filter(|line| line.starts_with(&format!("{target} ")))
            .cloned()
            .collect()
    }
}

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 += &format!(" {value:?}");
        } else {
            self.0 += &format!(" {}={value:?}", field.name());
        }
    }
}

impl Subscriber for Events {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut line = Line(event.metadata().target().to_owned());
        event.record(&mut line);
        self.0.lock().expect("events").push(line.0);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// The store `name` in `dir`, of a backend the facade is built with.
fn location(dir: &std::path::Path, name: &str) -> String {
    if cfg!(feature = "sqlite") {
        dir.join(format!("{name}.db")).display().to_string()
    } else if cfg!(feature = "redb") {
        dir.join(format!("{name}.redb")).display().to_string()
    } else {
        store_postgres::harness::options(&dir.join(name)).location()
    }
}

#[test]
fn opens_commits_archive_days_and_migrate_progress_are_reported() {
    let events = Events::default();
    let dir = tempfile::tempdir().expect("temp dir");
    let first = location(dir.path(), "nerve");
    let shown = first
        .parse::<nerve_store::Location>()
        .expect("a location")
        .to_string();
    tracing::subscriber::with_default(events.clone(), || {
        let store = nerve_store::open(&first).expect("open");
        store
            .log
            .append_batch(vec![
                NewLogEntry::new("s", "k", "old")
                    .at(nerve_store::chrono::Utc::now() - nerve_store::chrono::Duration::days(3)),
                NewLogEntry::new("s", "k", "new"),
            ])
            .expect("a batch");
        let options = archive::ArchiveOptions {
            dir: dir.path().join("archive"),
            retain_days: 1,
            ..archive::ArchiveOptions::default()
        };
        archive::archive_logs(store.log.as_ref(), &options).expect("archive");
        let target = nerve_store::open(&location(dir.path(), "copy")).expect("a target");
        nerve_store::migrate(&store, &target, &mut |_| ControlFlow::Continue(())).expect("migrate");
    });
    let opens = events.with_target("nerve_store::open");
    assert!(
        opens
            .iter()
            .any(|line| line.contains("opened the store") && line.contains(&shown)),
        "{opens:?}"
    );
    let commits = events.with_target("nerve_store::commit");
    assert!(
        commits
            .iter()
            .any(|line| line.contains("committed a group") && line.contains("calls=1")),
        "{commits:?}"
    );
    let days = events.with_target("nerve_store::archive");
    assert!(
        days.iter()
            .any(|line| line.contains("archived a day") && line.contains("entries=1")),
        "{days:?}"
    );
    let copies = events.with_target("nerve_store::migrate");
    assert!(
        copies.iter().any(|line| line.contains("copy verified")),
        "{copies:?}"
    );
}
