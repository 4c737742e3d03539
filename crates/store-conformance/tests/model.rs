//! The reference model runs the same conformance suite as every backend: the model is held
//! to the spec before the backends are held to the model.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use store_core::MemoryLogStore;
use store_core::{LogBackend, StoreResult};

/// One model per folder, so that reopening a folder finds what was written there, as a
/// file-backed store would.
fn open(dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
    static STORES: OnceLock<Mutex<HashMap<PathBuf, MemoryLogStore>>> = OnceLock::new();
    let mut stores = STORES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    Ok(Box::new(stores.entry(dir.to_owned()).or_default().clone()))
}

store_conformance::log_store_conformance!(in_memory: open);
