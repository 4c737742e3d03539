//! `thread show`.

use nerve_store::{GetThreadRoundsParams, Store};

use crate::cli::ThreadCommand;
use crate::error::{CliError, CliResult};
use crate::output::{Out, Table};

pub(crate) fn run(store: &Store, command: ThreadCommand, out: &mut Out) -> CliResult<()> {
    let ThreadCommand::Show {
        thread,
        role,
        from_round,
    } = command;
    let Some(last_round) = store.log.last_round(&thread)? else {
        let hint = match super::logs::archived_until(store)? {
            // Its messages may have left with their days: they are entries about the thread.
            Some(last) => format!(
                "days up to {last} are archived: `nerve-store logs query --ref {thread} \
                 --archive` reads the thread's messages there; `nerve-store runs list` shows \
                 each run's thread"
            ),
            None => "`nerve-store runs list` shows each run's thread".to_owned(),
        };
        return Err(CliError::not_found(
            format!("thread {thread:?} has no messages in {}", store.location),
            hint,
        ));
    };
    let rows = store.log.thread_rounds(&GetThreadRoundsParams {
        thread_id: thread.clone(),
        role,
        from_round,
        limit: Some(usize::MAX),
    })?;
    if out.json() {
        for row in &rows {
            out.object(row)?;
        }
        return Ok(());
    }
    out.line(format!(
        "thread {thread}: {} messages shown, last round {last_round}",
        rows.len()
    ))?;
    let mut table = Table::new(&["ROUND", "ROLE", "ID", "TIME", "PAYLOAD"]);
    let mut previous = None;
    for row in rows {
        // The round is printed where it starts, so the rounds stand out.
        let round = if previous == Some(row.round) {
            String::new()
        } else {
            row.round.to_string()
        };
        previous = Some(row.round);
        table.row(vec![
            round,
            row.role,
            row.log_id.0.to_string(),
            super::runs::time(row.ts),
            row.payload,
        ]);
    }
    out.table(&table)
}
