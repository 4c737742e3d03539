//! Write units: several writes that commit as one fact.

use crate::error::{StoreError, StoreResult};
use crate::log::{LogEntry, NewLogEntry};
use crate::run::{RunTransition, TransitionOutcome};
use crate::thread::ThreadMessage;

/// One write of a [`WriteUnit`]: any write a daemon makes through [`crate::LogStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Write {
    /// As [`crate::LogStore::append`].
    Append(NewLogEntry),
    /// As [`crate::LogStore::transition_run`]. It sees the unit's earlier writes: a unit may
    /// queue a run and start it.
    Transition(RunTransition),
    /// As [`crate::LogStore::append_thread_message`].
    ThreadMessage(ThreadMessage),
    /// As [`crate::LogStore::meta_set`].
    MetaSet {
        /// Must not be empty.
        key: String,
        /// The value stored under `key`.
        value: String,
        /// The blobs the value references, replacing what the key's earlier value did
        /// ([`crate::LogStore::meta_set_with_blobs`]); empty for none.
        blobs: Vec<crate::Digest>,
    },
    /// As [`crate::LogStore::meta_delete`].
    MetaDelete {
        /// The key removed.
        key: String,
    },
}

/// What one write of a unit did, at the same position as the write.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Written {
    /// The entry as stored, with its id and final timestamp.
    Appended(LogEntry),
    /// The transition's outcome; an applied one holds its audit entry.
    Transitioned(TransitionOutcome),
    /// The entry that holds the thread message.
    ThreadMessage(LogEntry),
    /// The meta value was stored.
    MetaSet,
    /// The meta key was removed; `existed` says whether it was there.
    MetaDeleted {
        /// Whether the key held a value before.
        existed: bool,
    },
}

impl Written {
    /// The log entry this write appended, if it appended one: an append, a thread message,
    /// an applied transition's audit entry.
    pub fn entry(&self) -> Option<&LogEntry> {
        match self {
            Written::Appended(entry) | Written::ThreadMessage(entry) => Some(entry),
            Written::Transitioned(TransitionOutcome::Applied { audit, .. }) => Some(audit),
            Written::Transitioned(TransitionOutcome::Unchanged { .. })
            | Written::MetaSet
            | Written::MetaDeleted { .. } => None,
        }
    }

    /// The entry of an append.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for another kind of write: a backend's bug.
    pub fn into_appended(self) -> StoreResult<LogEntry> {
        match self {
            Written::Appended(entry) => Ok(entry),
            other => Err(other.unexpected("an append")),
        }
    }

    /// The outcome of a transition.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for another kind of write: a backend's bug.
    pub fn into_transitioned(self) -> StoreResult<TransitionOutcome> {
        match self {
            Written::Transitioned(outcome) => Ok(outcome),
            other => Err(other.unexpected("a transition")),
        }
    }

    /// The entry of a thread message.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for another kind of write: a backend's bug.
    pub fn into_thread_message(self) -> StoreResult<LogEntry> {
        match self {
            Written::ThreadMessage(entry) => Ok(entry),
            other => Err(other.unexpected("a thread message")),
        }
    }

    /// That a meta write happened.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for another kind of write: a backend's bug.
    pub fn into_meta_set(self) -> StoreResult<()> {
        match self {
            Written::MetaSet => Ok(()),
            other => Err(other.unexpected("a meta write")),
        }
    }

    /// Whether a meta delete found its key.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for another kind of write: a backend's bug.
    pub fn into_meta_deleted(self) -> StoreResult<bool> {
        match self {
            Written::MetaDeleted { existed } => Ok(existed),
            other => Err(other.unexpected("a meta delete")),
        }
    }

    /// The one result of a unit of one write.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] when the unit's answer holds none: a backend's bug.
    pub fn single(written: Vec<Written>) -> StoreResult<Written> {
        written
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::invalid("write_unit", "returned nothing for a write"))
    }

    /// The entries of a batch of `count` appends, from its unit's answer.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] when the answer holds another number of entries: a
    /// backend's bug.
    pub fn into_batch(written: Vec<Written>, count: usize) -> StoreResult<Vec<LogEntry>> {
        let stored: Vec<LogEntry> = written
            .into_iter()
            .filter_map(|written| match written {
                Written::Appended(entry) => Some(entry),
                _ => None,
            })
            .collect();
        if stored.len() != count {
            return Err(StoreError::invalid(
                "append_batch",
                format!("the store returned {} entries for {count}", stored.len()),
            ));
        }
        Ok(stored)
    }

    /// The error for a write answered with this one, of another kind.
    fn unexpected(&self, call: &str) -> StoreError {
        StoreError::invalid("write_unit", format!("answered {call} with {self:?}"))
    }
}

