//! The console over a store of each backend, each page and API call requested through its
//! router:
//! what each shows, its filters and paging, escaping of hostile values, the token, and the
//! refusal of an address other hosts reach without one (docs/SPEC.md section 8).

mod common;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use common::{HOSTILE, REPORT, fill, location_of, on_runtime};
use http_body_util::BodyExt as _;
use nerve_store::{AsyncStore, NewLogEntry, OpenOptions, Store};
use serde_json::Value;
use store_console::{ConsoleOptions, check_bind, router};
use tower::ServiceExt as _;

/// The store at `location`, filled, opened again read-only.
fn filled(location: &str) -> Store {
    fill(location);
    nerve_store::open_with(location, &OpenOptions::default().read_only(true))
        .expect("the store, read-only")
}

fn console(location: &str, options: &ConsoleOptions) -> Router {
    router(AsyncStore::new(filled(location)), options)
}

/// The response to `GET uri` (with `headers`): its status, its headers, its body.
async fn get_with(
    app: &Router,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut request = Request::get(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).expect("a request"))
        .await
        .expect("an answer");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("the body")
        .to_bytes();
    (
        status,
        headers,
        String::from_utf8(body.to_vec()).expect("UTF-8"),
    )
}

async fn get(app: &Router, uri: &str) -> (StatusCode, String) {
    let (status, _, body) = get_with(app, uri, &[]).await;
    (status, body)
}

async fn page(app: &Router, uri: &str) -> String {
    let (status, body) = get(app, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {body}");
    body
}

/// The `href` of the page's `a.next` link, if it has one.
fn next_link(body: &str) -> Option<String> {
    let at = body.find("class=\"next\" href=\"")?;
    let rest = &body[at + "class=\"next\" href=\"".len()..];
    Some(rest[..rest.find('"')?].replace("&amp;", "&"))
}

fn every_page_shows_what_the_store_holds(backend: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let location = location_of(backend, dir.path());
    on_runtime(async {
        let app = console(&location, &ConsoleOptions::default());

        let overview = page(&app, "/").await;
        assert!(overview.contains("<dd>120</dd>"), "120 runs: {overview}");
        assert!(overview.contains("href=\"/runs?status=failed\""));
        assert!(overview.contains("<td>24</td>"), "24 failed runs");
        assert!(overview.contains("run-1"), "an active run listed");

        let run = page(&app, "/runs/run-5").await;
        assert!(run.contains("Run run-5") && run.contains("summarise"));
        // Its state path: each status it took, and how long it spent in the one before.
        let path: Vec<&str> = run
            .split("<td class=\"status\">")
            .skip(1)
            .map(|rest| &rest[..rest.find('<').unwrap_or(0)])
            .collect();
        assert_eq!(path, ["queued", "started", "failed"], "{run}");
        assert_eq!(run.matches("<td class=\"took\">").count(), 3);
        assert!(run.contains("<td>queued</td><td class=\"status\">started</td>"));
        assert!(run.contains("href=\"/threads/thread-1\""));

        let thread = page(&app, "/threads/thread-1").await;
        assert!(thread.contains("round 1 · user") && thread.contains("round 2 · user"));
        assert!(thread.contains("what changed?"));

        let (status, headers, css) = get_with(&app, "/assets/console.css", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
        assert!(css.contains("table"));

        let (status, missing) = get(&app, "/runs/no-such-run").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(missing.contains("no-such-run"), "{missing}");
        assert_eq!(get(&app, "/nowhere").await.0, StatusCode::NOT_FOUND);
    });
}

fn filters_narrow_and_pages_follow_one_another_to_the_end(backend: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let location = location_of(backend, dir.path());
    on_runtime(async {
        let app = console(&location, &ConsoleOptions::default());

        let failed = page(&app, "/runs?status=failed&limit=1000").await;
        assert_eq!(
            failed.matches("<td class=\"status\">failed</td>").count(),
            24
        );
        assert!(!failed.contains("<td class=\"status\">started</td>"));

        // 251 entries of the worker, 100 a page: three pages, each after the last.
        let mut uri = "/logs?source=worker&limit=100".to_owned();
        let mut seen = Vec::new();
        loop {
            let body = page(&app, &uri).await;
            seen.push(body.matches("<td>worker</td>").count());
            match next_link(&body) {
                Some(next) => uri = next,
                None => break,
            }
        }
        assert_eq!(
            seen,
            vec![100, 100, 51],
            "every entry once, a page at a time"
        );

        let (status, body) = get(&app, "/runs?status=sleeping").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(
            body.contains("&quot;sleeping&quot; is not a status"),
            "{body}"
        );
        let (status, body) = get(&app, "/logs?since=yesterday-ish").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("is not a time"), "{body}");
    });
}

fn a_hostile_value_is_shown_as_text_on_every_page_that_shows_it(backend: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let location = location_of(backend, dir.path());
    on_runtime(async {
        let app = console(&location, &ConsoleOptions::default());
        for uri in [
            "/logs?type=note",
            "/runs/run-0",
            "/runs/run-7",
            "/threads/thread-1",
        ] {
            let body = page(&app, uri).await;
            assert!(
                body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
                "{uri} shows it: {body}"
            );
            assert!(!body.contains(HOSTILE), "{uri} would run it");
            assert_eq!(
                body.matches("<script").count(),
                body.matches("<script src=\"/assets/console.js\" defer>")
                    .count(),
                "{uri} has no script but the console's own"
            );
        }
        // A hostile address is escaped too.
        let (status, body) = get(&app, "/runs/%3Cscript%3E").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!body.contains("<script>"), "{body}");
    });
}

