//! `meta get|set|delete|ls`.

use nerve_store::Store;
use serde::Serialize;

use crate::cli::MetaCommand;
use crate::error::{CliError, CliResult};
use crate::output::{Out, Table};

/// A key and its value, as `--json` shows them (`get`, `ls`).
#[derive(Serialize)]
struct Pair<'a> {
    key: &'a str,
    value: &'a str,
}

/// What `set --json` shows: the value before, `null` when the key was new.
#[derive(Serialize)]
struct Set<'a> {
    key: &'a str,
    value: &'a str,
    previous: Option<&'a str>,
}

/// What `delete --json` shows.
#[derive(Serialize)]
struct Deleted<'a> {
    key: &'a str,
    deleted: bool,
}

pub(crate) fn run(store: &Store, command: MetaCommand, out: &mut Out) -> CliResult<()> {
    match command {
        MetaCommand::Get { key } => {
            let Some(value) = store.log.meta_get(&key)? else {
                return Err(CliError::not_found(
                    format!("no meta key {key:?} in {}", store.location),
                    "`nerve-store meta ls` lists the keys there are",
                ));
            };
            if out.structured() {
                out.report(&Pair {
                    key: &key,
                    value: &value,
                })
            } else {
                out.line(value)
            }
        }
        MetaCommand::Set { key, value } => {
            let previous = store.log.meta_get(&key)?;
            store.log.meta_set(&key, &value)?;
            if out.structured() {
                out.report(&Set {
                    key: &key,
                    value: &value,
                    previous: previous.as_deref(),
                })
            } else {
                match previous {
                    Some(previous) => out.line(format!("{key} = {value} (was {previous})")),
                    None => out.line(format!("{key} = {value}")),
                }
            }
        }
        MetaCommand::Delete { key } => {
            let deleted = store.log.meta_delete(&key)?;
            if out.structured() {
                out.report(&Deleted { key: &key, deleted })
            } else if deleted {
                out.line(format!("deleted {key}"))
            } else {
                out.line(format!("{key} was not set"))
            }
        }
        MetaCommand::Ls => ls(store, out),
    }
}

/// `meta ls`: every key with its value.
fn ls(store: &Store, out: &mut Out) -> CliResult<()> {
    let pairs = store.log.meta_entries()?;
    if out.json() {
        for (key, value) in &pairs {
            out.object(&Pair { key, value })?;
        }
        return Ok(());
    }
    let mut table = Table::new(&["KEY", "VALUE"]);
    for (key, value) in pairs {
        table.row(vec![key, value]);
    }
    out.table(&table)
}
