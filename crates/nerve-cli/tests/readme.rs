//! The README's examples, run: every `console` block of README.md, in order, in a folder of
//! its own, each command's output and exit status compared with what the README shows, by
//! trycmd (what clap checks its own examples with). So an example cannot drift from the
//! program: a change of output fails here until the README says the same.
//!
//! The examples run at a fixed time (`SOURCE_DATE_EPOCH`, which `nerve-store` takes as the
//! time it is), in UTC, with tables cut to 100 columns and no colour; `[..]` in the README
//! stands for what differs between runs (durations, the ids four workers' commits take).

use std::path::Path;
use std::time::Duration;

/// 2026-11-24T07:00:00Z, the time the README's examples run at.
const README_TIME: &str = "1795503600";

#[test]
fn every_console_example_of_the_readme_prints_what_the_readme_shows() {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let dir = tempfile::tempdir().expect("a folder for the examples");
    // trycmd runs a case in the folder named after it with `.in`: a copy of the README in a
    // folder of its own, so that the examples' stores never land in the repository.
    let case = dir.path().join("readme.md");
    std::fs::copy(&readme, &case).expect("a copy of the README");
    std::fs::create_dir(dir.path().join("readme.in")).expect("the examples' folder");
    trycmd::TestCases::new()
        .register_bin("nerve-store", trycmd::cargo::cargo_bin!("nerve-store"))
        .env("SOURCE_DATE_EPOCH", README_TIME)
        .env("TZ", "UTC")
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        .env("NERVE_STORE", "sqlite:./data/nerve.db")
        // A bound on a command that hangs, not a pace: the examples take seconds.
        .timeout(Duration::from_secs(600))
        .case(&case)
        .run();
}
