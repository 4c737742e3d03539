//! Log entries, their ids, and the log query.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{StoreError, StoreResult};
use crate::id::{LogId, MAX_LOG_ID};
use crate::time::{truncate_to_millis, ts_millis};

/// One stored log entry.
///
/// Serialises as the archive's JSON line:
/// `{"id":1,"source":"s","type":"k","refId":null,"payload":"p","ts":"2026-11-24T10:00:00.123Z"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Assigned by the store at append.
    pub id: LogId,
    /// Who wrote the entry (`"workflow"`, `"thread"`, a component's name). Never empty.
    pub source: String,
    /// The entry's type (`"run.status"`, `"message"`, ...). Never empty.
    #[serde(rename = "type")]
    pub kind: String,
    /// What the entry is about (a run id, a thread id), if anything.
    #[serde(rename = "refId")]
    pub ref_id: Option<String>,
    /// Opaque content, usually JSON; returned byte for byte as it was given.
    pub payload: String,
    /// When it happened, UTC, at millisecond precision.
    #[serde(with = "ts_millis")]
    pub ts: DateTime<Utc>,
}

/// An entry to append; the store assigns the id, and the time when `ts` is `None`.
///
/// Serialises as a [`LogEntry`] does, without its id: `{"source":"s","type":"k",
/// "refId":null,"payload":"p","ts":null}`; `refId` and `ts` may be left out.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NewLogEntry {
    /// See [`LogEntry::source`]; must not be empty.
    pub source: String,
    /// See [`LogEntry::kind`]; must not be empty.
    #[serde(rename = "type")]
    pub kind: String,
    /// See [`LogEntry::ref_id`].
    #[serde(rename = "refId", default)]
    pub ref_id: Option<String>,
    /// See [`LogEntry::payload`].
    pub payload: String,
    /// When it happened; `None` means the time of the append. Truncated to milliseconds.
    #[serde(default, with = "crate::time::opt_ts_millis")]
    pub ts: Option<DateTime<Utc>>,
    /// The blobs the entry references (`"blobs":[…]`, left out when none): recorded in the
    /// append's transaction, so garbage collection keeps them while the entry is in the
    /// store or its archive (docs/SPEC.md section 2). At most
    /// [`crate::MAX_BLOBS_PER_HOLDER`]; duplicates count once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blobs: Vec<crate::Digest>,
}

/// `value` as JSON, or the error that names `field` and says why it is not.
pub(crate) fn to_json(field: &'static str, value: &impl Serialize) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|err| StoreError::invalid(field, err.to_string()))
}

/// `payload` read as a `T`, or the error that names `field` and says why it is not one.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(
    field: &'static str,
    payload: &str,
) -> StoreResult<T> {
    serde_json::from_str(payload).map_err(|err| {
        StoreError::invalid(
            field,
            format!("not a {}: {err}", std::any::type_name::<T>()),
        )
    })
}

impl LogEntry {
    /// The payload read as JSON into a `T`: the other half of [`NewLogEntry::json`].
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] naming `payload` when it is not a `T` in JSON.
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> StoreResult<T> {
        from_json("payload", &self.payload)
    }
}

