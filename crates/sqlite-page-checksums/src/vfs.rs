//! The VFS itself: a table of C callbacks around SQLite's default VFS. Files other than main
//! databases are the default VFS's own; a main database file is wrapped in a [`CheckedFile`]
//! whose `read`, `write` and `fetch` keep and check the page sums, and whose other methods
//! pass through.
//!
//! The one module of the workspace with `unsafe`: SQLite's VFS interface is raw pointers
//! and C function tables, and every callback here follows its contract (`sqlite3.h`,
//! "OS Interface Object").

#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::OnceLock;

use rusqlite::{Connection, ffi};

use crate::{PageFailure, RESERVED_BYTES, page_checksum, page_is_intact};

/// [`crate::VFS_NAME`] as SQLite wants it.
const VFS_NAME_C: &CStr = c"nerve-page-checksums";

thread_local! {
    /// The last page that failed its checksum on this thread ([`crate::take_last_failure`]).
    pub(crate) static LAST_FAILURE: Cell<Option<PageFailure>> = const { Cell::new(None) };
    /// A page-sized buffer for writes: the page with its sums, so that SQLite's buffer stays
    /// as SQLite left it.
    static WRITE_BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A main database file: SQLite's `sqlite3_file` header, then whether its pages carry sums,
/// then (in the same allocation, `szOsFile` bytes in all) the default VFS's own file.
#[repr(C)]
struct CheckedFile {
    base: ffi::sqlite3_file,
    /// The file's header says [`RESERVED_BYTES`] reserved bytes per page. Only ever turned
    /// on: SQLite never lowers a file's reserved bytes, so a page 1 that says otherwise later
    /// is a damaged page 1, which its own sums then catch.
    checked: bool,
}

/// The default VFS's file that follows a [`CheckedFile`].
///
/// # Safety
///
/// `file` points to a [`CheckedFile`] allocated with this VFS's `szOsFile`.
unsafe fn inner_file(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    // SAFETY: the allocation is `size_of::<CheckedFile>()` bytes longer than the default
    // VFS's file, which starts right after the `CheckedFile` (whose size keeps 8-byte
    // alignment: a pointer and a padded bool).
    unsafe { file.cast::<CheckedFile>().add(1).cast() }
}

/// The VFS this one wraps.
///
/// # Safety
///
/// `vfs` is this VFS, registered by [`register_once`].
unsafe fn default_vfs(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    // SAFETY: `register_once` set `pAppData` to the default VFS, which SQLite keeps for the
    // life of the process.
    unsafe { (*vfs).pAppData.cast() }
}

pub(crate) fn register() -> rusqlite::Result<()> {
    static REGISTERED: OnceLock<c_int> = OnceLock::new();
    // SAFETY: runs once (`OnceLock`); see `register_once`.
    let rc = *REGISTERED.get_or_init(|| unsafe { register_once() });
    if rc == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(rusqlite::Error::SqliteFailure(
            ffi::Error::new(rc),
            Some(format!("registering the {} VFS", crate::VFS_NAME)),
        ))
    }
}

/// Builds the VFS around the current default VFS and registers it (not as the default).
///
/// # Safety
///
/// Called once per process.
unsafe fn register_once() -> c_int {
    // SAFETY: plain calls of SQLite's C interface; the VFS object is leaked, as SQLite keeps
    // a registered VFS's pointer until it is unregistered, which this crate never does.
    unsafe {
        let rc = ffi::sqlite3_initialize();
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        if !ffi::sqlite3_vfs_find(VFS_NAME_C.as_ptr()).is_null() {
            return ffi::SQLITE_OK;
        }
        let default = ffi::sqlite3_vfs_find(std::ptr::null());
        if default.is_null() {
            return ffi::SQLITE_ERROR;
        }
        let extra = c_int::try_from(std::mem::size_of::<CheckedFile>()).unwrap_or(c_int::MAX);
        let vfs = Box::new(ffi::sqlite3_vfs {
            iVersion: (*default).iVersion.min(3),
            szOsFile: (*default).szOsFile.saturating_add(extra),
            mxPathname: (*default).mxPathname,
            pNext: std::ptr::null_mut(),
            zName: VFS_NAME_C.as_ptr(),
            pAppData: default.cast(),
            xOpen: Some(open),
            xDelete: Some(delete),
            xAccess: Some(access),
            xFullPathname: Some(full_pathname),
            xDlOpen: Some(dl_open),
            xDlError: Some(dl_error),
            xDlSym: Some(dl_sym),
            xDlClose: Some(dl_close),
            xRandomness: Some(randomness),
            xSleep: Some(sleep),
            xCurrentTime: Some(current_time),
            xGetLastError: Some(get_last_error),
            xCurrentTimeInt64: Some(current_time_int64),
            xSetSystemCall: Some(set_system_call),
            xGetSystemCall: Some(get_system_call),
            xNextSystemCall: Some(next_system_call),
        });
        ffi::sqlite3_vfs_register(Box::into_raw(vfs), 0)
    }
}

