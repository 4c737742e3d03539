//! What an engine's failures become:
//!
//! - an engine's error, as the shared source of a [`StoreError`] ([`engine_error`],
//!   [`engine_message`]);
//! - a panic, caught without a word ([`catch_quietly`]): what a store turns into an error
//!   (redb's panics on damaged pages become `Damaged`) must not also be printed by the panic
//!   hook, since the library never prints and the caller decides what to show;
//! - a slow read, reported as a `tracing` event ([`traced_read`]).

use std::cell::Cell;
use std::error::Error as StdError;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::Once;

use crate::error::EngineError;

thread_local! {
    /// How many [`catch_quietly`] calls the current thread is inside.
    static QUIET: Cell<u32> = const { Cell::new(0) };
}

static HOOK: Once = Once::new();

/// A commit or a read that takes longer than this is reported as slow (a `warn` event).
pub const SLOW: std::time::Duration = std::time::Duration::from_millis(100);

/// `err` as the source of a [`StoreError`](crate::StoreError).
pub fn engine_error(err: impl StdError + Send + Sync + 'static) -> EngineError {
    Arc::new(err)
}

/// A message as the source of a [`StoreError`](crate::StoreError), where the engine's error is only text.
pub fn engine_message(message: impl Into<String>) -> EngineError {
    Arc::from(Box::<dyn StdError + Send + Sync>::from(message.into()))
}

/// Runs `work` and catches a panic in it, as `std::panic::catch_unwind` does, except that
/// the panic hook says nothing about a panic caught here.
///
/// The first call puts a hook in front of the process's panic hook (the default one, or
/// the application's if it set one before): for a panic on a thread inside `catch_quietly`
/// it does nothing, for any other it calls the hook it replaced, so every panic the store
/// does not catch is reported as before. A hook the application sets later replaces this
/// one, and then the caught panics are printed again, but still caught.
///
/// # Errors
/// The panic's payload, when `work` panicked.
pub fn catch_quietly<T>(work: impl FnOnce() -> T) -> std::thread::Result<T> {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
    QUIET.with(|quiet| quiet.set(quiet.get().saturating_add(1)));
    let result = catch_unwind(AssertUnwindSafe(work));
    QUIET.with(|quiet| quiet.set(quiet.get().saturating_sub(1)));
    result
}

/// Runs `read`, a read of the store at `path`, and reports it when it took [`SLOW`] or more:
/// a `warn` event of target `nerve_store::read` naming the store and the time it took.
pub fn traced_read<T>(path: &std::path::Path, read: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let value = read();
    let elapsed = started.elapsed();
    if elapsed >= SLOW {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        tracing::warn!(
            target: "nerve_store::read",
            store = %path.display(),
            micros,
            "slow read"
        );
    }
    value
}

#[cfg(test)]
mod tests {
    use super::catch_quietly;

    #[test]
    fn a_panic_inside_is_caught_and_said_nothing_of_one_outside_is_reported() {
        use std::sync::{Arc, Mutex};
        let heard: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = Arc::clone(&heard);
        // The hook in place before the first quiet catch: it hears what is not caught here.
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map_or_else(String::new, |m| (*m).to_owned());
            seen.lock().unwrap_or_else(|p| p.into_inner()).push(message);
        }));
        let caught = catch_quietly(|| -> u32 { panic!("inside") });
        assert!(caught.is_err());
        assert_eq!(catch_quietly(|| 7).ok(), Some(7));
        let outside = std::thread::spawn(|| panic!("outside")).join();
        assert!(outside.is_err());
        let _ = std::panic::take_hook();
        // Other tests of this binary may panic meanwhile: only these two messages count.
        let heard: Vec<String> = heard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|message| *message == "inside" || *message == "outside")
            .cloned()
            .collect();
        assert_eq!(heard, vec!["outside".to_owned()]);
    }
}
