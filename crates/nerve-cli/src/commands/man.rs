//! `man`: the manual pages, generated from the command line's own definition (clap_mangen),
//! one for the program and one for each command, each with the sections clap does not know:
//! ENVIRONMENT and EXIT STATUS.

use std::path::Path;

use crate::cli::Cli;
use crate::error::{CliError, CliResult};
use crate::output::Out;

/// The variables the program reads, as the ENVIRONMENT section lists them.
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "NERVE_STORE",
        "The store when --store is not given: sqlite:PATH, redb:PATH, a path ending in .db or \
         .redb, or postgres://USER@HOST/DB?schema=NAME.",
    ),
    (
        "NERVE_BLOBS",
        "Where the store's blobs are when not beside it, as --blobs takes it: \
         s3://BUCKET/PREFIX.",
    ),
    (
        "NERVE_CONSOLE_TOKEN",
        "The token serve asks of every request (Authorization: Bearer, or the cookie that \
         /?token= sets); needed to serve on any address but loopback. Read from the \
         environment only, so that it is not in the process list; never shown.",
    ),
    (
        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, \
         AWS_ENDPOINT_URL",
        "How an s3:// location (--blobs, archive --dir, push --to, pull --from) is \
         reached, as the AWS tools take them; without keys, the machine's role. The secret key \
         is never shown.",
    ),
    (
        "NO_COLOR",
        "When set to anything, verdicts and errors are not coloured (--color auto).",
    ),
    (
        "COLUMNS",
        "The width table lines are cut to, whatever the output; unset, lines are cut to a \
         terminal's width and left whole in a file or a pipe.",
    ),
    (
        "SOURCE_DATE_EPOCH",
        "Seconds since 1970: the time the program takes as now, for output that comes out the \
         same on every run (the README's examples run at one). simulate stamps every step from \
         it, --since 1h and today count from it, archive keeps its days from it. A value that \
         is not whole seconds exits 2.",
    ),
    (
        "TZ",
        "The zone of local times given to --since and --until (2026-12-01 10:00, today); the \
         system's zone when unset.",
    ),
    (
        "PGPASSWORD",
        "Not read: a PostgreSQL password goes in the location, and is never shown.",
    ),
];

/// The page of the command `path` names (the program's when empty), to standard output.
pub(crate) fn print(path: &[String]) -> CliResult<()> {
    let mut command = program();
    for name in path {
        command = command.find_subcommand(name).cloned().ok_or_else(|| {
            CliError::not_found(
                format!("no command {:?}", path.join(" ")),
                "`nerve-store --help` lists the commands",
            )
        })?;
    }
    let name = std::iter::once("nerve-store".to_owned())
        .chain(path.iter().cloned())
        .collect::<Vec<_>>()
        .join("-");
    super::print_bytes(&page(command.name(name))?, "writing the man page")
}

/// Every page, the program's and each command's, into `dir`; their paths printed.
pub(crate) fn write_all(dir: &Path, out: &mut Out) -> CliResult<()> {
    std::fs::create_dir_all(dir).map_err(CliError::io(format!("creating {}", dir.display())))?;
    let mut pages = Vec::new();
    collect(program(), "nerve-store".to_owned(), &mut pages);
    for (name, command) in pages {
        let file = dir.join(format!("{name}.1"));
        std::fs::write(&file, page(command.name(name))?)
            .map_err(CliError::io(format!("writing {}", file.display())))?;
        out.line(file.display())?;
    }
    Ok(())
}

/// The program's command line, built, without the `help` command.
fn program() -> clap::Command {
    let mut command = <Cli as clap::CommandFactory>::command().disable_help_subcommand(true);
    command.build();
    command
}

/// `command` and every command under it, each with its page's name.
fn collect(command: clap::Command, name: String, pages: &mut Vec<(String, clap::Command)>) {
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        collect(sub.clone(), format!("{name}-{}", sub.get_name()), pages);
    }
    pages.push((name, command));
}

/// The page of `command`: what clap_mangen renders, then ENVIRONMENT and EXIT STATUS.
fn page(command: clap::Command) -> CliResult<Vec<u8>> {
    let man = clap_mangen::Man::new(command);
    let mut page = Vec::new();
    man.render(&mut page)
        .map_err(CliError::io("rendering the man page"))?;
    page.extend_from_slice(b".SH ENVIRONMENT\n");
    for (name, meaning) in ENVIRONMENT {
        page.extend_from_slice(format!(".TP\n\\fB{name}\\fR\n{}\n", roff(meaning)).as_bytes());
    }
    page.extend_from_slice(b".SH \"EXIT STATUS\"\n");
    for status in crate::error::EXIT_STATUSES
        .trim_start_matches("Exit status: ")
        .split("; ")
    {
        let (code, meaning) = status.split_once(' ').unwrap_or((status, ""));
        page.extend_from_slice(format!(".TP\n\\fB{code}\\fR\n{}\n", roff(meaning)).as_bytes());
    }
    Ok(page)
}

/// `text` safe in a roff line: backslashes doubled, a leading dot or quote escaped.
fn roff(text: &str) -> String {
    let text = text.replace('\\', "\\\\");
    if text.starts_with(['.', '\'']) {
        format!("\\&{text}")
    } else {
        text
    }
}
