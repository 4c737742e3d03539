//! The console in a real browser: Debian's Chromium, headless, driven through its
//! ChromeDriver (WebDriver) by fantoccini. Every page loads with no error in the browser's
//! console, the filters and the paging work by clicking, a hostile payload is shown as text
//! and runs nothing, and the live tail shows an entry another process appends. The pages'
//! screenshots go to `target/console-screenshots/` (the README's are these).
//!
//! `cargo xtask test` installs Chromium and ChromeDriver (Debian's `chromium` and
//! `chromium-driver`) when they are missing; without them these tests fail saying so.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{HOSTILE, REPORT, fill, location_of, on_runtime};
use fantoccini::{Client, ClientBuilder, Locator};
use nerve_store::{AsyncStore, NewLogEntry, OpenOptions};
use serde_json::json;
use store_console::{ConsoleOptions, router};

/// The child process that appends to the store, for the live tail.
const APPEND_TO: &str = "NERVE_CONSOLE_APPEND_TO";
/// How long a wait for the browser may take before the test fails: a guard against a hang,
/// not a measure (the waits end as soon as what they wait for is there).
const PATIENCE: Duration = Duration::from_secs(60);

/// ChromeDriver on a port of its own, ended with the test (and with the test process:
/// `setpriv --pdeathsig`).
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver() -> Driver {
    let driver = Path::new("/usr/bin/chromedriver");
    assert!(
        driver.is_file() && Path::new("/usr/bin/chromium").is_file(),
        "the browser tests need Chromium and its ChromeDriver: install Debian's chromium and \
         chromium-driver (cargo xtask test does when they are missing)"
    );
    let mut child = Command::new("setpriv")
        .args(["--pdeathsig", "KILL", "--"])
        .arg(driver)
        .arg("--port=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let mut lines = BufReader::new(child.stdout.take().expect("its output")).lines();
    let port = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            line.split("started successfully on port ")
                .nth(1)
                .and_then(|rest| rest.trim_end_matches('.').trim().parse().ok())
        })
        .expect("chromedriver says its port");
    // Its later output is not read; it must not block on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Driver { child, port }
}

/// A headless Chromium session that keeps the browser's console log.
async fn browser(driver: &Driver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({ "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"] }),
    );
    capabilities.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
    ClientBuilder::rustls()
        .expect("a client")
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a browser session")
}