/// `SQLITE_FCNTL_RESERVE_BYTES` on the connection's main database: sets the reserved bytes
/// to `wanted` when it is 0 to 255, and answers the value SQLite had before.
pub(crate) fn reserve_bytes(conn: &Connection, wanted: c_int) -> rusqlite::Result<c_int> {
    let mut value = wanted;
    // SAFETY: `handle` is the connection's open `sqlite3*`, used on this thread only while
    // `conn` is borrowed; the file control reads and writes one `int`.
    let rc = unsafe {
        ffi::sqlite3_file_control(
            conn.handle(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_RESERVE_BYTES,
            (&raw mut value).cast(),
        )
    };
    if rc == ffi::SQLITE_OK {
        Ok(value)
    } else {
        Err(rusqlite::Error::SqliteFailure(
            ffi::Error::new(rc),
            Some("reading or setting the reserved bytes per page".into()),
        ))
    }
}

/// A read or write of `amount` bytes that is a whole page: SQLite's page sizes are powers of
/// two from 512 to 65,536, and nothing else it reads from a database file is that large.
fn is_page(amount: c_int) -> bool {
    (512..=65_536).contains(&amount) && amount.count_ones() == 1
}

/// Turns the checks on when `bytes`, read from or written at `offset`, is a database header
/// that says [`RESERVED_BYTES`].
fn note_header(file: &mut CheckedFile, offset: i64, bytes: &[u8]) {
    if offset == 0 && bytes.len() >= 100 && bytes.starts_with(b"SQLite format 3\0") {
        file.checked |= bytes[20] == RESERVED_BYTES;
    }
}

/// For a file not (yet) known to be checked: reads its header from the disk, where another
/// connection's checkpoint may have put a page 1 with reserved bytes since this one last read
/// it, so that no page is written without its sums once the file has them.
///
/// # Safety
///
/// `file` is an open [`CheckedFile`].
unsafe fn refresh(file: *mut ffi::sqlite3_file) {
    // SAFETY: `file` is an open `CheckedFile` (caller); its inner file is open.
    unsafe {
        let this = &mut *file.cast::<CheckedFile>();
        if this.checked {
            return;
        }
        let inner = inner_file(file);
        let Some(read) = (*(*inner).pMethods).xRead else {
            return;
        };
        let mut header = [0_u8; 100];
        if read(inner, header.as_mut_ptr().cast(), 100, 0) == ffi::SQLITE_OK {
            note_header(this, 0, &header);
        }
    }
}

/// Records a page that failed its sums and answers `SQLITE_IOERR_DATA`.
fn failed(offset: i64, amount: c_int) -> c_int {
    LAST_FAILURE.with(|last| {
        last.set(Some(PageFailure {
            offset: u64::try_from(offset).unwrap_or(0),
            page_size: u32::try_from(amount).unwrap_or(0),
        }));
    });
    ffi::SQLITE_IOERR_DATA
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: Some(shm_map),
    xShmLock: Some(shm_lock),
    xShmBarrier: Some(shm_barrier),
    xShmUnmap: Some(shm_unmap),
    xFetch: Some(fetch),
    xUnfetch: Some(unfetch),
};

unsafe extern "C" fn open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: SQLite calls with this VFS, a file of `szOsFile` bytes to fill, and flags; a
    // main database is wrapped, any other file is the default VFS's alone.
    unsafe {
        let default = default_vfs(vfs);
        let Some(default_open) = (*default).xOpen else {
            return ffi::SQLITE_ERROR;
        };
        if flags & ffi::SQLITE_OPEN_MAIN_DB == 0 {
            return default_open(default, name, file, flags, out_flags);
        }
        file.cast::<CheckedFile>().write(CheckedFile {
            base: ffi::sqlite3_file {
                pMethods: &raw const METHODS,
            },
            checked: false,
        });
        let rc = default_open(default, name, inner_file(file), flags, out_flags);
        if rc != ffi::SQLITE_OK {
            // SQLite calls no method of a file whose open failed and left no methods.
            (*file).pMethods = std::ptr::null();
        }
        rc
    }
}

