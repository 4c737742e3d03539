//! The seal of a store's file: what the file looked like (its identity, size and change
//! times) when this store last closed it cleanly, kept beside it in `FILE.sealed`.
//!
//! redb trusts a file that was shut down cleanly and may panic, or abort in its cleanup,
//! on pages damaged behind its back, while the check that finds such damage reads the
//! whole file. A file that still matches its seal was last changed by this store, which
//! closed it cleanly: it opens without the check. Any other file (new to this store, copied
//! or restored, written since by something else, or whose seal is missing or unreadable)
//! is checked whole as it opens. A crash needs no seal: redb finds its own unclean shutdown
//! and checks and repairs the file then.
//!
//! What a seal cannot see is damage that changes neither the file's size nor its change
//! time (a failing disk): that is met when the damaged page is read, and `check` finds it.

use std::path::{Path, PathBuf};

/// Where the seal of the file at `path` lives.
fn seal_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sealed");
    PathBuf::from(name)
}

/// The file's identity and change marks as one line, or `None` when it cannot be read.
#[cfg(unix)]
fn fingerprint(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).ok()?;
    Some(format!(
        "redb-seal 1 dev {} ino {} len {} mtime {}.{:09} ctime {}.{:09}\n",
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
    ))
}

/// Without the change time of Unix, no file is ever taken as sealed.
#[cfg(not(unix))]
fn fingerprint(_path: &Path) -> Option<String> {
    None
}

/// Whether the file at `path` is as this store left it when it last closed it cleanly.
pub(crate) fn is_sealed(path: &Path) -> bool {
    let Ok(seal) = std::fs::read_to_string(seal_path(path)) else {
        return false;
    };
    fingerprint(path).is_some_and(|now| now == seal)
}

/// Records the file at `path` as closed cleanly, just after it was. Best effort: a seal
/// that is not written only costs the next open a check of the whole file.
pub(crate) fn seal(path: &Path) {
    let Some(now) = fingerprint(path) else {
        return;
    };
    let seal = seal_path(path);
    let mut staged = seal.clone().into_os_string();
    staged.push(".tmp");
    let staged = PathBuf::from(staged);
    if std::fs::write(&staged, now).is_ok() && std::fs::rename(&staged, &seal).is_err() {
        let _ = std::fs::remove_file(&staged);
    }
}

/// Forgets the seal of the file at `path`: it is open for writing, or was left in doubt.
pub(crate) fn break_seal(path: &Path) {
    let _ = std::fs::remove_file(seal_path(path));
}

/// What the seal file says while writers have the file open: never a fingerprint, so the
/// file is not taken as sealed until the last of them closes it cleanly.
const OPEN_MARK: &[u8] = b"redb-seal 1 open\n";

/// Makes `content` the whole of the seal file `file`, in place (the same inode).
fn rewrite(mut file: &std::fs::File, content: &[u8]) -> std::io::Result<()> {
    use std::io::{Seek as _, Write as _};
    file.set_len(0)?;
    file.rewind()?;
    file.write_all(content)
}

/// A writer's word, while it has the file open, that the file was checked when it opened
/// it (or matched its seal): a shared lock on the seal file, held until this drops. Every
/// writer holds one on the same file (the seal file is rewritten in place, never replaced,
/// while any writer has it), so a read-only open can tell, by failing to lock it
/// exclusively, that a writer that checked the file has it open now.
pub(crate) struct Vouch(std::fs::File);

/// Takes a writer's [`Vouch`] for the file at `path` and marks its seal open. `None` when the
/// seal file cannot be made or locked (a read-only folder, say): then no reader is told the
/// file was checked, and read-only opens read it through whole until it is sealed again.
pub(crate) fn vouch(path: &Path) -> Option<Vouch> {
    let file = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(seal_path(path))
        .ok()?;
    file.lock_shared().ok()?;
    rewrite(&file, OPEN_MARK).ok()?;
    Some(Vouch(file))
}

/// Closes a writer's [`Vouch`] after a clean close of the file at `path`, sealing the file
/// when no other writer still has it open (an exclusive lock on the seal file is then
/// granted); otherwise the last of them seals it. Best effort, as [`seal`].
pub(crate) fn seal_vouched(path: &Path, vouch: Vouch) {
    let Vouch(file) = vouch;
    if file.unlock().is_err() || file.try_lock().is_err() {
        return;
    }
    let Some(now) = fingerprint(path) else {
        return;
    };
    // In place, on the inode every writer locks.
    let _ = rewrite(&file, now.as_bytes());
}

/// Whether a read-only open may trust the file at `path` without checking it: it is sealed
/// (as the store left it at its last clean close), or a writer that checked it when it
/// opened it has it open now ([`Vouch`]).
pub(crate) fn is_sealed_or_vouched(path: &Path) -> bool {
    if is_sealed(path) {
        return true;
    }
    let Ok(file) = std::fs::File::open(seal_path(path)) else {
        return false;
    };
    matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_matches_its_seal_until_it_changes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("store.redb");
        std::fs::write(&path, b"pages").expect("write");
        assert!(!is_sealed(&path), "no seal yet");
        seal(&path);
        assert!(is_sealed(&path), "sealed as it is");
        std::fs::write(&path, b"pagez").expect("rewrite, same size");
        assert!(!is_sealed(&path), "changed behind the seal's back");
        seal(&path);
        break_seal(&path);
        assert!(!is_sealed(&path), "the seal was broken");
    }

    #[test]
    fn a_copy_does_not_carry_the_seal_of_its_original() {
        let dir = tempfile::tempdir().expect("temp dir");
        let original = dir.path().join("a.redb");
        let copy = dir.path().join("b.redb");
        std::fs::write(&original, b"pages").expect("write");
        seal(&original);
        std::fs::copy(&original, &copy).expect("copy");
        std::fs::copy(seal_path(&original), seal_path(&copy)).expect("copy the seal too");
        assert!(!is_sealed(&copy), "another inode, another file");
    }
}
