//! The conformance harness (feature `conformance`): a throwaway S3 server for the test
//! process (the moto server, `moto[server]` from PyPI, in memory, on a loopback port), a
//! bucket on it, and a fresh prefix per store folder.
//!
//! The server is started with the parent-death signal set (`setpriv --pdeathsig`), so that
//! it stops when the test process ends, however it ends. A child process of a case (a
//! process to kill) uses its parent's server. When no server can be started, every case
//! that needs one fails, saying what to install.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use object_store::ObjectStoreExt as _;
use store_conformance::BlobHarness;
use store_core::{BlobStore, Digest, StoreResult};

use crate::{ObjectBlobStore, ObjectOptions};

/// The bucket every test store is in.
pub const BUCKET: &str = "nerve-tests";
/// The access key the tests sign with (moto takes any).
const ACCESS_KEY: &str = "nerve-test-key";
/// The secret the tests sign with: never shown by the store (the tests check).
pub const SECRET_KEY: &str = "nerve-test-secret-never-shown";
/// The region the tests name.
const REGION: &str = "us-east-1";

/// A server for the tests of this process.
#[derive(Debug)]
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The server's folder (its log); removed by the next test process once this one ended.
    pub dir: PathBuf,
}

static SERVER: OnceLock<Result<TestServer, String>> = OnceLock::new();

/// The server of this test process, started at the first call, with the tests' bucket.
///
/// # Panics
/// When no server can be started: the message says why and what to install.
pub fn server() -> &'static TestServer {
    match SERVER.get_or_init(start) {
        Ok(server) => server,
        Err(why) => panic!(
            "no S3 server for the tests: {why}. Install the moto server (pip install \
             'moto[server]', which provides moto_server); `cargo xtask test` and `.ci/run` do"
        ),
    }
}

/// The environment a process needs to reach the tests' server as the AWS tools would:
/// endpoint, region and credentials. For a child process (the command line under test).
pub fn environment() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", server().endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
        ("AWS_REGION", REGION.to_owned()),
    ]
}

/// The location of the test store kept for the folder `dir`: a prefix of its own.
pub fn location(dir: &Path) -> String {
    format!("s3://{BUCKET}/{}", prefix(dir))
}

/// The prefix of the folder `dir`: its path, made a key (each folder of the tests is unique
/// while it exists, and a server lives as long as its test process).
fn prefix(dir: &Path) -> String {
    let name: String = dir
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("cases/{}", name.trim_matches('-'))
}

/// The prefix of the test store kept for `dir`, in [`BUCKET`].
pub fn prefix_of(dir: &Path) -> String {
    prefix(dir)
}

/// A bare client of the tests' bucket (for a bench's baseline, or damage behind the
/// store's back).
pub fn client(dir: &Path) -> object_store::aws::AmazonS3 {
    options(dir).client().expect("a client of the test bucket")
}

/// The options of the test store for `dir`, on this process's server.
pub fn options(dir: &Path) -> ObjectOptions {
    ObjectOptions::from_location_only(&location(dir))
        .expect("a test location parses")
        .endpoint(&server().endpoint)
        .credentials(ACCESS_KEY, SECRET_KEY)
        .region(REGION)
}

/// The object store on S3 under test, a prefix per case folder.
pub struct ObjectHarness;

impl ObjectHarness {
    /// The raw client of the tests' bucket, to damage objects behind the store's back.
    fn raw(dir: &Path) -> (object_store::aws::AmazonS3, tokio::runtime::Runtime) {
        let client = client(dir);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        (client, runtime)
    }

    fn blob_key(dir: &Path, digest: &Digest) -> object_store::path::Path {
        object_store::path::Path::from(format!("{}/blobs/{}", prefix(dir), digest.to_hex()))
    }

    /// The names of the objects under `folder` of the store kept for `dir`, relative to the
    /// store's prefix (`incoming/…`, `doomed/…`).
    pub fn objects_under(dir: &Path, folder: &str) -> Vec<String> {
        use futures_util::TryStreamExt as _;
        use object_store::ObjectStore as _;
        let (client, runtime) = Self::raw(dir);
        let base = prefix(dir);
        let folder = object_store::path::Path::from(format!("{base}/{folder}"));
        let found: Vec<object_store::ObjectMeta> = runtime
            .block_on(client.list(Some(&folder)).try_collect())
            .expect("list the objects");
        found
            .into_iter()
            .map(|meta| {
                meta.location
                    .as_ref()
                    .trim_start_matches(&base)
                    .trim_start_matches('/')
                    .to_owned()
            })
            .collect()
    }

    /// Puts `content` at `name` (relative to the store's prefix) behind the store's back.
    pub fn put_object(dir: &Path, name: &str, content: &[u8]) {
        let (client, runtime) = Self::raw(dir);
        let key = object_store::path::Path::from(format!("{}/{name}", prefix(dir)));
        runtime
            .block_on(client.put(&key, content.to_vec().into()))
            .expect("put the object");
    }

