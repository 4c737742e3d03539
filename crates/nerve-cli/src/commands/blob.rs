//! `blob put|get|ls|verify`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use nerve_store::{BlobHealth, BlobHolder, Digest, Store, StoreError};
use serde::Serialize;

use crate::cli::BlobCommand;
use crate::error::{CliError, CliResult};
use crate::output::{Out, Table};

/// The largest blob `blob get` verifies whole in memory before writing it to standard
/// output; a larger one is streamed.
const WHOLE_TO_STDOUT: u64 = 64 << 20;

/// A blob as `--json` shows it: `put` and `ls`.
#[derive(Serialize)]
struct Blob {
    digest: Digest,
    bytes: u64,
}

/// One blob's health as `verify DIGEST --json` shows it.
#[derive(Serialize)]
struct Health {
    digest: Digest,
    health: &'static str,
}

pub(crate) fn run(store: &Store, command: BlobCommand, out: &mut Out) -> CliResult<()> {
    match command {
        BlobCommand::Put { file } => {
            let (digest, bytes) = if file.as_os_str() == "-" {
                put(store, &mut io::stdin().lock())?
            } else {
                let mut source = File::open(&file)
                    .map_err(CliError::io(format!("opening {}", file.display())))?;
                put(store, &mut source)?
            };
            if out.structured() {
                out.report(&Blob { digest, bytes })
            } else {
                out.line(digest)
            }
        }
        BlobCommand::Get { digest, output } => {
            get(store, &Digest::parse_loose(&digest)?, output.as_deref())
        }
        BlobCommand::Ls => ls(store, out),
        BlobCommand::Refs {
            digest,
            archive_dir,
        } => {
            let dir = archive_dir.unwrap_or_else(|| store.location.archive_dir());
            let archive = nerve_store::archive::ArchiveAt::open(&dir)?;
            refs(store, &Digest::parse_loose(&digest)?, &archive, out)
        }
        BlobCommand::Verify { all: true, .. } => verify_all(store, out),
        BlobCommand::Verify {
            digest: Some(digest),
            ..
        } => verify(store, &Digest::parse_loose(&digest)?, out),
        BlobCommand::Verify { digest: None, .. } => Err(CliError::refused(
            "nothing to verify",
            "give a DIGEST, or --all",
        )),
    }
}

/// `blob get`: the blob's content, verified, to `output` or standard output.
fn get(store: &Store, digest: &Digest, output: Option<&Path>) -> CliResult<()> {
    let size = store.blobs.len(digest)?;
    if output.is_none() && size.is_some_and(|size| size <= WHOLE_TO_STDOUT) {
        // Verified whole before a byte goes out.
        let Some(content) = store.blobs.read(digest)? else {
            return Err(missing(store, digest));
        };
        let mut stdout = io::stdout().lock();
        return stdout
            .write_all(&content)
            .and_then(|()| stdout.flush())
            .map_err(CliError::io("writing to standard output"));
    }
    let Some(mut reader) = store.blobs.open(digest)? else {
        return Err(missing(store, digest));
    };
    match output {
        Some(path) => write_verified_file(&mut reader, path, digest),
        None => {
            // Too large to hold: streamed, so a damaged blob fails at its end, after its
            // bytes went out, with a non-zero exit.
            let mut stdout = io::stdout().lock();
            copy(&mut reader, &mut stdout, digest)?;
            stdout
                .flush()
                .map_err(CliError::io("writing to standard output"))
        }
    }
}

/// `blob ls`: every blob with its size.
fn ls(store: &Store, out: &mut Out) -> CliResult<()> {
    let mut table = Table::new(&["DIGEST", "SIZE"]);
    for digest in store.blobs.list()? {
        let Some(bytes) = store.blobs.len(&digest)? else {
            continue; // deleted since the listing
        };
        if out.json() {
            out.object(&Blob { digest, bytes })?;
        } else {
            table.row(vec![digest.to_string(), out.bytes(bytes)]);
        }
    }
    if !out.json() {
        out.table(&table)?;
    }
    Ok(())
}

/// One holder of a blob as `refs --json` shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Holder {
    #[serde(flatten)]
    holder: Option<BlobHolder>,
    /// An archived day that references the blob.
    #[serde(skip_serializing_if = "Option::is_none")]
    archived_day: Option<chrono::NaiveDate>,
}