fn the_api_answers_what_the_pages_show_as_json(backend: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let location = location_of(backend, dir.path());
    on_runtime(async {
        let app = console(&location, &ConsoleOptions::default());
        let json = |body: String| -> Value { serde_json::from_str(&body).expect("JSON") };

        let stats = json(page(&app, "/api/stats").await);
        assert_eq!(stats["runs"], 120);
        let runs = json(page(&app, "/api/runs?status=failed&limit=10").await);
        assert_eq!(runs["items"].as_array().map(Vec::len), Some(10));
        assert_eq!(runs["next"], "run-45", "{runs}");
        let next = json(page(&app, "/api/runs?status=failed&limit=10&after=run-45").await);
        assert_eq!(next["items"][0]["runId"], "run-50");
        let run = json(page(&app, "/api/runs/run-5").await);
        assert_eq!(run["status"], "failed");
        assert_eq!(run["log"].as_array().map(Vec::len), Some(3));
        let logs = json(page(&app, "/api/logs?type=note").await);
        assert_eq!(
            logs["items"][0]["payload"], HOSTILE,
            "the value itself, as JSON carries it"
        );
        assert_eq!(logs["next"], Value::Null);
        let thread = json(page(&app, "/api/threads/thread-1").await);
        assert_eq!(thread.as_array().map(Vec::len), Some(3));

        let (status, body) = get(&app, "/api/runs/no-such-run").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(
            json(body)["error"]
                .as_str()
                .is_some_and(|e| e.contains("no-such-run"))
        );
    });
}

fn nothing_writes_and_the_store_is_read_only(backend: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let location = location_of(backend, dir.path());
    on_runtime(async {
        let app = console(&location, &ConsoleOptions::default());
        for (method, uri) in [
            ("POST", "/runs"),
            ("DELETE", "/runs/run-1"),
            ("PUT", "/api/logs"),
        ] {
            let request = Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::empty())
                .expect("a request");
            let status = app
                .clone()
                .oneshot(request)
                .await
                .expect("an answer")
                .status();
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        }
        let store = nerve_store::open_with(&location, &OpenOptions::default().read_only(true))
            .expect("open");
        assert!(matches!(
            store.log.append(NewLogEntry::new("x", "y", "{}")),
            Err(nerve_store::StoreError::OpenedReadOnly { .. })
        ));
    });
}

fn a_token_guards_every_page_and_is_given_once_by_the_address(backend: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let location = location_of(backend, dir.path());
    on_runtime(async {
        let options = ConsoleOptions {
            token: Some("s3cret-token".into()),
            ..ConsoleOptions::default()
        };
        let app = console(&location, &options);
        for uri in ["/", "/runs", "/api/stats", "/assets/console.css"] {
            let (status, _, body) = get_with(&app, uri, &[]).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
            assert!(body.contains("?token="), "says how: {body}");
        }
        let wrong = get_with(&app, "/", &[("authorization", "Bearer s3cret-tokeN")]).await;
        assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
        let right = get_with(
            &app,
            "/api/stats",
            &[("authorization", "Bearer s3cret-token")],
        )
        .await;
        assert_eq!(right.0, StatusCode::OK);

        let (status, headers, _) =
            get_with(&app, "/runs?status=failed&token=s3cret-token", &[]).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(
            headers[header::LOCATION],
            "/runs?status=failed",
            "the token leaves the address"
        );
        let cookie = headers[header::SET_COOKIE].to_str().expect("a cookie");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        let pair = cookie.split(';').next().expect("name=value");
        let (status, _, body) = get_with(&app, "/runs?status=failed", &[("cookie", pair)]).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!body.contains("s3cret-token"), "no page shows the token");
        let (status, ..) = get_with(&app, "/?token=guess", &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    });
}

