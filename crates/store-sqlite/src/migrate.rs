//! Schema migrations, each inside the open's immediate transaction: a crash leaves the file
//! at the old version, whole.

use rusqlite::{Transaction, params};

use crate::checksum;

/// Rows read and rewritten at a time, so a large file migrates in flat memory.
const PAGE: i64 = 10_000;

/// Version 1 to 2: a `crc` column on `logs`, `runs`, `thread_messages` and `meta`, filled with
/// each existing row's checksum (rows that were already damaged get a checksum of their damage:
/// the migration cannot know better); the day index on a `day` column instead of the
/// expression it computes; and the `big_payload` column, last.
pub(crate) fn v1_to_v2(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "DROP INDEX logs_by_day;
         ALTER TABLE logs ADD COLUMN day INTEGER NOT NULL DEFAULT 0;
         UPDATE logs SET day = (ts - (ts % 86400000 + 86400000) % 86400000) / 86400000;
         CREATE INDEX logs_by_day ON logs (day, id);
         ALTER TABLE logs ADD COLUMN crc INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE runs ADD COLUMN crc INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE thread_messages ADD COLUMN crc INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE meta ADD COLUMN crc INTEGER NOT NULL DEFAULT 0;
         ALTER TABLE logs ADD COLUMN big_payload BLOB;",
    )?;
    let mut after = i64::MIN;
    loop {
        let page: Vec<(i64, i64)> = tx
            .prepare(
                "SELECT id, source, kind, ref_id, payload, ts FROM logs \
                 WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?
            .query_map(params![after, PAGE], |row| {
                let id: i64 = row.get(0)?;
                let ref_id: Option<String> = row.get(3)?;
                let crc = checksum::log_row(
                    id,
                    &row.get::<_, String>(1)?,
                    &row.get::<_, String>(2)?,
                    ref_id.as_deref(),
                    &row.get::<_, String>(4)?,
                    row.get(5)?,
                );
                Ok((id, crc))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let Some(&(last, _)) = page.last() else {
            break;
        };
        let mut update = tx.prepare_cached("UPDATE logs SET crc = ?2 WHERE id = ?1")?;
        for (id, crc) in page {
            update.execute(params![id, crc])?;
        }
        after = last;
    }
    let threads: Vec<(i64, i64)> = tx
        .prepare("SELECT log_id, thread_id, round, role FROM thread_messages")?
        .query_map([], |row| {
            let id: i64 = row.get(0)?;
            let crc = checksum::thread_row(
                id,
                &row.get::<_, String>(1)?,
                row.get(2)?,
                &row.get::<_, String>(3)?,
            );
            Ok((id, crc))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (id, crc) in threads {
        tx.execute(
            "UPDATE thread_messages SET crc = ?2 WHERE log_id = ?1",
            params![id, crc],
        )?;
    }
    let meta: Vec<(String, i64)> = tx
        .prepare("SELECT key, value FROM meta")?
        .query_map([], |row| {
            let key: String = row.get(0)?;
            let crc = checksum::meta_row(&key, &row.get::<_, String>(1)?);
            Ok((key, crc))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (key, crc) in meta {
        tx.execute("UPDATE meta SET crc = ?2 WHERE key = ?1", params![key, crc])?;
    }
    let runs: Vec<(String, i64)> = {
        let mut stmt = tx.prepare(&format!("SELECT {} FROM runs", V1_RUN_COLUMNS))?;
        let mut rows = stmt.query([])?;
        let mut runs = Vec::new();
        while let Some(row) = rows.next()? {
            let run_id: String = row.get(0)?;
            // A row that does not decode keeps checksum 0, which reads as the damage it is.
            if let Ok(run) = crate::read::workflow_run_v1(row) {
                runs.push((run_id, checksum::run_row(&run)));
            }
        }
        runs
    };
    for (run_id, crc) in runs {
        tx.execute(
            "UPDATE runs SET crc = ?2 WHERE run_id = ?1",
            params![run_id, crc],
        )?;
    }
    Ok(())
}

/// The columns of a run in schema 1, as [`crate::read::workflow_run_v1`] reads them.
const V1_RUN_COLUMNS: &str = "run_id, workflow, thread_id, status, attempt, created_at, \
     updated_at, started_at, finished_at, detail";

/// Marks every entry whose `ts` is below that of an entry before it (by id) as `late`, a
/// page at a time in id order: schema 3's split of the time index.
pub(crate) fn mark_late_entries(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let mut after = i64::MIN;
    let mut highest = i64::MIN;
    loop {
        let page: Vec<(i64, i64)> = tx
            .prepare_cached("SELECT id, ts FROM logs WHERE id > ?1 ORDER BY id LIMIT ?2")?
            .query_map(params![after, PAGE], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let Some(&(last, _)) = page.last() else {
            return Ok(());
        };
        let mut mark = tx.prepare_cached("UPDATE logs SET late = 1 WHERE id = ?1")?;
        for (id, ts) in page {
            if ts < highest {
                mark.execute([id])?;
            }
            highest = highest.max(ts);
        }
        after = last;
    }
}

/// Places every entry in the time order again, a page at a time in id order, as if appended
/// in that order ([`store_core::kit::TimeOrder`]): writes `late` where it changes and the time
/// marks. Schema 7. The highest `ts` the log keeps (`counts`) stays, at or above every mark,
/// so the marks of later writes go on from these.
pub(crate) fn place_entries(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    let mut order = store_core::kit::TimeOrder::new(None, None);
    let mut after = i64::MIN;
    loop {
        let page: Vec<(i64, i64, bool)> = tx
            .prepare_cached("SELECT id, ts, late FROM logs WHERE id > ?1 ORDER BY id LIMIT ?2")?
            .query_map(params![after, PAGE], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let Some(&(last, _, _)) = page.last() else {
            return Ok(());
        };
        let mut set_late = tx.prepare_cached("UPDATE logs SET late = ?2 WHERE id = ?1")?;
        let mut add_mark =
            tx.prepare_cached("INSERT INTO time_marks (mark, first_id) VALUES (?1, ?2)")?;
        for (id, ts, late) in page {
            let placed = order.place(ts, true);
            if placed.late != late {
                set_late.execute(params![id, placed.late])?;
            }
            if let Some(mark) = placed.starts_mark {
                add_mark.execute(params![mark, id])?;
            }
        }
        after = last;
    }
}
