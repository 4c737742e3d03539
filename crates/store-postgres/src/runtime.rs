//! The sync client away from tokio. `postgres::Client` drives a runtime of its own with
//! `block_on`, which panics on a thread inside a tokio runtime ("Cannot start a runtime from
//! within a runtime"), and so does dropping a client there. Every call of the store that
//! touches a connection, and the drop of its pool, goes through [`off_runtime`]: on a plain
//! thread the work runs where it is; on a thread of a tokio runtime (a worker, a
//! `spawn_blocking` thread, `nerve_store::AsyncStore`'s calls) it runs on a scoped thread of
//! its own, which the caller waits for. tokio has no public way to tell a worker from a
//! blocking-pool thread, so both take the scoped thread: a spawn per call, small beside a
//! round trip to the server.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, sync_channel};

/// Whether the current thread is inside a tokio runtime (a worker or a blocking thread).
fn on_a_runtime() -> bool {
    tokio::runtime::Handle::try_current().is_ok()
}

/// Runs `work` where the sync client cannot meet a runtime, and returns what it returned.
/// A panic in `work` is resumed in the caller.
pub(crate) fn off_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    if !on_a_runtime() {
        return work();
    }
    std::thread::scope(|scope| match scope.spawn(work).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// [`off_runtime`] for work that reads `source`, which may not leave the caller's thread:
/// the caller reads it and hands its bytes over, a few chunks ahead of the work.
pub(crate) fn off_runtime_reading<T: Send>(
    source: &mut dyn Read,
    work: impl FnOnce(&mut dyn Read) -> T + Send,
) -> T {
    if !on_a_runtime() {
        return work(source);
    }
    let (sender, receiver) = sync_channel::<io::Result<Vec<u8>>>(2);
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || {
            work(&mut Handed {
                receiver,
                chunk: Vec::new(),
                at: 0,
            })
        });
        let mut buffer = vec![0_u8; store_core::kit::BLOB_CHUNK];
        loop {
            let read = match source.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => Ok(buffer[..n].to_vec()),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => Err(err),
            };
            let failed = read.is_err();
            // A send fails when the work stopped reading: nothing more is needed.
            if sender.send(read).is_err() || failed {
                break;
            }
        }
        drop(sender);
        match worker.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// The bytes the caller's thread hands over, as a reader.
struct Handed {
    receiver: Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for Handed {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.receiver.recv() {
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                Ok(Err(err)) => return Err(err),
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len() - self.at);
        out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A value whose drop may talk to the server (a pool and its clients): dropped where the
/// sync client cannot meet a runtime.
pub(crate) struct DropOffRuntime<T: Send>(Option<T>);

impl<T: Send> DropOffRuntime<T> {
    pub(crate) fn new(value: T) -> Self {
        DropOffRuntime(Some(value))
    }
}

impl<T: Send> std::ops::Deref for DropOffRuntime<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // Taken only by drop.
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("taken only by drop"))
    }
}

impl<T: Send> Drop for DropOffRuntime<T> {
    fn drop(&mut self) {
        if let Some(value) = self.0.take() {
            off_runtime(move || drop(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{off_runtime, off_runtime_reading};

    #[test]
    fn work_read_off_a_runtime_gets_every_byte_of_the_source() {
        let data: Vec<u8> = (0..1_000_000_u32).map(|i| (i % 251) as u8).collect();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let _inside = runtime.enter();
        let caller = std::thread::current().id();
        let (read, thread) = off_runtime_reading(&mut data.as_slice(), |source| {
            let mut all = Vec::new();
            source.read_to_end(&mut all).expect("read");
            (all, std::thread::current().id())
        });
        assert_eq!(read, data);
        assert_ne!(thread, caller, "the work ran on a thread of its own");
        assert_eq!(off_runtime(|| 7), 7);
    }
}
