//! A downstream program that leaves the backend to its cargo features and its argument:
//!
//! ```text
//! cargo run -p nerve-store --example choose_backend -- sqlite:./data/example.db
//! cargo run -p nerve-store --no-default-features --features redb --example choose_backend -- redb:./data/example.redb
//! ```

use nerve_store::{DEFAULT_LOCATION, LogQuery, NewLogEntry, Order};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let location = std::env::args()
        .nth(1)
        .unwrap_or_else(|| DEFAULT_LOCATION.to_owned());
    let store = nerve_store::open(&location)?;
    let entry = store
        .log
        .append(NewLogEntry::new("example", "hello", "{}"))?;
    let newest = LogQuery {
        limit: Some(1),
        order: Order::Descending,
        ..LogQuery::default()
    };
    assert_eq!(store.log.query(&newest)?, vec![entry.clone()]);
    println!(
        "{}: appended entry #{} on the {} backend",
        store.location, entry.id, store.location.backend
    );
    Ok(())
}