/// Writes that commit as one fact: all of them or none, in one transaction and one durable
/// commit, the entries they append under consecutive ids in the unit's order.
///
/// A daemon that moves a run, logs what happened and records a thread message submits them
/// together with [`crate::LogStore::write_unit`], so that no crash and no refusal can leave
/// one without the others:
///
/// ```
/// use store_core::{LogStore, MemoryLogStore, NewLogEntry, RunTransition, WorkflowRunStatus, WriteUnit};
///
/// # fn main() -> Result<(), store_core::StoreError> {
/// let store = MemoryLogStore::new();
/// let unit = WriteUnit::new()
///     .transition(RunTransition::new("run-1", "deploy", WorkflowRunStatus::Started))
///     .append(NewLogEntry::new("worker", "step", "{}").with_ref("run-1"));
/// let written = store.write_unit(unit)?;
/// let ids: Vec<u64> = written.iter().filter_map(|w| w.entry()).map(|e| e.id.0).collect();
/// assert_eq!(ids, vec![1, 2]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteUnit {
    writes: Vec<Write>,
}

impl WriteUnit {
    /// An empty unit; committing it writes nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The unit of an [`crate::LogStore::append_batch`]: the entries as appends, in order,
    /// each checked first, so that a refusal names the entry of the batch.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] naming the first invalid entry (`entry 3 of the batch`).
    pub fn batch(entries: Vec<NewLogEntry>) -> StoreResult<Self> {
        for (index, entry) in entries.iter().enumerate() {
            entry.validate().map_err(|err| match err {
                StoreError::InvalidInput { field, reason } => StoreError::InvalidInput {
                    field,
                    reason: format!("{reason} (entry {index} of the batch)"),
                },
                other => other,
            })?;
        }
        Ok(entries.into_iter().map(Write::Append).collect())
    }

    /// The same unit with `write` last.
    pub fn with(mut self, write: Write) -> Self {
        self.writes.push(write);
        self
    }

    /// The same unit with an append last.
    pub fn append(self, entry: NewLogEntry) -> Self {
        self.with(Write::Append(entry))
    }

    /// The same unit with a run transition last.
    pub fn transition(self, transition: RunTransition) -> Self {
        self.with(Write::Transition(transition))
    }

    /// The same unit with a thread message last.
    pub fn thread_message(self, message: ThreadMessage) -> Self {
        self.with(Write::ThreadMessage(message))
    }

    /// The same unit with a meta write last.
    pub fn meta_set(self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.with(Write::MetaSet {
            key: key.into(),
            value: value.into(),
            blobs: Vec::new(),
        })
    }

    /// The same unit with a meta write last, whose value references `blobs`
    /// ([`crate::LogStore::meta_set_with_blobs`]).
    pub fn meta_set_with_blobs(
        self,
        key: impl Into<String>,
        value: impl Into<String>,
        blobs: impl IntoIterator<Item = crate::Digest>,
    ) -> Self {
        self.with(Write::MetaSet {
            key: key.into(),
            value: value.into(),
            blobs: blobs.into_iter().collect(),
        })
    }

    /// The same unit with a meta deletion last.
    pub fn meta_delete(self, key: impl Into<String>) -> Self {
        self.with(Write::MetaDelete { key: key.into() })
    }

    /// Adds `write` at the end.
    pub fn push(&mut self, write: Write) {
        self.writes.push(write);
    }

    /// The writes, in order.
    pub fn writes(&self) -> &[Write] {
        &self.writes
    }

    /// How many writes the unit holds.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// Whether the unit holds no write.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// The writes, in order, by value.
    pub fn into_writes(self) -> Vec<Write> {
        self.writes
    }
}

impl From<Vec<Write>> for WriteUnit {
    fn from(writes: Vec<Write>) -> Self {
        WriteUnit { writes }
    }
}

impl FromIterator<Write> for WriteUnit {
    fn from_iter<I: IntoIterator<Item = Write>>(iter: I) -> Self {
        WriteUnit {
            writes: iter.into_iter().collect(),
        }
    }
}