#[test]
fn an_address_other_hosts_reach_needs_a_token() {
    let any: SocketAddr = "0.0.0.0:8080".parse().expect("an address");
    let err = check_bind(any, None).expect_err("refused");
    assert!(err.to_string().contains("give it a token"), "{err}");
    check_bind(any, Some("t0ken")).expect("guarded");
    assert!(
        check_bind(any, Some("")).is_err(),
        "an empty token guards nothing"
    );
    for loopback in ["127.0.0.1:0", "[::1]:0"] {
        check_bind(loopback.parse().expect("an address"), None).expect("loopback");
    }
    let lan: SocketAddr = "192.168.1.10:8080".parse().expect("an address");
    assert!(check_bind(lan, None).is_err());
}

fn the_live_stream_sends_what_another_writer_commits(backend: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let location = location_of(backend, dir.path());
    on_runtime(async {
        let app = console(&location, &ConsoleOptions::default());
        let live = page(&app, "/logs/live?source=late").await;
        assert!(
            live.contains("data-stream=\"/api/logs/stream?source=late&amp;after=0\""),
            "{live}"
        );

        let response = app
            .clone()
            .oneshot(
                Request::get("/api/logs/stream?source=late")
                    .body(Body::empty())
                    .expect("a request"),
            )
            .await
            .expect("an answer");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/event-stream"
        );
        let mut body = response.into_body();
        // Another handle on the store, as another process would be, commits two entries.
        let writer = nerve_store::open(&location).expect("a writer");
        for n in 0..2 {
            writer
                .log
                .append(NewLogEntry::new("late", "tick", format!("{{\"n\":{n}}}")))
                .expect("an entry");
        }
        let mut sent = String::new();
        let read = tokio::time::timeout(std::time::Duration::from_secs(120), async {
            while sent.matches("\"source\":\"late\"").count() < 2 {
                let frame = body
                    .frame()
                    .await
                    .expect("the stream goes on")
                    .expect("a frame");
                if let Some(data) = frame.data_ref() {
                    sent.push_str(&String::from_utf8_lossy(data));
                }
            }
        })
        .await;
        assert!(read.is_ok(), "both entries sent: {sent}");
        assert!(sent.contains("\"payload\":\"{\\\"n\\\":0}\""), "{sent}");
        let first = sent.find("\\\"n\\\":0").expect("the first");
        let second = sent.find("\\\"n\\\":1").expect("the second");
        assert!(first < second, "in commit order: {sent}");
    });
}

fn a_blob_shows_its_size_its_holders_and_its_verified_content(backend: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let location = location_of(backend, dir.path());
    on_runtime(async {
        let app = console(&location, &ConsoleOptions::default());
        let hex = nerve_store::Digest::of(REPORT).to_hex();
        let run = page(&app, "/runs/run-3").await;
        assert!(run.contains(&format!("href=\"/blobs/{hex}\"")), "{run}");

        let blob = page(&app, &format!("/blobs/{hex}")).await;
        assert!(blob.contains(&format!("{} bytes", REPORT.len())), "{blob}");
        assert!(
            blob.contains("<td>entry</td>") && blob.contains("<td>run</td>"),
            "{blob}"
        );
        assert!(blob.contains("href=\"/runs/run-3\""));

        let (status, headers, content) =
            get_with(&app, &format!("/blobs/sha256:{hex}/content"), &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content.as_bytes(), REPORT);
        assert_eq!(headers[header::CONTENT_LENGTH], REPORT.len().to_string());
        assert!(
            headers[header::CONTENT_DISPOSITION]
                .to_str()
                .is_ok_and(|d| d.contains(&hex))
        );

        let absent = nerve_store::Digest::of(b"never written").to_hex();
        assert_eq!(
            get(&app, &format!("/blobs/{absent}")).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get(&app, &format!("/blobs/{absent}/content")).await.0,
            StatusCode::NOT_FOUND
        );
        let (status, body) = get(&app, "/blobs/not-a-digest").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("not-a-digest"), "{body}");
    });
}

