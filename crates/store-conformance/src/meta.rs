//! SPEC 1, meta: a small string key-value table.

use super::log::minutes;
use super::{Fixture, OpenStore, all_entries};
use store_core::{DaySpan, LogId, NewLogEntry, StoreError};

const WATERMARK: &str = "nerve.archive.logs.watermark";

/// A value can be set, read, replaced and deleted; deleting says whether it was there.
pub fn set_get_overwrite_and_delete(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    assert_eq!(store.meta_get("k").expect("get"), None);
    store.meta_set("k", "one").expect("set");
    assert_eq!(store.meta_get("k").expect("get").as_deref(), Some("one"));
    store.meta_set("k", "two").expect("overwrite");
    assert_eq!(store.meta_get("k").expect("get").as_deref(), Some("two"));
    store.meta_set("other", "").expect("an empty value");
    assert_eq!(store.meta_get("other").expect("get").as_deref(), Some(""));
    assert!(store.meta_delete("k").expect("delete"));
    assert!(!store.meta_delete("k").expect("delete again"));
    assert_eq!(store.meta_get("k").expect("get"), None);
    assert_eq!(store.meta_get("other").expect("get").as_deref(), Some(""));
}

/// Meta pairs page in the order of their keys' UTF-8 bytes, from a cursor that need not be
/// a key, up to the limit, and meta_entries reads them all in that order.
pub fn meta_pages_in_key_order_from_a_cursor(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    for key in ["b", "é", "a", "Z", "z", "aa"] {
        store.meta_set(key, &format!("of {key}")).expect("set");
    }
    let keys = |page: Vec<(String, String)>| -> Vec<String> {
        page.into_iter()
            .map(|(key, value)| {
                assert_eq!(value, format!("of {key}"), "each key with its own value");
                key
            })
            .collect()
    };
    let in_order = ["Z", "a", "aa", "b", "z", "é"];
    assert_eq!(keys(store.meta_entries().expect("all")), in_order);
    assert_eq!(
        keys(store.meta_page(None, 2).expect("first page")),
        ["Z", "a"]
    );
    assert_eq!(
        keys(store.meta_page(Some("a"), 2).expect("next page")),
        ["aa", "b"]
    );
    assert_eq!(
        keys(
            store
                .meta_page(Some("ab"), 10)
                .expect("from a cursor that is no key")
        ),
        ["b", "z", "é"]
    );
    assert_eq!(
        keys(store.meta_page(Some("é"), 10).expect("past the last")),
        Vec::<String>::new()
    );
    assert_eq!(
        keys(store.meta_page(None, 0).expect("no room")),
        Vec::<String>::new()
    );
}

/// Meta values are there after reopening, deletions too.
pub fn meta_survives_reopening(open: OpenStore) {
    let mut fx = Fixture::new(open);
    fx.store().meta_set("kept", "value").expect("set");
    fx.store().meta_set("gone", "value").expect("set");
    fx.store().meta_delete("gone").expect("delete");
    fx.reopen();
    assert_eq!(
        fx.store().meta_get("kept").expect("get").as_deref(),
        Some("value")
    );
    assert_eq!(fx.store().meta_get("gone").expect("get"), None);
}

/// `delete_days` stores its meta pairs in its own transaction: both happen, or, when a pair
/// is invalid, neither.
pub fn delete_days_writes_meta_in_the_same_transaction(open: OpenStore) {
    let fx = Fixture::new(open);
    let store = fx.store();
    let entry = store
        .append(NewLogEntry::new("s", "k", "p").at(minutes(0)))
        .expect("append");
    let span = DaySpan::new(minutes(0).date_naive(), entry.id);
    let err = store
        .delete_days(&[span], &[(WATERMARK, "2026-11-24"), ("", "bad")])
        .expect_err("an empty meta key");
    assert!(
        matches!(err, StoreError::InvalidInput { field: "key", .. }),
        "{err}"
    );
    assert_eq!(all_entries(store), vec![entry], "nothing was deleted");
    assert_eq!(store.meta_get(WATERMARK).expect("get"), None);

    let deleted = store
        .delete_days(&[span], &[(WATERMARK, "2026-11-24")])
        .expect("delete");
    assert_eq!(deleted, 1);
    assert!(all_entries(store).is_empty());
    assert_eq!(
        store.meta_get(WATERMARK).expect("get").as_deref(),
        Some("2026-11-24")
    );
    store
        .delete_days(&[], &[(WATERMARK, "2026-11-25")])
        .expect("meta alone");
    assert_eq!(
        store.meta_get(WATERMARK).expect("get").as_deref(),
        Some("2026-11-25")
    );
    let none = DaySpan::new(minutes(0).date_naive(), LogId(0));
    assert_eq!(store.delete_days(&[none], &[]).expect("an empty span"), 0);
}

/// An empty key is refused with an error that names it.
pub fn an_empty_key_is_refused(open: OpenStore) {
    let fx = Fixture::new(open);
    let err = fx.store().meta_set("", "v").expect_err("an empty key");
    assert!(
        matches!(err, StoreError::InvalidInput { field: "key", .. }),
        "{err}"
    );
    assert_eq!(fx.store().meta_get("").expect("get"), None);
}