impl NewLogEntry {
    /// An entry whose payload is `payload` as JSON (any `Serialize`), no `ref_id`, stamped
    /// at append; read it back with [`LogEntry::payload_as`].
    ///
    /// ```
    /// # use store_core::NewLogEntry;
    /// #[derive(serde::Serialize)]
    /// struct Step { tool: &'static str, ms: u32 }
    /// let entry = NewLogEntry::json("worker", "tool.call", &Step { tool: "search", ms: 120 })?;
    /// assert_eq!(entry.payload, r#"{"tool":"search","ms":120}"#);
    /// # Ok::<(), store_core::StoreError>(())
    /// ```
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] naming `payload` when the value does not serialise (a
    /// map with keys that are not strings, a failing `Serialize`).
    pub fn json(
        source: impl Into<String>,
        kind: impl Into<String>,
        payload: &impl Serialize,
    ) -> StoreResult<Self> {
        Ok(NewLogEntry::new(source, kind, to_json("payload", payload)?))
    }

    /// An entry with the given source, kind and payload, no `ref_id`, stamped at append.
    pub fn new(
        source: impl Into<String>,
        kind: impl Into<String>,
        payload: impl Into<String>,
    ) -> Self {
        NewLogEntry {
            source: source.into(),
            kind: kind.into(),
            ref_id: None,
            payload: payload.into(),
            ts: None,
            blobs: Vec::new(),
        }
    }

    /// The same entry, referencing `blobs` besides any it referenced: write each blob
    /// first, within the collector's grace period of this append (docs/SPEC.md section 2).
    pub fn with_blobs(mut self, blobs: impl IntoIterator<Item = crate::Digest>) -> Self {
        self.blobs.extend(blobs);
        self
    }

    /// The same entry, about `ref_id`.
    pub fn with_ref(mut self, ref_id: impl Into<String>) -> Self {
        self.ref_id = Some(ref_id.into());
        self
    }

    /// The same entry, stamped with `ts` instead of the time of the append.
    pub fn at(mut self, ts: DateTime<Utc>) -> Self {
        self.ts = Some(ts);
        self
    }

    /// Checks the entry against the contract without consuming it.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for an empty `source` or `kind`, a payload over
    /// [`crate::MAX_PAYLOAD_BYTES`], or a `ts` outside the times a store keeps
    /// ([`crate::kit::check_ts`]).
    pub fn validate(&self) -> StoreResult<()> {
        if self.source.is_empty() {
            return Err(StoreError::invalid("source", "must not be empty"));
        }
        if self.kind.is_empty() {
            return Err(StoreError::invalid("kind", "must not be empty"));
        }
        crate::limits::check_size("payload", &self.payload, crate::MAX_PAYLOAD_BYTES)?;
        crate::references::holder_blobs(&self.blobs)?;
        crate::time::check_optional_ts("ts", self.ts)
    }

    /// Checks the entry against the contract and fixes its timestamp: `now` when absent,
    /// truncated to milliseconds in every case. Backends call this before writing anything.
    ///
    /// # Errors
    /// As [`NewLogEntry::validate`]; also when `ts` is absent and `now` is outside the range.
    pub fn prepare(self, now: DateTime<Utc>) -> StoreResult<PreparedEntry> {
        self.validate()?;
        let ts = truncate_to_millis(self.ts.unwrap_or(now));
        crate::time::check_ts("ts", ts)?;
        Ok(PreparedEntry {
            source: self.source,
            kind: self.kind,
            ref_id: self.ref_id,
            payload: self.payload,
            ts,
        })
    }
}

/// A validated entry with its final timestamp, waiting only for its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedEntry {
    /// See [`LogEntry::source`].
    pub source: String,
    /// See [`LogEntry::kind`].
    pub kind: String,
    /// See [`LogEntry::ref_id`].
    pub ref_id: Option<String>,
    /// See [`LogEntry::payload`].
    pub payload: String,
    /// Final, millisecond precision.
    pub ts: DateTime<Utc>,
}

impl PreparedEntry {
    /// The stored entry this becomes under `id`.
    pub fn with_id(self, id: LogId) -> LogEntry {
        LogEntry {
            id,
            source: self.source,
            kind: self.kind,
            ref_id: self.ref_id,
            payload: self.payload,
            ts: self.ts,
        }
    }
}

/// The order of a query's results, by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Oldest first (the default).
    #[default]
    Ascending,
    /// Newest first.
    Descending,
}

/// The number of entries a [`LogQuery`] returns when it sets no `limit`.
pub const DEFAULT_QUERY_LIMIT: usize = 100;