fn the_archive_pages_show_its_days_and_a_days_entries(backend: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let location = location_of(backend, dir.path());
    let archived = dir.path().join("archive");
    let now = chrono::Utc::now();
    let day = |ago: i64| (now - chrono::Duration::days(ago)).date_naive();
    {
        let store = nerve_store::open(&location).expect("a store");
        for ago in [3, 2] {
            for i in 0..5 {
                let at = day(ago).and_hms_opt(10, i, 0).expect("a time").and_utc();
                store
                    .log
                    .append(NewLogEntry::new("worker", "tick", format!("{{\"i\":{i}}}")).at(at))
                    .expect("an entry");
            }
        }
        let at = day(2).and_hms_opt(11, 0, 0).expect("a time").and_utc();
        store
            .log
            .append(NewLogEntry::new("worker", "note", HOSTILE).at(at))
            .expect("the hostile entry");
        let options = nerve_store::archive::ArchiveOptions {
            dir: archived.clone(),
            retain_days: 0,
            now,
            ..Default::default()
        };
        nerve_store::archive::archive_logs(store.log.as_ref(), &options).expect("archive");
    }
    let store = nerve_store::open_with(&location, &OpenOptions::default().read_only(true))
        .expect("read-only");
    let archive = nerve_store::archive::ArchiveAt::open(&archived).expect("the archive");
    on_runtime(async {
        let options = ConsoleOptions {
            archive: Some(std::sync::Arc::new(archive)),
            ..ConsoleOptions::default()
        };
        let app = router(AsyncStore::new(store), &options);
        let days = page(&app, "/archive").await;
        for (ago, entries) in [(3, 5), (2, 6)] {
            assert!(
                days.contains(&format!(
                    "href=\"/archive/{}\">{}</a></td><td>{entries}</td>",
                    day(ago),
                    day(ago)
                )),
                "{days}"
            );
        }
        let two = page(&app, &format!("/archive/{}", day(2))).await;
        assert_eq!(two.matches("<td>worker</td>").count(), 6, "{two}");
        assert!(two.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !two.contains(HOSTILE));
        assert_eq!(
            get(&app, "/archive/1999-01-01").await.0,
            StatusCode::NOT_FOUND
        );
        let (status, body) = get(&app, "/archive/someday").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("is not a day"), "{body}");
    });
    // Without an archive, the pages say so.
    let store = nerve_store::open_with(&location, &OpenOptions::default().read_only(true))
        .expect("read-only");
    on_runtime(async {
        let app = router(AsyncStore::new(store), &ConsoleOptions::default());
        let (status, body) = get(&app, "/archive").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(body.contains("No archive"), "{body}");
    });
}