    /// Removes the object `name` (relative to the store's prefix) behind the store's back.
    pub fn remove_object(dir: &Path, name: &str) {
        let (client, runtime) = Self::raw(dir);
        let key = object_store::path::Path::from(format!("{}/{name}", prefix(dir)));
        runtime
            .block_on(client.delete(&key))
            .expect("remove the object");
    }
}

impl BlobHarness for ObjectHarness {
    fn open_blobs(&self, dir: &Path) -> StoreResult<Box<dyn BlobStore>> {
        Ok(Box::new(ObjectBlobStore::open_with(options(dir))?))
    }

    fn open_blobs_read_only(&self, dir: &Path) -> StoreResult<Box<dyn BlobStore>> {
        Ok(Box::new(ObjectBlobStore::open_with(
            options(dir).read_only(true),
        )?))
    }

    fn replace_content(&self, dir: &Path, digest: &Digest, content: &[u8]) {
        let (client, runtime) = Self::raw(dir);
        runtime
            .block_on(client.put(&Self::blob_key(dir, digest), content.to_vec().into()))
            .expect("replace the blob's object");
    }

    fn remove(&self, dir: &Path, digest: &Digest) {
        let (client, runtime) = Self::raw(dir);
        runtime
            .block_on(client.delete(&Self::blob_key(dir, digest)))
            .expect("remove the blob's object");
    }
}

/// The moto server to run: `NERVE_MOTO_SERVER`, else `moto_server` on the `PATH`, else the
/// one `cargo xtask test` installs into the workspace (`target/moto/bin/moto_server`).
fn moto_server() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("NERVE_MOTO_SERVER") {
        return Ok(PathBuf::from(path));
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("moto_server").is_file() {
                return Ok(dir.join("moto_server"));
            }
        }
    }
    let installed = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/moto/bin/moto_server");
    if installed.is_file() {
        return Ok(installed);
    }
    Err("moto_server is not on the PATH, nor in target/moto".to_owned())
}

/// The server of the test process that started this one, if it has one.
fn parents_server(temp: &Path) -> Option<TestServer> {
    store_conformance::servers::parents_folders(temp, "nerve-s3", "endpoint")
        .into_iter()
        .next()
        .map(|(dir, endpoint)| TestServer { endpoint, dir })
}

fn start() -> Result<TestServer, String> {
    let temp = std::env::temp_dir();
    if let Some(server) = parents_server(&temp) {
        return Ok(server);
    }
    let program = moto_server()?;
    let dir = store_conformance::servers::fresh_folder(&temp, "nerve-s3")?;
    let log_path = dir.join("server.log");
    let log = std::fs::File::create(&log_path).map_err(|err| err.to_string())?;
    let mut command = Command::new("setpriv");
    command
        .arg("--pdeathsig=TERM")
        .arg(&program)
        .args(["-H", "127.0.0.1", "-p", "0"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|err| err.to_string())?)
        .stderr(log);
    // The parent-death signal follows the thread that started the server: one that lives
    // as long as the server.
    let (started, child) = std::sync::mpsc::channel();
    std::thread::spawn(move || match command.spawn() {
        Ok(mut child) => {
            let _ = started.send(Ok(()));
            let _ = child.wait();
        }
        Err(err) => {
            let _ = started.send(Err(err.to_string()));
        }
    });
    child
        .recv()
        .map_err(|err| err.to_string())?
        .map_err(|err| format!("starting {}: {err}", program.display()))?;
    // The server says where it listens once it does.
    let deadline = Instant::now() + Duration::from_secs(120);
    let endpoint = loop {
        let said = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(at) = said.find("Running on http://") {
            let rest = &said[at + "Running on ".len()..];
            if let Some(end) = rest.find(char::is_whitespace) {
                break rest[..end].trim_end_matches('/').to_owned();
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} did not start within 120 s: {}",
                program.display(),
                said.trim()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    create_bucket(&endpoint)?;
    std::fs::write(dir.join("endpoint"), &endpoint)
        .map_err(|err| format!("recording the endpoint: {err}"))?;
    Ok(TestServer { endpoint, dir })
}

/// Creates the tests' bucket: `PUT /BUCKET`, which moto takes unsigned.
fn create_bucket(endpoint: &str) -> Result<(), String> {
    let address = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address)
        .map_err(|err| format!("connecting to {endpoint}: {err}"))?;
    write!(
        stream,
        "PUT /{BUCKET} HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    )
    .map_err(|err| format!("creating the bucket: {err}"))?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .map_err(|err| format!("creating the bucket: {err}"))?;
    if answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(format!(
            "creating the bucket: {}",
            answer.lines().next().unwrap_or("no answer")
        ))
    }
}