/// A log query. Every field is optional; the ones that are set combine with AND.
///
/// [`crate::LogStore::query`] answers one page: at most `limit` entries, and
/// [`DEFAULT_QUERY_LIMIT`] (100) when `limit` is `None`. [`LogQuery::fetch`] (and
/// `nerve_store::AsyncStore::fetch`, as a stream) answers every match, fetching
/// [`crate::pages::PAGE`] (1,000) at a time, with `limit` capping the total.
///
/// `after` and `before` bound the id whatever the order, so a cursor pages forward with
/// `after = last id` in ascending order and backward with `before = last id` in descending
/// order. A query by `ref_id`, by `source` (and `kind`) or by a `ts` range walks an index:
/// its cost is O(log n + k), not a scan of the log.
///
/// Serialises with the names of [`LogEntry`]'s JSON (`type`, `refId`) and camelCase for the
/// rest; every field may be left out.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogQuery {
    /// Only entries from this source.
    pub source: Option<String>,
    /// Only entries of this type.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Only entries about this reference.
    pub ref_id: Option<String>,
    /// Only entries with `ts >= since`.
    #[serde(with = "crate::time::opt_ts_millis")]
    pub since: Option<DateTime<Utc>>,
    /// Only entries with `ts < until`.
    #[serde(with = "crate::time::opt_ts_millis")]
    pub until: Option<DateTime<Utc>>,
    /// Only entries with `id > after`.
    pub after: Option<LogId>,
    /// Only entries with `id < before`.
    pub before: Option<LogId>,
    /// At most this many entries. For one call of [`crate::LogStore::query`], `None` is
    /// [`DEFAULT_QUERY_LIMIT`] (100): a query answers one page. [`LogQuery::fetch`] answers
    /// every match, a page at a time, and `None` there means no cap.
    pub limit: Option<usize>,
    /// By id, ascending unless asked otherwise.
    pub order: Order,
}

impl LogQuery {
    /// A query that matches every entry: filters are added with the builder methods below.
    ///
    /// ```
    /// use store_core::LogQuery;
    /// let query = LogQuery::new().source("worker").kind("tool.call").limit(500).descending();
    /// assert_eq!(query.source.as_deref(), Some("worker"));
    /// ```
    pub fn new() -> Self {
        LogQuery::default()
    }

    /// This query with entries from `source` only.
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// This query with entries of type `kind` only.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// This query with entries about `ref_id` only.
    pub fn ref_id(mut self, ref_id: impl Into<String>) -> Self {
        self.ref_id = Some(ref_id.into());
        self
    }

    /// This query with entries at `since` or later only.
    pub fn since(mut self, since: DateTime<Utc>) -> Self {
        self.since = Some(since);
        self
    }

    /// This query with entries before `until` only.
    pub fn until(mut self, until: DateTime<Utc>) -> Self {
        self.until = Some(until);
        self
    }

    /// This query with entries after the id `after` only (a cursor).
    pub fn after(mut self, after: LogId) -> Self {
        self.after = Some(after);
        self
    }

    /// This query with entries before the id `before` only.
    pub fn before(mut self, before: LogId) -> Self {
        self.before = Some(before);
        self
    }

    /// This query answering at most `limit` entries: one call of
    /// [`crate::LogStore::query`], or in total through [`LogQuery::fetch`].
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// This query newest first.
    pub fn descending(mut self) -> Self {
        self.order = Order::Descending;
        self
    }

    /// The number of entries the query may return.
    pub fn effective_limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_QUERY_LIMIT)
    }

    /// Refuses a query that no store can answer: a `since` or `until` outside the times a
    /// store keeps. Backends call it before reading.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] naming `since` or `until`.
    pub fn validate(&self) -> StoreResult<()> {
        crate::time::check_optional_ts("since", self.since)?;
        crate::time::check_optional_ts("until", self.until)
    }

    /// Whether `entry` satisfies every filter of the query (the limit and order aside).
    /// The reference semantics that backends' index walks must agree with.
    ///
    /// `since` and `until` are compared at their full precision: a bound finer than a
    /// millisecond, as `10:00:00.123500`, finds an entry at `.123` with `until` and not with
    /// `since`. Backends walk their time index from [`crate::kit::bound_millis`] of each bound,
    /// which gives the same answer.
    pub fn matches(&self, entry: &LogEntry) -> bool {
        self.source.as_ref().is_none_or(|s| *s == entry.source)
            && self.kind.as_ref().is_none_or(|k| *k == entry.kind)
            && self
                .ref_id
                .as_ref()
                .is_none_or(|r| entry.ref_id.as_ref() == Some(r))
            && self.since.is_none_or(|t| entry.ts >= t)
            && self.until.is_none_or(|t| entry.ts < t)
            && self.after.is_none_or(|id| entry.id > id)
            && self.before.is_none_or(|id| entry.id < id)
    }
}