/// The overview's chart counts every entry and every transition by status, by hour and by
/// day, from the store's counts; its range takes the command line's time forms and counts
/// back from the console's now; a step or range it cannot draw is a 400 naming the field.
fn the_chart_counts_entries_and_transitions_by_hour_and_by_day(backend: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let location = location_of(backend, dir.path());
    let now = chrono::Utc::now() + chrono::Duration::minutes(1);
    on_runtime(async {
        let options = ConsoleOptions {
            now: Some(now),
            ..ConsoleOptions::default()
        };
        let app = console(&location, &options);
        let json = |body: String| -> Value { serde_json::from_str(&body).expect("JSON") };
        let entries = json(page(&app, "/api/stats").await)["entries"].clone();
        assert_eq!(entries, 520, "what fill writes");
        for (uri, by, bars) in [
            ("/api/activity", "hour", 25),
            ("/api/activity?since=2d&by=hour", "hour", 49),
            ("/api/activity?since=6d", "day", 7),
            (
                "/api/activity?since=yesterday&until=tomorrow&by=day",
                "day",
                0,
            ),
        ] {
            let chart = json(page(&app, uri).await);
            assert_eq!(chart["by"], by, "{uri}");
            let shown = chart["bars"].as_array().expect("bars");
            if bars > 0 {
                assert!(
                    shown.len() == bars || shown.len() == bars - 1,
                    "{uri}: {}",
                    shown.len()
                );
            }
            let total = |field: &dyn Fn(&Value) -> u64| shown.iter().map(field).sum::<u64>();
            assert_eq!(
                total(&|bar| bar["entries"].as_u64().unwrap_or(0)),
                520,
                "{uri}"
            );
            let moved =
                |status: &str| total(&|bar| bar["transitions"][status].as_u64().unwrap_or(0));
            assert_eq!(
                [
                    moved("queued"),
                    moved("started"),
                    moved("failed"),
                    moved("completed")
                ],
                [120, 120, 24, 1],
                "{uri}"
            );
        }
        // A day later, the last 24 hours hold nothing.
        let later = console_at(&location, now + chrono::Duration::days(2));
        let chart = json(page(&later, "/api/activity").await);
        let shown = chart["bars"].as_array().expect("bars");
        assert!(shown.iter().all(|bar| bar["entries"] == 0), "{chart}");

        let overview = page(&app, "/?since=24h").await;
        assert!(overview.contains("<svg"), "{overview}");
        assert!(
            overview.contains("520 log entries, 265 run transitions"),
            "{overview}"
        );
        assert!(overview.contains("class=\"s-failed\""), "failed runs drawn");
        for (uri, field) in [
            ("/api/activity?by=week", "by"),
            ("/api/activity?since=90d&by=hour", "bars"),
            ("/api/activity?since=soon", "is not a time"),
            ("/api/activity?since=1h&until=2h", "is not before"),
            ("/?since=soon", "is not a time"),
        ] {
            let (status, body) = get(&app, uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
            assert!(body.contains(field), "{uri}: {body}");
        }
        // The log's filters take the same forms.
        let logs = json(page(&app, "/api/logs?since=1h&type=note").await);
        assert_eq!(logs["items"].as_array().map(Vec::len), Some(1));
        let logs = json(page(&app, "/api/logs?until=1d&type=note").await);
        assert_eq!(logs["items"].as_array().map(Vec::len), Some(0));
    });
}

/// A console over the (already filled) store at `location`, its now fixed at `now`.
fn console_at(location: &str, now: chrono::DateTime<chrono::Utc>) -> Router {
    let store = nerve_store::open_with(location, &OpenOptions::default().read_only(true))
        .expect("the store, read-only");
    let options = ConsoleOptions {
        now: Some(now),
        ..ConsoleOptions::default()
    };
    router(AsyncStore::new(store), &options)
}

/// The runs sort newest first as well as oldest first, page after page, by the creation
/// column's header or `order`, keeping the filters; `since` and `until` bound their creation
/// in the command line's time forms.
fn runs_sort_both_ways_and_filter_by_creation_time(backend: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let location = location_of(backend, dir.path());
    on_runtime(async {
        let app = console(&location, &ConsoleOptions::default());
        let json = |body: String| -> Value { serde_json::from_str(&body).expect("JSON") };
        let ids_of = |page: &Value| -> Vec<String> {
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|run| run["runId"].as_str().expect("an id").to_owned())
                .collect()
        };
        let mut both = Vec::new();
        for order in ["oldest", "newest"] {
            let mut uri = format!("/api/runs?order={order}&limit=50");
            let mut ids = Vec::new();
            loop {
                let page = json(page(&app, &uri).await);
                ids.extend(ids_of(&page));
                match page["next"].as_str() {
                    Some(after) => uri = format!("/api/runs?order={order}&limit=50&after={after}"),
                    None => break,
                }
            }
            assert_eq!(ids.len(), 120, "{order}: every run once");
            both.push(ids);
        }
        let reversed: Vec<String> = both[0].iter().rev().cloned().collect();
        assert_eq!(
            both[1], reversed,
            "newest first is oldest first turned around"
        );

        let oldest = page(&app, "/runs?status=failed").await;
        assert!(
            oldest.contains("class=\"sort\" href=\"/runs?status=failed&amp;order=newest\""),
            "{oldest}"
        );
        let newest = page(&app, "/runs?status=failed&order=newest&limit=10").await;
        assert!(
            newest.contains("href=\"/runs?status=failed&amp;order=oldest&amp;limit=10\""),
            "the header turns the order back: {newest}"
        );
        let next = next_link(&newest).expect("a next page");
        assert!(
            next.contains("order=newest") && next.contains("status=failed"),
            "{next}"
        );

        let recent = json(page(&app, "/api/runs?since=1h&limit=1000").await);
        assert_eq!(ids_of(&recent).len(), 120);
        let before = json(page(&app, "/api/runs?until=1h&limit=1000").await);
        assert_eq!(ids_of(&before).len(), 0);
        let (status, body) = get(&app, "/runs?order=sideways").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("is not an order"), "{body}");
    });
}

store_conformance::for_each_backend!(
    backends: { sqlite => "sqlite", redb => "redb", postgres => "postgres" },
    cases: {
        runs_sort_both_ways_and_filter_by_creation_time,
        the_chart_counts_entries_and_transitions_by_hour_and_by_day,
        the_archive_pages_show_its_days_and_a_days_entries,
        a_blob_shows_its_size_its_holders_and_its_verified_content,
        every_page_shows_what_the_store_holds,
        filters_narrow_and_pages_follow_one_another_to_the_end,
        a_hostile_value_is_shown_as_text_on_every_page_that_shows_it,
        the_api_answers_what_the_pages_show_as_json,
        nothing_writes_and_the_store_is_read_only,
        a_token_guards_every_page_and_is_given_once_by_the_address,
        the_live_stream_sends_what_another_writer_commits,
    }
);
