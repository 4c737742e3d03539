//! Any bytes as an archive day file, plain or compressed (`.jsonl.zst`, chosen by the first
//! byte): `read_archive` yields entries of that day, in increasing id order, or ends with an
//! error naming the file (`ArchiveLine` or `Io`); `verify_archive` reports the day; never a
//! panic.
#![no_main]

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use store_core::StoreError;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temp dir");
    let day = NaiveDate::from_ymd_opt(2026, 11, 24).expect("a day");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).expect("folder");
    let (compressed, data) = match data.split_first() {
        Some((first, rest)) => (first & 1 == 1, rest),
        None => (false, data),
    };
    let suffix = if compressed { "jsonl.zst" } else { "jsonl" };
    let file = logs.join(format!("{day}.{suffix}"));
    std::fs::write(&file, data).expect("write the day file");
    let mut last = None;
    for item in store_archive::read_archive(dir.path(), day..=day) {
        match item {
            Ok(entry) => {
                assert_eq!(entry.ts.date_naive(), day);
                assert!(last.is_none_or(|id| id < entry.id));
                last = Some(entry.id);
            }
            Err(
                StoreError::ArchiveLine { path, .. }
                | StoreError::Io {
                    path: Some(path), ..
                },
            ) => {
                assert_eq!(path, file);
                break;
            }
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    let verified = store_archive::verify_archive(dir.path()).expect("no manifest is no error");
    assert_eq!(verified.days.len(), 1, "the one day file is reported");
});
