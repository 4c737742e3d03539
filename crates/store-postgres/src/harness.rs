//! The conformance harness (feature `conformance`): a throwaway PostgreSQL server started
//! from the system's binaries for the test process, and a fresh schema per store folder.
//!
//! The server is made with `initdb` in a temporary folder (as the `postgres` user when the
//! tests run as root, since `initdb` refuses root), listens on a free loopback port, and is
//! started with the parent-death signal set (`setpriv --pdeathsig`), so that it stops when
//! the test process ends, whether the tests passed, failed or the process was killed. When
//! no server can be started, every case that needs one fails, saying what to install.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use store_conformance::{BlobHarness, Harness};
use store_core::{BlobStore, Digest, LogBackend, LogId, StoreResult};

use crate::{PgLogStore, PgOptions};

/// A server for the tests of this process.
#[derive(Debug)]
pub struct TestServer {
    /// `postgres://nerve@127.0.0.1:PORT/postgres`.
    pub url: String,
    /// The cluster's folder; removed by the next test process once this one has ended.
    pub dir: PathBuf,
}

static SERVER: OnceLock<Result<TestServer, String>> = OnceLock::new();

/// The server of this test process, started at the first call.
///
/// # Panics
/// When no server can be started: the message says why and what to install.
pub fn server() -> &'static TestServer {
    match SERVER.get_or_init(start) {
        Ok(server) => server,
        Err(why) => panic!(
            "no PostgreSQL server for the tests: {why}. Install Debian's `postgresql` package \
             (apt-get install postgresql), which provides initdb and postgres; `.ci/run` does"
        ),
    }
}

