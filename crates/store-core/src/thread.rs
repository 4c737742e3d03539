//! Thread messages: log entries indexed by (thread, round, role).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{StoreError, StoreResult};
use crate::log::NewLogEntry;

/// The source of the log entries that hold thread messages.
pub const THREAD_SOURCE: &str = "thread";
/// The kind of the log entries that hold thread messages.
pub const THREAD_KIND: &str = "message";

/// One message of a workflow thread. Stored as a log entry (source `"thread"`, kind
/// `"message"`, `ref_id` the thread id, the payload as given) and indexed by (thread,
/// round, role) in the same transaction. Serialises with camelCase names; `ts` may be left
/// out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadMessage {
    /// The thread; must not be empty.
    pub thread_id: String,
    /// Who spoke (`"user"`, `"assistant"`, `"tool"`, ...); must not be empty.
    pub role: String,
    /// The round of the conversation, counted by the caller.
    pub round: u32,
    /// The message, usually JSON; returned byte for byte.
    pub payload: String,
    /// When it was said; `None` means the time of the append.
    #[serde(default, with = "crate::time::opt_ts_millis")]
    pub ts: Option<DateTime<Utc>>,
}

/// Who speaks in a thread, with the common values named; any other role is a string
/// (`ThreadMessage::new` takes either).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// The person, or the system that asks on their behalf.
    User,
    /// The model that answers.
    Assistant,
    /// The instructions that frame the conversation.
    System,
    /// A tool's result, handed back to the model.
    Tool,
}

impl Role {
    /// The role as it is stored: `"user"`, `"assistant"`, `"system"`, `"tool"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => "system",
            Role::Tool => "tool",
        }
    }
}

impl From<Role> for String {
    fn from(role: Role) -> String {
        role.as_str().to_owned()
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl ThreadMessage {
    /// A message of `thread_id` in `round`, said by `role` (a [`Role`] or any other string),
    /// stamped at append.
    ///
    /// ```
    /// use store_core::{Role, ThreadMessage};
    /// let asked = ThreadMessage::new("thread-1", 1, Role::User, "what changed?");
    /// let judged = ThreadMessage::new("thread-1", 1, "reviewer", "looks good");
    /// assert_eq!((asked.role.as_str(), judged.role.as_str()), ("user", "reviewer"));
    /// ```
    pub fn new(
        thread_id: impl Into<String>,
        round: u32,
        role: impl Into<String>,
        payload: impl Into<String>,
    ) -> Self {
        ThreadMessage {
            thread_id: thread_id.into(),
            role: role.into(),
            round,
            payload: payload.into(),
            ts: None,
        }
    }

    /// A message whose payload is `payload` as JSON (any `Serialize`).
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] naming `payload` when the value does not serialise.
    pub fn json(
        thread_id: impl Into<String>,
        round: u32,
        role: impl Into<String>,
        payload: &impl Serialize,
    ) -> StoreResult<Self> {
        let payload = crate::log::to_json("payload", payload)?;
        Ok(ThreadMessage::new(thread_id, round, role, payload))
    }

    /// This message said at `ts` rather than at its append.
    pub fn at(mut self, ts: DateTime<Utc>) -> Self {
        self.ts = Some(ts);
        self
    }

    /// The log entry that carries this message, after checking the message.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for an empty `thread_id` or `role`.
    pub fn to_log_entry(&self) -> StoreResult<NewLogEntry> {
        if self.thread_id.is_empty() {
            return Err(StoreError::invalid("thread_id", "must not be empty"));
        }
        if self.role.is_empty() {
            return Err(StoreError::invalid("role", "must not be empty"));
        }
        Ok(NewLogEntry {
            source: THREAD_SOURCE.to_owned(),
            kind: THREAD_KIND.to_owned(),
            ref_id: Some(self.thread_id.clone()),
            payload: self.payload.clone(),
            ts: self.ts,
            blobs: Vec::new(),
        })
    }
}

/// A page of a thread's messages by round: which rounds, which role, how many. Serialises
/// with camelCase names; every field may be left out (the store refuses an empty thread).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GetThreadRoundsParams {
    /// The thread.
    pub thread_id: String,
    /// Only messages of this role; every role when `None`.
    pub role: Option<String>,
    /// Only rounds `>= from_round`.
    pub from_round: Option<u32>,
    /// At most this many rows; [`crate::DEFAULT_QUERY_LIMIT`] when `None`.
    pub limit: Option<usize>,
}

impl GetThreadRoundsParams {
    /// Every message of `thread_id`, by round: filters are added with the builder methods
    /// below.
    ///
    /// ```
    /// use store_core::{GetThreadRoundsParams, Role};
    /// let params = GetThreadRoundsParams::new("thread-1").role(Role::Assistant).from_round(3);
    /// assert_eq!(params.role.as_deref(), Some("assistant"));
    /// ```
    pub fn new(thread_id: impl Into<String>) -> Self {
        GetThreadRoundsParams {
            thread_id: thread_id.into(),
            ..GetThreadRoundsParams::default()
        }
    }

    /// These parameters with messages of `role` only (a [`Role`] or any other string).
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.role = Some(role.into());
        self
    }

    /// These parameters with rounds from `round` on only.
    pub fn from_round(mut self, round: u32) -> Self {
        self.from_round = Some(round);
        self
    }

    /// These parameters answering at most `limit` rows.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The number of rows the call may return.
    pub fn effective_limit(&self) -> usize {
        self.limit.unwrap_or(crate::DEFAULT_QUERY_LIMIT)
    }
}

impl ThreadRoundRow {
    /// The message read as JSON into a `T`.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] naming `payload` when it is not a `T` in JSON.
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> StoreResult<T> {
        crate::log::from_json("payload", &self.payload)
    }
}

/// One message as [`crate::LogStore::thread_rounds`] returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThreadRoundRow {
    /// The round it was said in.
    pub round: u32,
    /// Who said it.
    pub role: String,
    /// The id of the log entry that holds it.
    pub log_id: crate::LogId,
    /// When it was said.
    #[serde(with = "crate::time::ts_millis")]
    pub ts: DateTime<Utc>,
    /// The message.
    pub payload: String,
}
