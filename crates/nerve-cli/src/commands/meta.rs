//! `meta get|set|delete|ls`.

use nerve_store::Store;
use serde_json::json;

use crate::cli::MetaCommand;
use crate::error::{CliError, CliResult};
use crate::output::{Out, Table};

pub(crate) fn run(store: &Store, command: MetaCommand, out: &mut Out) -> CliResult<()> {
    match command {
        MetaCommand::Get { key } => {
            let Some(value) = store.log.meta_get(&key)? else {
                return Err(CliError::not_found(
                    format!("no meta key {key:?} in {}", store.location),
                    "`nerve-store meta ls` lists the keys there are",
                ));
            };
            if out.json() {
                out.object(&json!({ "key": key, "value": value }))
            } else {
                out.line(value)
            }
        }
        MetaCommand::Set { key, value } => {
            let previous = store.log.meta_get(&key)?;
            store.log.meta_set(&key, &value)?;
            if out.json() {
                out.object(&json!({ "key": key, "value": value, "previous": previous }))
            } else {
                match previous {
                    Some(previous) => out.line(format!("{key} = {value} (was {previous})")),
                    None => out.line(format!("{key} = {value}")),
                }
            }
        }
        MetaCommand::Delete { key } => {
            let deleted = store.log.meta_delete(&key)?;
            if out.json() {
                out.object(&json!({ "key": key, "deleted": deleted }))
            } else if deleted {
                out.line(format!("deleted {key}"))
            } else {
                out.line(format!("{key} was not set"))
            }
        }
        MetaCommand::Ls => {
            let pairs = store.log.meta_entries()?;
            if out.json() {
                for (key, value) in &pairs {
                    out.object(&json!({ "key": key, "value": value }))?;
                }
                return Ok(());
            }
            let mut table = Table::new(&["KEY", "VALUE"]);
            for (key, value) in pairs {
                table.row(vec![key, value]);
            }
            out.table(&table)
        }
    }
}