/// Refuses a log id outside `1..=MAX_LOG_ID` (for ids a caller hands in, as an import does).
///
/// # Errors
/// [`StoreError::InvalidInput`] naming `field`.
pub fn check_log_id(field: &'static str, id: LogId) -> StoreResult<()> {
    if id.0 >= 1 && id <= MAX_LOG_ID {
        return Ok(());
    }
    Err(StoreError::invalid(
        field,
        format!(
            "id {id} is outside the ids a store keeps, 1 to {}",
            MAX_LOG_ID
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::now_millis;

    #[test]
    fn an_entry_serialises_as_the_archive_line() {
        let ts = DateTime::parse_from_rfc3339("2026-11-24T10:00:00.123456Z")
            .map(|t| truncate_to_millis(t.with_timezone(&Utc)))
            .expect("valid time");
        let entry = LogEntry {
            id: LogId(7),
            source: "workflow".into(),
            kind: "run.status".into(),
            ref_id: Some("r1".into()),
            payload: "{\"a\":1}".into(),
            ts,
        };
        let line = serde_json::to_string(&entry).expect("serialises");
        assert_eq!(
            line,
            r#"{"id":7,"source":"workflow","type":"run.status","refId":"r1","payload":"{\"a\":1}","ts":"2026-11-24T10:00:00.123Z"}"#
        );
        let back: LogEntry = serde_json::from_str(&line).expect("parses");
        assert_eq!(back, entry);
    }

    #[test]
    fn an_empty_source_or_kind_is_refused_by_name() {
        let now = now_millis();
        let err = NewLogEntry::new("", "k", "p").prepare(now).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::InvalidInput {
                    field: "source",
                    ..
                }
            ),
            "{err}"
        );
        let err = NewLogEntry::new("s", "", "p").prepare(now).unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidInput { field: "kind", .. }),
            "{err}"
        );
    }

    #[test]
    fn ids_run_from_one_to_i64_max() {
        assert!(check_log_id("id", LogId(1)).is_ok());
        assert!(check_log_id("id", MAX_LOG_ID).is_ok());
        assert!(check_log_id("id", LogId(0)).is_err());
        assert!(check_log_id("id", LogId(MAX_LOG_ID.0 + 1)).is_err());
        assert!(check_log_id("id", LogId(u64::MAX)).is_err());
    }

    #[test]
    fn a_typed_payload_goes_in_as_json_and_comes_back_as_its_type() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Step {
            tool: String,
            ms: u32,
        }
        let step = Step {
            tool: "search".into(),
            ms: 120,
        };
        let new = NewLogEntry::json("worker", "tool.call", &step).expect("serialises");
        let entry = LogEntry {
            id: LogId(1),
            source: new.source,
            kind: new.kind,
            ref_id: None,
            payload: new.payload,
            ts: now_millis(),
        };
        assert_eq!(entry.payload_as::<Step>().expect("a step"), step);
        let err = entry.payload_as::<Vec<u8>>().expect_err("not bytes");
        assert!(
            matches!(&err, StoreError::InvalidInput { field: "payload", reason } if reason.contains("Vec<u8>")),
            "{err}"
        );
        let unkeyed: std::collections::HashMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let err = NewLogEntry::json("s", "k", &unkeyed).expect_err("keys that are not strings");
        assert!(
            matches!(
                err,
                StoreError::InvalidInput {
                    field: "payload",
                    ..
                }
            ),
            "{err}"
        );
    }
}