/// WebDriver's `se/log` (ChromeDriver's): what the browser's console said since last asked.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// The errors the browser's console logged since last asked.
async fn console_errors(client: &Client) -> Vec<String> {
    let log = client
        .issue_cmd(BrowserLog)
        .await
        .expect("the browser's log");
    log.as_array()
        .into_iter()
        .flatten()
        .filter(|line| line["level"] == "SEVERE")
        .map(|line| line["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A store of `backend` in `dir`, filled ([`fill`]), with two more days of the daemon's
/// entries (the hostile text among them) two and three days back, archived to `dir/archive`;
/// its location.
fn filled(backend: &str, dir: &Path) -> String {
    let location = location_of(backend, dir);
    fill(&location);
    let store = nerve_store::open(&location).expect("the store");
    for ago in [3, 2] {
        let day = archived_day(ago);
        for (i, payload) in ["{\"started\":true}", HOSTILE, "{\"done\":true}"]
            .iter()
            .enumerate()
        {
            let at = day.and_hms_opt(9, i as u32, 0).expect("a time").and_utc();
            store
                .log
                .append(NewLogEntry::new("daemon", "note", *payload).at(at))
                .expect("an old entry");
        }
    }
    // A day of a scheduler's ticks, some hours busier than others: what the chart draws.
    let now = chrono::Utc::now();
    let ticks: Vec<NewLogEntry> = (1..24i64)
        .flat_map(|hours_ago| {
            let at = now - chrono::Duration::hours(hours_ago);
            (0..(hours_ago * 37 % 50 + 5))
                .map(move |_| NewLogEntry::new("cron", "tick", "{}").at(at))
        })
        .collect();
    store.log.append_batch(ticks).expect("a day of ticks");
    let options = nerve_store::archive::ArchiveOptions {
        dir: dir.join("archive"),
        retain_days: 1,
        ..Default::default()
    };
    nerve_store::archive::archive_logs(store.log.as_ref(), &options).expect("archive");
    location
}

/// The day `ago` days before today, which [`filled`] archives.
fn archived_day(ago: i64) -> chrono::NaiveDate {
    (chrono::Utc::now() - chrono::Duration::days(ago)).date_naive()
}

/// The store at `location`, read-only (opened outside the runtime: PostgreSQL's client
/// runs one of its own).
fn read_only(location: &str) -> nerve_store::Store {
    nerve_store::open_with(location, &OpenOptions::default().read_only(true)).expect("read-only")
}

/// The console of `store` and of the archive in `dir/archive`, served on a loopback port.
async fn serve(store: nerve_store::Store, dir: &Path) -> SocketAddr {
    let archive = nerve_store::archive::ArchiveAt::open(dir.join("archive")).expect("the archive");
    let options = ConsoleOptions {
        archive: Some(std::sync::Arc::new(archive)),
        ..ConsoleOptions::default()
    };
    let listener = store_console::bind("127.0.0.1:0".parse().expect("an address"), &options)
        .await
        .expect("bind");
    let at = listener.local_addr().expect("its address");
    tokio::spawn(store_console::serve(
        listener,
        router(AsyncStore::new(store), &options),
    ));
    at
}

/// Where the screenshots go.
fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../console-screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshots' folder");
    dir
}

fn every_page_loads_with_no_console_error_and_shows_hostile_values_as_text(backend: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = read_only(&filled(backend, dir.path()));
    on_runtime(async {
        let at = serve(store, dir.path()).await;
        let driver = start_driver();
        let client = browser(&driver).await;
        let blob = format!("/blobs/{}", nerve_store::Digest::of(REPORT).to_hex());
        let pages = [
            ("overview", "/", "Overview"),
            ("activity-7-days", "/?since=7d&by=hour", "Overview"),
            ("runs-newest", "/runs?order=newest&status=failed", "Runs"),
            ("blob", blob.as_str(), "Blob"),
            ("runs", "/runs", "Runs"),
            ("failed-runs", "/runs?status=failed", "Runs"),
            ("run", "/runs/run-0", "Run run-0"),
            ("hostile-run", "/runs/run-7", "Run run-7"),
            ("log", "/logs", "Log"),
            ("hostile-log", "/logs?type=note", "Log"),
            ("live", "/logs/live", "Live"),
            ("thread", "/threads/thread-1", "Thread thread-1"),
            ("archive", "/archive", "Archive"),
            (
                "archived-day",
                &format!("/archive/{}", archived_day(2)),
                "Archived",
            ),
        ];
        for (name, path, heading) in pages.iter().map(|(n, p, h)| (*n, p.to_string(), *h)) {
            client
                .goto(&format!("http://{at}{path}"))
                .await
                .expect("load");
            let h1 = client.find(Locator::Css("h1")).await.expect("a heading");
            let text = h1.text().await.expect("its text");
            assert!(text.starts_with(heading), "{path}: {text}");
            let png = client.screenshot().await.expect("a screenshot");
            std::fs::write(screenshots().join(format!("{backend}-{name}.png")), png)
                .expect("save it");
            let errors = console_errors(&client).await;
            assert!(errors.is_empty(), "{path}: the console says {errors:?}");
            assert!(
                client.get_alert_text().await.is_err(),
                "{path} ran a script: an alert is open"
            );
        }
        // The chart's bars carry their counts, the failed transitions among them.
        client.goto(&format!("http://{at}/")).await.expect("load");
        let mut tooltips = Vec::new();
        for title in client
            .find_all(Locator::Css("figure.chart svg rect title"))
            .await
            .expect("the bars' titles")
        {
            // A tooltip is not rendered text: its content, as the browser holds it.
            let text = title.prop("textContent").await.expect("its content");
            tooltips.push(text.unwrap_or_default());
        }
        assert!(
            tooltips.iter().any(|t| t.ends_with(" failed")),
            "{tooltips:?}"
        );
        let failed: u64 = tooltips
            .iter()
            .filter(|t| t.ends_with(" failed"))
            .map(|t| {
                t.rsplit(' ')
                    .nth(1)
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0)
            })
            .sum();
        assert_eq!(failed, 24, "{tooltips:?}");
        // The blob's download, through the page's link, is its content.
        client
            .goto(&format!("http://{at}{blob}"))
            .await
            .expect("load");
        let download = client
            .find(Locator::Css("a.download"))
            .await
            .expect("the download link")
            .attr("href")
            .await
            .expect("its address")
            .expect("an href");
        // An attachment: the page's own script fetches it, as a click would download it.
        let body = client
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 fetch(arguments[0]).then(r => r.text()).then(done, e => done('failed: ' + e));",
                vec![serde_json::Value::String(download)],
            )
            .await
            .expect("the download")
            .as_str()
            .map(str::to_owned)
            .expect("text");
        assert_eq!(body.as_bytes(), REPORT);
        // The hostile text, on the pages that show it, is text.
        let archived = format!("/archive/{}", archived_day(2));
        for (path, cell) in [
            ("/logs?type=note", "td.payload"),
            ("/runs/run-0", "dd pre"),
            ("/threads/thread-1", ".round pre"),
            (archived.as_str(), "td.payload"),
        ] {
            client
                .goto(&format!("http://{at}{path}"))
                .await
                .expect("load");
            let shown: Vec<String> = futures_all(&client, cell).await;
            assert!(
                shown.iter().any(|text| text.contains(HOSTILE)),
                "{path}: {shown:?}"
            );
        }
        client.close().await.expect("close");
    });
}