/// `blob refs DIGEST`: what references the blob, in the store (a page at a time) and in the
/// days of its archive.
fn refs(
    store: &Store,
    digest: &Digest,
    archive: &nerve_store::archive::ArchiveAt,
    out: &mut Out,
) -> CliResult<()> {
    const PAGE: usize = 1000;
    let mut table = Table::new(&["HOLDER", "ID"]);
    let mut count = 0u64;
    let mut show = |holder: Option<BlobHolder>, day: Option<chrono::NaiveDate>, out: &mut Out| {
        count += 1;
        if out.json() {
            return out.object(&Holder {
                holder,
                archived_day: day,
            });
        }
        let (kind, id) = match (&holder, day) {
            (Some(BlobHolder::Entry(id)), _) => ("entry", id.to_string()),
            (Some(BlobHolder::Meta(key)), _) => ("meta", key.clone()),
            (Some(BlobHolder::Run(run)), _) => ("run", run.clone()),
            (None, Some(day)) => ("archived day", day.to_string()),
            (None, None) => return Ok(()),
        };
        table.row(vec![kind.to_owned(), id]);
        Ok(())
    };
    let mut after: Option<BlobHolder> = None;
    loop {
        let page = store.log.references(digest, after.as_ref(), PAGE)?;
        let last = page.last().cloned();
        let done = page.len() < PAGE;
        for holder in page {
            show(Some(holder), None, out)?;
        }
        if done {
            break;
        }
        after = last;
    }
    for day in archive.days_referencing(digest)? {
        show(None, Some(day), out)?;
    }
    if !out.json() {
        out.table(&table)?;
        if count == 0 {
            let there = if store.blobs.len(digest)?.is_some() {
                "it is in the store; `gc` removes it once it is older than the grace period"
            } else {
                "and it is not in the store"
            };
            out.line(format!("nothing references {digest}: {there}"))?;
        }
    }
    Ok(())
}

/// `blob verify --all`: every blob re-hashed; fails on the first corrupt one.
fn verify_all(store: &Store, out: &mut Out) -> CliResult<()> {
    let report = store.blobs.verify_all()?;
    if out.structured() {
        out.report(&report)?;
    } else {
        out.line(format!(
            "{} blobs checked, {} corrupt",
            report.checked,
            report.corrupt.len()
        ))?;
        for digest in &report.corrupt {
            out.line(format!("corrupt {digest}"))?;
        }
    }
    match report.corrupt.first() {
        Some(first) => Err(StoreError::Corrupt { digest: *first }.into()),
        None => Ok(()),
    }
}

/// `blob verify DIGEST`: one blob re-hashed.
fn verify(store: &Store, digest: &Digest, out: &mut Out) -> CliResult<()> {
    let health = store.blobs.verify(digest)?;
    let name = match health {
        BlobHealth::Intact => "intact",
        BlobHealth::Missing => "missing",
        BlobHealth::Corrupt => "corrupt",
    };
    if out.structured() {
        out.report(&Health {
            digest: *digest,
            health: name,
        })?;
    } else {
        out.line(format!("{digest} {name}"))?;
    }
    match health {
        BlobHealth::Intact => Ok(()),
        BlobHealth::Missing => Err(missing(store, digest)),
        BlobHealth::Corrupt => Err(StoreError::Corrupt { digest: *digest }.into()),
    }
}

fn missing(store: &Store, digest: &Digest) -> CliError {
    CliError::not_found(
        format!("no blob {digest} in {}", store.location),
        "`nerve-store blob ls` lists the blobs there are",
    )
}

/// Writes `source` as a blob, counting its bytes.
fn put(store: &Store, source: &mut dyn Read) -> CliResult<(Digest, u64)> {
    let mut counting = Counting {
        inner: source,
        bytes: 0,
    };
    let digest = store.blobs.write_from(&mut counting)?;
    Ok((digest, counting.bytes))
}

struct Counting<'a> {
    inner: &'a mut dyn Read,
    bytes: u64,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Copies a verifying reader to `sink`. An error the reader raised (a digest mismatch at
/// the end) is the store's, through `StoreError::from_blob_read`; any other is the copy's own.
fn copy(reader: &mut dyn Read, sink: &mut dyn Write, digest: &Digest) -> CliResult<u64> {
    io::copy(reader, sink).map_err(|err| {
        if err.get_ref().is_some_and(|inner| inner.is::<StoreError>()) {
            CliError::Store(StoreError::from_blob_read(err, &digest.to_hex()))
        } else {
            CliError::Io {
                context: format!("copying blob {digest}"),
                source: err,
            }
        }
    })
}

/// Writes the blob to a temporary file beside `path` and renames it into place once the
/// whole content is verified: `path` never holds a damaged or partial blob.
fn write_verified_file(reader: &mut dyn Read, path: &Path, digest: &Digest) -> CliResult<()> {
    let name = path
        .file_name()
        .map_or_else(|| "blob".into(), |n| n.to_string_lossy().into_owned());
    let partial = path.with_file_name(format!(".{name}.partial"));
    let result = (|| {
        let mut file = File::create(&partial)
            .map_err(CliError::io(format!("creating {}", partial.display())))?;
        copy(reader, &mut file, digest)?;
        file.sync_all()
            .map_err(CliError::io(format!("syncing {}", partial.display())))?;
        std::fs::rename(&partial, path)
            .map_err(CliError::io(format!("renaming to {}", path.display())))?;
        // The new name survives a power loss only once its folder is synced.
        let folder = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        File::open(folder)
            .and_then(|folder| folder.sync_all())
            .map_err(CliError::io(format!("syncing {}", folder.display())))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}
