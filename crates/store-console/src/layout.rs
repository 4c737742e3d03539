//! What every page has around it: the head, the navigation, the stylesheet (in the binary).

use axum::http::header;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

/// The console's stylesheet, compiled into the binary.
const STYLESHEET: &str = include_str!("../assets/console.css");

/// The console's script (the live tail), compiled into the binary.
const SCRIPT: &str = include_str!("../assets/console.js");

/// `GET /assets/console.js`.
pub(crate) async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        SCRIPT,
    )
}

/// `GET /assets/console.css`.
pub(crate) async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLESHEET,
    )
}

/// A whole page: `title` in the head and the navigation above `body`.
pub(crate) fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · nerve-store" }
                // No icon to fetch: the browser asks for none.
                link rel="icon" href="data:,";
                link rel="stylesheet" href="/assets/console.css";
                script src="/assets/console.js" defer {}
            }
            body {
                nav {
                    a.home href="/" { "nerve-store" }
                    a href="/runs" { "runs" }
                    a href="/logs" { "log" }
                    a href="/logs/live" { "live" }
                    a href="/archive" { "archive" }
                }
                main { (body) }
            }
        }
    }
}

/// A time as the pages show it: UTC, to the millisecond, in a `<time>` element.
pub(crate) fn time(at: DateTime<Utc>) -> Markup {
    html! {
        time datetime=(at.to_rfc3339()) { (at.format("%Y-%m-%d %H:%M:%S%.3f")) }
    }
}