/// The text of every element `css` finds.
async fn futures_all(client: &Client, css: &str) -> Vec<String> {
    let mut texts = Vec::new();
    for element in client.find_all(Locator::Css(css)).await.expect("find") {
        texts.push(element.text().await.expect("text"));
    }
    texts
}

fn filters_and_paging_work_by_clicking(backend: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = read_only(&filled(backend, dir.path()));
    on_runtime(async {
        let at = serve(store, dir.path()).await;
        let driver = start_driver();
        let client = browser(&driver).await;
        client
            .goto(&format!("http://{at}/runs"))
            .await
            .expect("load");
        let select = client
            .find(Locator::Css("select[name=status]"))
            .await
            .expect("the status filter");
        select
            .select_by_value("failed")
            .await
            .expect("choose failed");
        client
            .find(Locator::Css("form.filters button"))
            .await
            .expect("the button")
            .click()
            .await
            .expect("filter");
        client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("table.runs"))
            .await
            .expect("the table");
        let url = client.current_url().await.expect("the address");
        assert!(url.as_str().contains("status=failed"), "{url}");
        let statuses = futures_all(&client, "td.status").await;
        assert_eq!(statuses.len(), 24);
        assert!(
            statuses.iter().all(|status| status == "failed"),
            "{statuses:?}"
        );

        client
            .goto(&format!("http://{at}/logs?source=worker&limit=100"))
            .await
            .expect("load");
        let mut pages = Vec::new();
        loop {
            let ids = futures_all(&client, "table.entries tr td:first-child").await;
            pages.push(ids.clone());
            let Ok(next) = client.find(Locator::Css("a.next")).await else {
                break;
            };
            let href = next
                .attr("href")
                .await
                .expect("its address")
                .expect("an href");
            let to = url::Url::parse(&format!("http://{at}"))
                .and_then(|base| base.join(&href))
                .expect("the next page's address");
            next.click().await.expect("next");
            client
                .wait()
                .at_most(PATIENCE)
                .for_url(&to)
                .await
                .expect("the next page");
        }
        let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![100, 100, 51]);
        let all: Vec<u64> = pages
            .concat()
            .iter()
            .map(|id| id.parse().expect("an id"))
            .collect();
        assert!(
            all.windows(2).all(|pair| pair[0] < pair[1]),
            "in id order, none twice"
        );
        assert!(console_errors(&client).await.is_empty());
        client.close().await.expect("close");
    });
}

fn the_live_tail_shows_what_another_process_appends(backend: &str) {
    if let Some(location) = std::env::var_os(APPEND_TO) {
        let store = nerve_store::open(&location.to_string_lossy()).expect("the store");
        store
            .log
            .append(NewLogEntry::new(
                "late",
                "tick",
                "{\"from\":\"another process\"}",
            ))
            .expect("append");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let location = filled(backend, dir.path());
    let store = read_only(&location);
    on_runtime(async {
        let at = serve(store, dir.path()).await;
        let driver = start_driver();
        let client = browser(&driver).await;
        client
            .goto(&format!("http://{at}/logs/live?source=late"))
            .await
            .expect("load");
        client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::XPath(
                "//span[@id='live-state' and text()='following']",
            ))
            .await
            .expect("the tail follows");
        let status = Command::new(std::env::current_exe().expect("the test binary"))
            .args([
                &format!("{backend}::the_live_tail_shows_what_another_process_appends"),
                "--exact",
                "--test-threads",
                "1",
            ])
            .env(APPEND_TO, &location)
            .stdout(Stdio::null())
            .status()
            .expect("run the appending process");
        assert!(status.success(), "the appending process: {status}");
        let appended = Instant::now();
        let row = client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css("tr.live td.payload"))
            .await
            .expect("the new entry's row");
        let seen = appended.elapsed();
        assert_eq!(
            row.text().await.expect("its text"),
            "{\"from\":\"another process\"}"
        );
        println!(
            "the live tail showed another process's entry {} ms after it committed",
            seen.as_millis()
        );
        let png = client.screenshot().await.expect("a screenshot");
        std::fs::write(screenshots().join(format!("{backend}-live-tail.png")), png)
            .expect("save it");
        assert!(console_errors(&client).await.is_empty());
        client.close().await.expect("close");
    });
}

store_conformance::for_each_backend!(
    backends: { sqlite => "sqlite", redb => "redb", postgres => "postgres" },
    cases: {
        every_page_loads_with_no_console_error_and_shows_hostile_values_as_text,
        filters_and_paging_work_by_clicking,
        the_live_tail_shows_what_another_process_appends,
    }
);