unsafe extern "C" fn read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    // SAFETY: SQLite passes an open file of this VFS and a buffer of `amount` bytes, which
    // the inner read fills when it answers `SQLITE_OK`.
    unsafe {
        let inner = inner_file(file);
        let Some(inner_read) = (*(*inner).pMethods).xRead else {
            return ffi::SQLITE_IOERR_READ;
        };
        let rc = inner_read(inner, buf, amount, offset);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        let bytes =
            std::slice::from_raw_parts(buf.cast::<u8>(), usize::try_from(amount).unwrap_or(0));
        note_header(&mut *file.cast::<CheckedFile>(), offset, bytes);
        if !is_page(amount) {
            return rc;
        }
        refresh(file);
        if (*file.cast::<CheckedFile>()).checked && !page_is_intact(bytes) {
            return failed(offset, amount);
        }
        rc
    }
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    buf: *const c_void,
    amount: c_int,
    offset: ffi::sqlite3_int64,
) -> c_int {
    // SAFETY: SQLite passes an open file of this VFS and `amount` bytes to write; a page is
    // written from this thread's own buffer, SQLite's left untouched.
    unsafe {
        let inner = inner_file(file);
        let Some(inner_write) = (*(*inner).pMethods).xWrite else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let bytes =
            std::slice::from_raw_parts(buf.cast::<u8>(), usize::try_from(amount).unwrap_or(0));
        note_header(&mut *file.cast::<CheckedFile>(), offset, bytes);
        if !is_page(amount) {
            return inner_write(inner, buf, amount, offset);
        }
        refresh(file);
        if !(*file.cast::<CheckedFile>()).checked {
            return inner_write(inner, buf, amount, offset);
        }
        WRITE_BUFFER.with(|buffer| {
            let mut page = buffer.borrow_mut();
            page.clear();
            page.extend_from_slice(bytes);
            let sums = page_checksum(&page);
            let end = page.len();
            page[end - 8..].copy_from_slice(&sums);
            inner_write(inner, page.as_ptr().cast(), amount, offset)
        })
    }
}

unsafe extern "C" fn fetch(
    file: *mut ffi::sqlite3_file,
    offset: ffi::sqlite3_int64,
    amount: c_int,
    page: *mut *mut c_void,
) -> c_int {
    // SAFETY: SQLite passes an open file of this VFS and where to put the mapped page; a
    // mapped page is `amount` readable bytes until it is unfetched.
    unsafe {
        let inner = inner_file(file);
        let Some(inner_fetch) = (*(*inner).pMethods).xFetch else {
            *page = std::ptr::null_mut();
            return ffi::SQLITE_OK;
        };
        let rc = inner_fetch(inner, offset, amount, page);
        if rc != ffi::SQLITE_OK || (*page).is_null() || !is_page(amount) {
            return rc;
        }
        refresh(file);
        let bytes =
            std::slice::from_raw_parts((*page).cast::<u8>(), usize::try_from(amount).unwrap_or(0));
        if (*file.cast::<CheckedFile>()).checked && !page_is_intact(bytes) {
            if let Some(unfetch) = (*(*inner).pMethods).xUnfetch {
                unfetch(inner, offset, *page);
            }
            *page = std::ptr::null_mut();
            return failed(offset, amount);
        }
        rc
    }
}

/// A method of a wrapped file that only passes the call to the inner file.
macro_rules! pass_to_inner {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty, $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file $(, $arg: $ty)*) -> $ret {
            // SAFETY: SQLite passes an open file of this VFS; the call goes unchanged to
            // the inner file, which the default VFS opened.
            unsafe {
                let inner = inner_file(file);
                match (*(*inner).pMethods).$method {
                    Some(method) => method(inner $(, $arg)*),
                    None => $missing,
                }
            }
        }
    };
}

