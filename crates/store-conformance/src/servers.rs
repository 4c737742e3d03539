//! What the harnesses of server backends share (PostgreSQL, the moto S3 server): each test
//! process starts a throwaway server with a folder of its own under the temporary folder,
//! named `<kind>-<pid>-<nanos>`; a child process of a case uses its parent's; the folders of
//! ended processes are swept.

use std::path::{Path, PathBuf};

/// A new folder for this process's server of `kind` (`nerve-pg`, `nerve-s3`) under `temp`,
/// after sweeping the folders of servers whose test process has ended.
///
/// # Errors
/// The folder cannot be made: the message says where.
pub fn fresh_folder(temp: &Path, kind: &str) -> Result<PathBuf, String> {
    sweep(temp, kind);
    let dir = temp.join(format!(
        "{kind}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).map_err(|err| format!("creating {}: {err}", dir.display()))?;
    Ok(dir)
}

/// Removes the folders of servers of `kind` whose test process has ended.
fn sweep(temp: &Path, kind: &str) {
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    let prefix = format!("{kind}-");
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The folders of the servers of `kind` that the test process which started this one made,
/// with `file` in each read (the server's address, as it recorded it).
pub fn parents_folders(temp: &Path, kind: &str, file: &str) -> Vec<(PathBuf, String)> {
    let prefix = format!("{kind}-{}-", std::os::unix::process::parent_id());
    let Ok(entries) = std::fs::read_dir(temp) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(&prefix))
        .filter_map(|entry| {
            let address = std::fs::read_to_string(entry.path().join(file)).ok()?;
            Some((entry.path(), address.trim().to_owned()))
        })
        .collect()
}
