//! `nerve-store`, the command line of the nerve store: look into a daemon's store, archive
//! it, and move it from one backend to the other.
//!
//! Every command takes `--store LOCATION` (or `NERVE_STORE`; `sqlite:./data/nerve.db` by
//! default) and `--json`, which prints one JSON object per line instead of tables. An
//! error is one line on stderr, saying what is wrong and what to do, and an exit status that
//! says what kind of failure it was (`error::Exit`).

mod cli;
mod commands;
mod error;
mod interrupt;
mod output;
mod paint;
mod progress;
mod time;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    paint::choose(cli.color);
    // A fixed time that does not parse is a usage error, as a bad `--since` is.
    if let Err(message) = time::now() {
        eprintln!("{} {message}", paint::error_prefix());
        return ExitCode::from(2);
    }
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // `nerve-store logs query | head`: the reader has what it wanted.
        Err(err) if err.is_broken_pipe() => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{} {err}", paint::error_prefix());
            ExitCode::from(err.exit() as u8)
        }
    }
}