pass_to_inner!(close, xClose, () -> c_int, ffi::SQLITE_OK);
pass_to_inner!(truncate, xTruncate, (size: ffi::sqlite3_int64) -> c_int, ffi::SQLITE_IOERR_TRUNCATE);
pass_to_inner!(sync, xSync, (flags: c_int) -> c_int, ffi::SQLITE_IOERR_FSYNC);
pass_to_inner!(file_size, xFileSize, (size: *mut ffi::sqlite3_int64) -> c_int, ffi::SQLITE_IOERR_FSTAT);
pass_to_inner!(lock, xLock, (level: c_int) -> c_int, ffi::SQLITE_IOERR_LOCK);
pass_to_inner!(unlock, xUnlock, (level: c_int) -> c_int, ffi::SQLITE_IOERR_UNLOCK);
pass_to_inner!(check_reserved_lock, xCheckReservedLock, (out: *mut c_int) -> c_int, ffi::SQLITE_IOERR_CHECKRESERVEDLOCK);
pass_to_inner!(file_control, xFileControl, (op: c_int, arg: *mut c_void) -> c_int, ffi::SQLITE_NOTFOUND);
pass_to_inner!(sector_size, xSectorSize, () -> c_int, 4096);
pass_to_inner!(device_characteristics, xDeviceCharacteristics, () -> c_int, 0);
pass_to_inner!(shm_map, xShmMap, (region: c_int, size: c_int, extend: c_int, out: *mut *mut c_void) -> c_int, ffi::SQLITE_IOERR_SHMMAP);
pass_to_inner!(shm_lock, xShmLock, (offset: c_int, n: c_int, flags: c_int) -> c_int, ffi::SQLITE_IOERR_SHMLOCK);
pass_to_inner!(shm_barrier, xShmBarrier, () -> (), ());
pass_to_inner!(shm_unmap, xShmUnmap, (delete: c_int) -> c_int, ffi::SQLITE_OK);
pass_to_inner!(unfetch, xUnfetch, (offset: ffi::sqlite3_int64, page: *mut c_void) -> c_int, ffi::SQLITE_OK);

/// A method of the VFS that only passes the call to the default VFS.
macro_rules! pass_to_default {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty, $missing:expr) => {
        unsafe extern "C" fn $name(vfs: *mut ffi::sqlite3_vfs $(, $arg: $ty)*) -> $ret {
            // SAFETY: SQLite passes this VFS; the call goes unchanged to the default VFS.
            unsafe {
                let default = default_vfs(vfs);
                match (*default).$method {
                    Some(method) => method(default $(, $arg)*),
                    None => $missing,
                }
            }
        }
    };
}

/// What `xDlSym` answers: a symbol of a loaded library, as SQLite declares it.
type Symbol = Option<unsafe extern "C" fn(*mut ffi::sqlite3_vfs, *mut c_void, *const c_char)>;

pass_to_default!(delete, xDelete, (name: *const c_char, sync_dir: c_int) -> c_int, ffi::SQLITE_IOERR_DELETE);
pass_to_default!(access, xAccess, (name: *const c_char, flags: c_int, out: *mut c_int) -> c_int, ffi::SQLITE_IOERR_ACCESS);
pass_to_default!(full_pathname, xFullPathname, (name: *const c_char, n: c_int, out: *mut c_char) -> c_int, ffi::SQLITE_CANTOPEN);
pass_to_default!(dl_open, xDlOpen, (name: *const c_char) -> *mut c_void, std::ptr::null_mut());
pass_to_default!(dl_error, xDlError, (n: c_int, out: *mut c_char) -> (), ());
pass_to_default!(dl_sym, xDlSym, (handle: *mut c_void, symbol: *const c_char) -> Symbol, None);
pass_to_default!(dl_close, xDlClose, (handle: *mut c_void) -> (), ());
pass_to_default!(randomness, xRandomness, (n: c_int, out: *mut c_char) -> c_int, 0);
pass_to_default!(sleep, xSleep, (micros: c_int) -> c_int, 0);
pass_to_default!(current_time, xCurrentTime, (out: *mut f64) -> c_int, ffi::SQLITE_ERROR);
pass_to_default!(get_last_error, xGetLastError, (n: c_int, out: *mut c_char) -> c_int, 0);
pass_to_default!(current_time_int64, xCurrentTimeInt64, (out: *mut ffi::sqlite3_int64) -> c_int, ffi::SQLITE_ERROR);
pass_to_default!(set_system_call, xSetSystemCall, (name: *const c_char, call: ffi::sqlite3_syscall_ptr) -> c_int, ffi::SQLITE_NOTFOUND);
pass_to_default!(get_system_call, xGetSystemCall, (name: *const c_char) -> ffi::sqlite3_syscall_ptr, None);
pass_to_default!(next_system_call, xNextSystemCall, (name: *const c_char) -> *const c_char, std::ptr::null());

#[cfg(test)]
mod tests {
    #[test]
    fn the_c_name_is_the_published_name() {
        assert_eq!(super::VFS_NAME_C.to_str(), Ok(crate::VFS_NAME));
    }
}