/// The folder of the server's binaries: where `initdb` is on the `PATH`, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian keeps them there).
fn binaries() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("postgres").is_file() {
                return Ok(dir);
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| "initdb is not on the PATH and /usr/lib/postgresql does not exist".to_owned())?
        .flatten()
        .map(|entry| entry.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    versions.sort_by_key(|bin| {
        bin.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions
        .pop()
        .ok_or_else(|| "no initdb under /usr/lib/postgresql/*/bin".to_owned())
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// `program` and `args` as the server's user: `postgres` when this process is root.
fn as_server_user(program: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("setpriv");
    if is_root() {
        command.args(["--reuid=postgres", "--regid=postgres", "--init-groups"]);
    }
    command.arg("--pdeathsig=TERM").arg(program).args(args);
    command
}

/// The server of the test process that started this one, if it has one: a child process
/// of a case (a second writer, a process to kill) works on its parent's stores.
fn parents_server(temp: &Path) -> Option<TestServer> {
    store_conformance::servers::parents_folders(temp, "nerve-pg", "url")
        .into_iter()
        .find_map(|(dir, url)| {
            postgres::Client::connect(&url, postgres::NoTls).ok()?;
            Some(TestServer { url, dir })
        })
}

fn start() -> Result<TestServer, String> {
    let temp = std::env::temp_dir();
    if let Some(server) = parents_server(&temp) {
        return Ok(server);
    }
    let cluster = Cluster::init(&temp)?;
    cluster.launch()?;
    std::fs::write(cluster.dir.join("url"), &cluster.url)
        .map_err(|err| format!("recording the URL: {err}"))?;
    Ok(TestServer {
        url: cluster.url,
        dir: cluster.dir,
    })
}

/// A cluster made by `initdb` in a folder of its own, and the port it listens on.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    url: String,
}

impl Cluster {
    /// A new cluster under `temp`, on a free loopback port, not started.
    fn init(temp: &Path) -> Result<Cluster, String> {
        let bin = binaries()?;
        let dir = store_conformance::servers::fresh_folder(temp, "nerve-pg")?;
        if is_root() {
            let owned = Command::new("chown")
                .args(["postgres:", &dir.display().to_string()])
                .status()
                .map_err(|err| format!("chown: {err}"))?;
            if !owned.success() {
                return Err(
                    "chown of the server's folder to postgres failed (is there a postgres user?)"
                        .into(),
                );
            }
        }
        let data_arg = dir.join("data").display().to_string();
        let init = as_server_user(
            &bin.join("initdb"),
            &[
                "-D",
                &data_arg,
                "-U",
                "nerve",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )
        .stdout(Stdio::null())
        .output()
        .map_err(|err| format!("running initdb: {err}"))?;
        if !init.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&init.stderr).trim()
            ));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|err| format!("finding a free port: {err}"))?
            .port();
        let url = format!("postgres://nerve@127.0.0.1:{port}/postgres");
        Ok(Cluster {
            bin,
            dir,
            port,
            url,
        })
    }

    /// Starts the server and waits until it accepts connections; returns its process id.
    fn launch(&self) -> Result<u32, String> {
        let data_arg = self.dir.join("data").display().to_string();
        let socket = self.dir.display().to_string();
        let port_arg = self.port.to_string();
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .map_err(|err| err.to_string())?;
        let mut server = as_server_user(
            &self.bin.join("postgres"),
            &[
                "-D",
                &data_arg,
                "-p",
                &port_arg,
                "-k",
                &socket,
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=300",
                "-c",
                "fsync=on",
            ],
        );
        server.stdout(Stdio::null()).stderr(log);
        // The parent-death signal follows the thread that started the server: one that
        // lives as long as the server.
        let (started, child) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let spawned = server.spawn();
            match spawned {
                Ok(mut child) => {
                    let _ = started.send(Ok(child.id()));
                    let _ = child.wait();
                }
                Err(err) => {
                    let _ = started.send(Err(err.to_string()));
                }
            }
        });
        let pid = child
            .recv()
            .map_err(|err| err.to_string())?
            .map_err(|err| format!("starting postgres: {err}"))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match postgres::Client::connect(&self.url, postgres::NoTls) {
                Ok(_) => return Ok(pid),
                Err(err) if Instant::now() > deadline => {
                    let log =
                        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                    return Err(format!(
                        "the server did not accept connections: {err}; {log}"
                    ));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

/// A server of a test's own, which the test may stop and start again (on the same port,
/// with the same data): for what a store does while its server is down or restarting.
/// It stops when the test process ends.
pub struct OwnServer {
    cluster: Cluster,
    pid: Option<u32>,
}

impl OwnServer {
    /// A new server, started.
    ///
    /// # Panics
    /// When no server can be started: the message says why and what to install.
    pub fn start() -> OwnServer {
        let started = Cluster::init(&std::env::temp_dir()).and_then(|cluster| {
            let pid = cluster.launch()?;
            Ok(OwnServer {
                cluster,
                pid: Some(pid),
            })
        });
        started.unwrap_or_else(|why| {
            panic!(
                "no PostgreSQL server for the test: {why}. Install Debian's `postgresql` \
                 package (apt-get install postgresql); `.ci/run` does"
            )
        })
    }

    /// `postgres://nerve@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> &str {
        &self.cluster.url
    }

    /// Stops the server (a fast shutdown: its clients' connections are closed) and waits
    /// until its process has ended.
    ///
    /// # Panics
    /// When the server cannot be signalled or does not end within a minute.
    pub fn stop(&mut self) {
        let Some(pid) = self.pid.take() else {
            return;
        };
        let signalled = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(signalled.success(), "the server {pid} was signalled");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Path::new("/proc").join(pid.to_string()).exists() {
            assert!(Instant::now() < deadline, "the server {pid} did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the stopped server again and waits until it accepts connections.
    ///
    /// # Panics
    /// When it does not start.
    pub fn restart(&mut self) {
        if self.pid.is_none() {
            self.pid = Some(self.cluster.launch().expect("the server starts again"));
        }
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status();
        }
    }
}

/// The file in a store's folder that names its schema on the test server.
fn schema_file(dir: &Path) -> PathBuf {
    dir.join("pg-store")
}

/// The schema of the store kept in `dir` and the server it is on: made up (and recorded in
/// the folder) at the first call, so that a reopen, and a second process given the folder,
/// find the same store on the same server.
fn store_of(dir: &Path) -> (String, String) {
    if let Ok(text) = std::fs::read_to_string(schema_file(dir))
        && let Some((schema, url)) = text.trim().split_once(' ')
    {
        return (schema.to_owned(), url.to_owned());
    }
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let schema = format!(
        "nerve_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let url = server().url.clone();
    std::fs::create_dir_all(dir).expect("the store's folder");
    std::fs::write(schema_file(dir), format!("{schema} {url}")).expect("record the schema");
    release_finished(Some((dir.to_path_buf(), schema.clone())));
    (schema, url)
}

/// The schemas this process made, each with the folder that names it: a schema whose
/// folder is gone belongs to a case that has ended (its fixture removes the folder after
/// closing the store), and is dropped the next time a schema is made, so that thousands of
/// generated cases keep only the live ones on the server's disk.
static MADE: std::sync::Mutex<Vec<(PathBuf, String)>> = std::sync::Mutex::new(Vec::new());

/// Drops the schemas of ended cases and records `made`. A schema that cannot be dropped yet
/// (a store left open holds a lock on it) is kept for the next round; the server's folder
/// goes with the test process in any case.
fn release_finished(made: Option<(PathBuf, String)>) {
    let mut list = MADE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (ended, live): (Vec<_>, Vec<_>) = list
        .drain(..)
        .partition(|(dir, _)| !schema_file(dir).exists());
    *list = live;
    list.extend(made);
    if ended.is_empty() {
        return;
    }
    let Ok(mut client) = postgres::Client::connect(&server().url, postgres::NoTls) else {
        list.extend(ended);
        return;
    };
    for (dir, schema) in ended {
        let drop = format!("SET lock_timeout = '2s'; DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
        if client.batch_execute(&drop).is_err() {
            list.push((dir, schema));
        }
    }
}

/// The schema of the store kept in `dir`.
pub fn schema_of(dir: &Path) -> String {
    store_of(dir).0
}

/// The options of the store kept in `dir` on the test server.
pub fn options(dir: &Path) -> PgOptions {
    let (schema, url) = store_of(dir);
    PgOptions::new(url, schema).expect("a schema name")
}

/// The value of the server setting `name` in a session of `store`'s pool: what the store's
/// options set for every session it opens.
pub fn session_setting(store: &PgLogStore, name: &str) -> String {
    let mut conn = store.pool().get().expect("a pooled connection");
    conn.query_one("SELECT current_setting($1)", &[&name])
        .expect("the setting")
        .get(0)
}

/// A client on the test server, for going behind a store's back.
pub fn raw() -> postgres::Client {
    postgres::Client::connect(&server().url, postgres::NoTls).expect("a raw client")
}

/// PostgreSQL under test.
pub struct PgHarness;

impl Harness for PgHarness {
    fn checks_read_only(&self) -> bool {
        true
    }

    fn open(&self, dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
        Ok(Box::new(PgLogStore::open_with(options(dir))?))
    }

    fn open_read_only(&self, dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
        if !schema_file(dir).exists() {
            return Err(store_core::StoreError::NoStore {
                path: dir.to_owned(),
            });
        }
        Ok(Box::new(PgLogStore::open_with(
            options(dir).read_only(true),
        )?))
    }

    fn open_existing(&self, dir: &Path) -> StoreResult<Box<dyn LogBackend>> {
        // Where the folder names no store yet, a schema nobody made: the server answers.
        let options = if schema_file(dir).exists() {
            options(dir)
        } else {
            PgOptions::new(&server().url, format!("nerve_none_{}", std::process::id()))?
        };
        Ok(Box::new(PgLogStore::open_with(
            options.create_if_missing(false),
        )?))
    }

    fn damage_run(&self, dir: &Path, run_id: &str) {
        let changed = raw()
            .execute(
                &format!(
                    "UPDATE \"{}\".runs SET status = 'paused' WHERE run_id = $1",
                    schema_of(dir)
                ),
                &[&run_id.as_bytes()],
            )
            .expect("an unknown status");
        assert_eq!(changed, 1, "the run's row");
    }

    fn damage_entry(&self, dir: &Path, id: LogId) {
        let changed = raw()
            .execute(
                &format!(
                    "UPDATE \"{}\".logs SET source = '\\xff'::bytea WHERE id = $1",
                    schema_of(dir)
                ),
                &[&crate::read::id_to_sql(id)],
            )
            .expect("bytes that are not UTF-8");
        assert_eq!(changed, 1, "the entry's row");
    }

    fn schema_version(&self) -> i64 {
        i64::from(crate::schema::SCHEMA_VERSION)
    }

    fn set_schema_version(&self, dir: &Path, version: i64) {
        let version = i32::try_from(version).expect("a version PostgreSQL keeps");
        raw()
            .execute(
                &format!(
                    "UPDATE \"{}\".store_identity SET schema_version = $1",
                    schema_of(dir)
                ),
                &[&version],
            )
            .expect("the version");
    }

    fn tamper_activity(&self, dir: &Path) {
        let s = schema_of(dir);
        let changed = raw()
            .execute(
                &format!(
                    "UPDATE \"{s}\".activity SET n = n + 1 WHERE (hour, series) = \
                     (SELECT hour, series FROM \"{s}\".activity ORDER BY hour, series LIMIT 1)"
                ),
                &[],
            )
            .expect("a count changed");
        assert_eq!(changed, 1, "the store had a count under its mark");
    }

    fn forget_activity(&self, dir: &Path) {
        let s = schema_of(dir);
        raw()
            .batch_execute(&format!(
                "DROP TABLE \"{s}\".activity; \
                 ALTER TABLE \"{s}\".log_tally RENAME TO entry_count; \
                 DROP INDEX \"{s}\".logs_by_hour; \
                 DROP INDEX \"{s}\".logs_by_source_kind_hour; \
                 CREATE INDEX logs_by_ts ON \"{s}\".logs (ts, id); \
                 UPDATE \"{s}\".store_identity SET schema_version = 3"
            ))
            .expect("the schema before activity counts");
    }

    fn put_foreign_store(&self, dir: &Path) {
        let s = schema_of(dir);
        raw()
            .batch_execute(&format!(
                "CREATE SCHEMA \"{s}\"; CREATE TABLE \"{s}\".accounts (name text PRIMARY KEY, \
                 balance bigint); INSERT INTO \"{s}\".accounts VALUES ('ada', 10);"
            ))
            .expect("another program's schema");
    }

    fn foreign_store_contents(&self, dir: &Path) -> Vec<u8> {
        let s = schema_of(dir);
        let mut client = raw();
        let tables: Vec<String> = client
            .query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 \
                 ORDER BY 1",
                &[&s],
            )
            .expect("tables")
            .iter()
            .map(|row| row.get(0))
            .collect();
        let rows: Vec<(String, i64)> = client
            .query(
                &format!("SELECT name, balance FROM \"{s}\".accounts ORDER BY name"),
                &[],
            )
            .expect("rows")
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        format!("{tables:?} {rows:?}").into_bytes()
    }
}

impl BlobHarness for PgHarness {
    fn open_blobs(&self, dir: &Path) -> StoreResult<Box<dyn BlobStore>> {
        Ok(Box::new(crate::PgBlobStore::open_with(options(dir))?))
    }

    fn open_blobs_read_only(&self, dir: &Path) -> StoreResult<Box<dyn BlobStore>> {
        if !schema_file(dir).exists() {
            return Err(store_core::StoreError::NoStore {
                path: dir.to_owned(),
            });
        }
        Ok(Box::new(crate::PgBlobStore::open_with(
            options(dir).read_only(true),
        )?))
    }

    fn replace_content(&self, dir: &Path, digest: &Digest, content: &[u8]) {
        let s = schema_of(dir);
        let mut client = raw();
        let id: i64 = client
            .query_one(
                &format!("SELECT blob_id FROM \"{s}\".blobs WHERE digest = $1"),
                &[&digest.as_bytes().as_slice()],
            )
            .expect("the blob's row")
            .get(0);
        client
            .execute(
                &format!("DELETE FROM \"{s}\".blob_chunks WHERE blob_id = $1"),
                &[&id],
            )
            .expect("drop its chunks");
        client
            .execute(
                &format!("INSERT INTO \"{s}\".blob_chunks (blob_id, seq, data) VALUES ($1, 0, $2)"),
                &[&id, &content],
            )
            .expect("other content");
    }

    fn remove(&self, dir: &Path, digest: &Digest) {
        let s = schema_of(dir);
        raw()
            .execute(
                &format!("DELETE FROM \"{s}\".blobs WHERE digest = $1"),
                &[&digest.as_bytes().as_slice()],
            )
            .expect("remove the blob");
    }
}
