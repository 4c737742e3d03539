//! The console of nerve-store: a read-only web view of a store, for the questions answered
//! faster by looking than by reading (docs/SPEC.md section 8).
//!
//! [`router`] is an `axum` router over an [`AsyncStore`], to serve on its own ([`serve`]) or
//! to mount beside a daemon's own endpoints. Every page is server-rendered HTML (every value
//! from the store escaped), with a JSON twin under `/api/` that gives what the command line's
//! `--json` gives; every asset is in the binary; no route writes. [`check_bind`] refuses an
//! address other hosts can reach unless a token guards it, and the token is compared in
//! constant time.

mod access;
mod activity;
mod api;
mod archive;
mod blobs;
mod error;
mod layout;
mod live;
mod pages;
mod params;
mod reads;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use nerve_store::{AsyncStore, StoreError, StoreResult};

pub use access::check_bind;

/// How the console is served.
#[derive(Clone, Default)]
pub struct ConsoleOptions {
    /// The token every request must carry (`Authorization: Bearer …`, or the cookie the
    /// page `/?token=…` sets); `None`: none asked, which [`check_bind`] allows on loopback
    /// only.
    pub token: Option<String>,
    /// The archive whose days `/archive` shows (a folder, or object storage); `None`: no
    /// archive pages.
    pub archive: Option<Arc<nerve_store::archive::ArchiveAt>>,
    /// The time relative filters (`2h`, `today`) and the chart's default range count from;
    /// `None`: the clock. Local times are read in the server's zone either way.
    pub now: Option<chrono::DateTime<chrono::Utc>>,
}

impl std::fmt::Debug for ConsoleOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleOptions")
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field(
                "archive",
                &self.archive.as_ref().map(|archive| archive.shown()),
            )
            .field("now", &self.now)
            .finish()
    }
}

/// What every handler shares: the store, and the token's hash.
#[derive(Clone)]
pub(crate) struct Console {
    pub(crate) store: AsyncStore,
    pub(crate) archive: Option<Arc<nerve_store::archive::ArchiveAt>>,
    pub(crate) token: Option<Arc<access::TokenHash>>,
    pub(crate) now: Option<chrono::DateTime<chrono::Utc>>,
}

impl Console {
    /// Now in the server's zone: what relative times count back from.
    pub(crate) fn now(&self) -> nerve_store::time::Zoned {
        let zone = nerve_store::time::TimeZone::system();
        let fixed = self.now.and_then(|now| {
            nerve_store::time::Timestamp::from_millisecond(now.timestamp_millis()).ok()
        });
        fixed
            .unwrap_or_else(nerve_store::time::Timestamp::now)
            .to_zoned(zone)
    }
}

/// The console's routes over `store`: the pages, their JSON twins under `/api/`, the
/// embedded assets under `/assets/`. Only `GET` is routed: nothing writes. Open the store
/// read-only, so that not even a bug could.
pub fn router(store: AsyncStore, options: &ConsoleOptions) -> Router {
    let console = Console {
        store,
        archive: options.archive.clone(),
        token: options
            .token
            .as_deref()
            .map(|token| Arc::new(access::TokenHash::of(token))),
        now: options.now,
    };
    Router::new()
        .route("/", get(pages::overview))
        .route("/runs", get(pages::runs))
        .route("/runs/{run}", get(pages::run))
        .route("/logs", get(pages::logs))
        .route("/logs/live", get(pages::live))
        .route("/threads/{thread}", get(pages::thread))
        .route("/archive", get(archive::days))
        .route("/archive/{day}", get(archive::day))
        .route("/blobs/{digest}", get(blobs::blob))
        .route("/blobs/{digest}/content", get(blobs::content))
        .route("/api/stats", get(api::stats))
        .route("/api/activity", get(api::activity))
        .route("/api/runs", get(api::runs))
        .route("/api/runs/{run}", get(api::run))
        .route("/api/logs", get(api::logs))
        .route("/api/logs/stream", get(live::stream))
        .route("/api/threads/{thread}", get(api::thread))
        .route("/assets/console.css", get(layout::stylesheet))
        .route("/assets/console.js", get(layout::script))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(
            console.clone(),
            access::require_token,
        ))
        .with_state(console)
}

/// Serves `router` on `listener` until the process ends.
///
/// # Errors
/// [`StoreError::Io`] when the listener fails.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> StoreResult<()> {
    let at = listener.local_addr().ok();
    axum::serve(listener, router)
        .await
        .map_err(|err| StoreError::Io {
            path: None,
            context: format!(
                "serving the console{}",
                at.map(|at| format!(" at {at}")).unwrap_or_default()
            ),
            source: err.into(),
        })
}

/// A listener at `address` for the console, once [`check_bind`] allows it (port 0 picks
/// one: the listener's `local_addr` says which).
///
/// # Errors
/// [`check_bind`]'s; [`StoreError::Io`] when the address cannot be bound.
pub async fn bind(
    address: SocketAddr,
    options: &ConsoleOptions,
) -> StoreResult<tokio::net::TcpListener> {
    check_bind(address, options.token.as_deref())?;
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|err| StoreError::Io {
            path: None,
            context: format!("binding the console to {address}"),
            source: err.into(),
        })
}
