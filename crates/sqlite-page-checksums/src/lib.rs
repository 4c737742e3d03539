//! A SQLite VFS shim that keeps a checksum in the last 8 bytes of every page of a database
//! file and checks it on every page read, so that a page damaged on the disk (a flipped bit
//! in a table *or index* page) is an error, [`rusqlite::ErrorCode::SystemIoFailure`] with the
//! extended code `SQLITE_IOERR_DATA`, instead of a silently wrong answer.
//!
//! The format is that of SQLite's own `cksumvfs` extension (`ext/misc/cksumvfs.c`): the
//! file's "reserved bytes per page" (byte 20 of its header) is 8, and each page ends with two
//! little-endian 32-bit sums over the page's other bytes. So SQLite's shell with `cksumvfs`
//! loaded can check a file this crate wrote, and the other way round.
//!
//! How to use it:
//!
//! 1. [`register`] once (any number of calls is fine; the first registers);
//! 2. open connections with the VFS named [`VFS_NAME`]
//!    (`Connection::open_with_flags_and_vfs`);
//! 3. on a new file, call [`request_checksums`] before the first write; on an existing file,
//!    call it and then run `VACUUM`, which rewrites every page with its checksum.
//!
//! What it checks and what it does not:
//!
//! - Checked: every full page read from the main database file, through `read` or through a
//!   memory map. A page whose sums do not match fails the read; [`take_last_failure`] names
//!   its offset. A page of all zeros (never written) passes, as in `cksumvfs`.
//! - Written: the sums of every page written to the main database file, in a copy of the
//!   page (SQLite's buffer is never changed).
//! - Not checked: pages read from the WAL. SQLite's WAL frames carry their own checksums,
//!   which SQLite checks when it recovers the WAL, and every page reaches the database file,
//!   checksummed, at the next checkpoint. (`cksumvfs` puts the sums into WAL pages too,
//!   writing them into SQLite's buffer as the page goes out; this crate never changes
//!   SQLite's buffer and leaves the WAL to SQLite.)
//! - Files without 8 reserved bytes per page are passed through unchecked; a caller that
//!   expects checksums asks [`reserved_bytes`].

mod vfs;

use rusqlite::Connection;

/// The name under which [`register`] registers the VFS; pass it to
/// `Connection::open_with_flags_and_vfs`.
pub const VFS_NAME: &str = "nerve-page-checksums";

/// The reserved bytes per page that a file with checksums has: the checksum's size.
pub const RESERVED_BYTES: u8 = 8;

/// Registers the VFS under [`VFS_NAME`], beside (not instead of) SQLite's default VFS, which
/// it wraps. Registers once per process; every later call returns the first call's result.
///
/// # Errors
///
/// [`rusqlite::Error::SqliteFailure`] when SQLite cannot be initialised, has no default VFS,
/// or refuses the registration.
pub fn register() -> rusqlite::Result<()> {
    vfs::register()
}

/// Asks SQLite to reserve [`RESERVED_BYTES`] at the end of each page of the connection's main
/// database: effective at once on a file with no pages yet, and on an existing file at its
/// next `VACUUM`. SQLite never lowers reserved bytes, so a file that has them keeps them.
///
/// # Errors
///
/// The engine's error when the file control fails.
pub fn request_checksums(conn: &Connection) -> rusqlite::Result<()> {
    vfs::reserve_bytes(conn, i32::from(RESERVED_BYTES)).map(drop)
}

/// The reserved bytes per page of the connection's main database as SQLite uses them (the
/// larger of the file's and the last requested); [`RESERVED_BYTES`] when its pages carry
/// checksums. Read it after the file's header was read (after any query).
///
/// # Errors
///
/// The engine's error when the file control fails.
pub fn reserved_bytes(conn: &Connection) -> rusqlite::Result<u8> {
    vfs::reserve_bytes(conn, -1).map(|n| u8::try_from(n).unwrap_or(u8::MAX))
}

/// Whether `err` is a page that failed its checksum (`SQLITE_IOERR_DATA`).
#[must_use]
pub fn is_checksum_failure(err: &rusqlite::Error) -> bool {
    matches!(
        err,
        rusqlite::Error::SqliteFailure(inner, _)
            if inner.extended_code == rusqlite::ffi::SQLITE_IOERR_DATA
    )
}

/// A page read from a database file whose checksum did not match its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageFailure {
    /// The byte offset of the page in the file.
    pub offset: u64,
    /// The page size of the file.
    pub page_size: u32,
}

impl PageFailure {
    /// The page's number, counted from 1 as SQLite does.
    #[must_use]
    pub fn page_number(&self) -> u64 {
        self.offset / u64::from(self.page_size.max(1)) + 1
    }
}

impl std::fmt::Display for PageFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "page {} (bytes {} to {}) failed its checksum",
            self.page_number(),
            self.offset,
            self.offset + u64::from(self.page_size)
        )
    }
}

/// The last page that failed its checksum on this thread, if any since the last call: SQLite
/// reads on the thread that runs the statement, so right after a failed call it is the page
/// that failed it.
#[must_use]
pub fn take_last_failure() -> Option<PageFailure> {
    vfs::LAST_FAILURE.with(std::cell::Cell::take)
}

/// The checksum of a page: two little-endian 32-bit sums over all its bytes but the last 8,
/// as `cksumvfs` computes them. `page.len()` is a multiple of 8 of at least 16 (SQLite's page
/// sizes are powers of two from 512 to 65,536).
#[must_use]
pub fn page_checksum(page: &[u8]) -> [u8; 8] {
    let body = &page[..page.len().saturating_sub(8)];
    let (mut s1, mut s2) = (0_u32, 0_u32);
    for pair in body.chunks_exact(8) {
        let (a, b) = pair.split_at(4);
        let word = |bytes: &[u8]| u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        s1 = s1.wrapping_add(word(a)).wrapping_add(s2);
        s2 = s2.wrapping_add(word(b)).wrapping_add(s1);
    }
    let mut out = [0_u8; 8];
    out[..4].copy_from_slice(&s1.to_le_bytes());
    out[4..].copy_from_slice(&s2.to_le_bytes());
    out
}

/// Whether a page's last 8 bytes are the checksum of the rest ([`page_checksum`]).
#[must_use]
pub fn page_is_intact(page: &[u8]) -> bool {
    page.len() >= 16 && page[page.len() - 8..] == page_checksum(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_with_its_checksum_is_intact_and_any_flipped_bit_is_seen() {
        let mut page: Vec<u8> = (0..4096_u32).map(|i| (i * 7 % 251) as u8).collect();
        let sums = page_checksum(&page);
        page[4088..].copy_from_slice(&sums);
        assert!(page_is_intact(&page));
        for bit in (0..4096 * 8).step_by(37) {
            page[bit / 8] ^= 1 << (bit % 8);
            assert!(!page_is_intact(&page), "bit {bit} flipped unseen");
            page[bit / 8] ^= 1 << (bit % 8);
        }
    }

    #[test]
    fn a_page_of_zeros_is_intact_as_in_cksumvfs() {
        assert!(page_is_intact(&[0_u8; 4096]));
    }

    #[test]
    fn a_failure_names_the_page_counted_from_one() {
        let failure = PageFailure {
            offset: 8192,
            page_size: 4096,
        };
        assert_eq!(failure.page_number(), 3);
        assert_eq!(
            failure.to_string(),
            "page 3 (bytes 8192 to 12288) failed its checksum"
        );
    }
}
