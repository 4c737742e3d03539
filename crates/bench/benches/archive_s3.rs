//! The archive kept on object storage: archiving 200,000 entries over 10 days from a SQLite
//! store straight to S3 (`archive_logs_at`), beside the ideal of the design it replaces:
//! the same run into a local folder, then each of its files uploaded with one `PUT` by the
//! bare client (what `aws s3 cp` of the folder would do). Both start each slice from a copy of
//! the same store file (not measured), on a bucket prefix of their own, interleaved (see
//! `nerve_bench::interleave_timed`). The server is the moto server the tests use, on
//! loopback: the ratio is the cost of the run's own requests (the manifest written per day,
//! conditionally), not of a network. `cargo bench -p nerve-bench --bench archive_s3`.

use std::path::Path;
use std::time::Instant;

use nerve_bench::{archive_fixture, archive_now, copy_of};
use object_store::{ObjectStoreExt as _, PutPayload, path::Path as Key};
use store_archive::{ArchiveOptions, archive_logs, archive_logs_at};
use store_object::ObjectArchive;
use store_sqlite::SqliteLogStore;

const ENTRIES: usize = 200_000;
const DAYS: usize = 10;
const SLICES: usize = 7;

fn options(dir: &Path) -> ArchiveOptions {
    ArchiveOptions {
        dir: dir.join("archive"),
        retain_days: 30,
        now: archive_now(),
        ..ArchiveOptions::default()
    }
}

fn main() {
    let fixture = archive_fixture(
        Path::new(env!("CARGO_TARGET_TMPDIR")),
        "archive-200k",
        ENTRIES,
        DAYS,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let comparison = nerve_bench::interleave_timed(
        "archive 200,000 entries over 10 days",
        SLICES,
        1,
        |_| {
            let dir = copy_of(&fixture);
            let s3 = ObjectArchive::open_with(store_object::harness::options(dir.path()))
                .expect("the archive on S3");
            let started = Instant::now();
            let store = SqliteLogStore::open(dir.path().join("nerve.db")).expect("open");
            let report = archive_logs_at(&store, &options(dir.path()), &s3, &mut |_| {
                std::ops::ControlFlow::Continue(())
            })
            .expect("archive");
            drop(store);
            let took = started.elapsed();
            assert_eq!(report.rows, ENTRIES as u64);
            took
        },
        |_| {
            let dir = copy_of(&fixture);
            let client = store_object::harness::client(dir.path());
            let prefix = store_object::harness::prefix_of(dir.path());
            let started = Instant::now();
            let store = SqliteLogStore::open(dir.path().join("nerve.db")).expect("open");
            let report = archive_logs(&store, &options(dir.path())).expect("archive");
            drop(store);
            let folder = dir.path().join("archive/logs");
            for file in std::fs::read_dir(&folder).expect("the folder").flatten() {
                let name = file.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let bytes = std::fs::read(file.path()).expect("a file");
                let key = Key::from(format!("{prefix}/logs/{name}"));
                runtime
                    .block_on(client.put(&key, PutPayload::from(bytes)))
                    .expect("bare put");
            }
            let took = started.elapsed();
            assert_eq!(report.rows, ENTRIES as u64);
            took
        },
    );
    println!("{}", comparison.summary("to S3", "folder, then PUT"));
}
