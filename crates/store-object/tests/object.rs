//! What the blob suite cannot say about object storage: a writer that meets a collector's
//! lease, multipart uploads that leave nothing behind, retries of transient failures, a
//! service that cannot be reached, and credentials that never show.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use store_core::{BlobStore, Digest, StoreError};
use store_object::harness::{self, ObjectHarness, SECRET_KEY};
use store_object::{ObjectBlobStore, PART_BYTES};

fn content(len: usize, seed: u8) -> Vec<u8> {
    store_conformance::blobs::content(len, seed)
}

/// The worst order of a collection beside a writer of the same content: the collector has
/// taken its lease and read the old time; the writer's `PUT` lands; then the collector's
/// removal. The writer does not return while the lease is live, and puts the blob back
/// once it is gone: the blob is whole when the writer returns.
#[test]
fn a_write_that_meets_a_collectors_lease_waits_and_puts_the_blob_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(ObjectBlobStore::open_with(harness::options(dir.path())).expect("open"));
    let data = content(4000, 3);
    let digest = store.write(&data).expect("write");
    let blob = format!("blobs/{}", digest.to_hex());
    let lease = format!("doomed/{}/a-collector", digest.to_hex());
    // The collector's lease, and its removal of the old copy.
    ObjectHarness::put_object(dir.path(), &lease, b"now");
    ObjectHarness::remove_object(dir.path(), &blob);

    let (done, returned) = std::sync::mpsc::channel();
    let writer = {
        let store = Arc::clone(&store);
        let data = data.clone();
        std::thread::spawn(move || {
            let written = store.write(&data);
            let _ = done.send(());
            written
        })
    };
    // The writer's PUT lands...
    while !ObjectHarness::objects_under(dir.path(), "blobs").contains(&blob) {
        std::thread::yield_now();
    }
    // ...and then the collector's removal, under its lease.
    ObjectHarness::remove_object(dir.path(), &blob);
    assert!(
        returned.try_recv().is_err(),
        "the writer returned while a collector's lease was live"
    );
    ObjectHarness::remove_object(dir.path(), &lease);
    assert_eq!(writer.join().expect("the writer").expect("written"), digest);
    assert_eq!(store.read(&digest).expect("read"), Some(data), "put back");
}

/// A blob larger than a part is uploaded in parts and copied to its name: the upload's
/// object is gone once the write returns. A source that fails after two parts leaves no
/// blob and no upload.
#[test]
fn a_large_blob_goes_up_in_parts_and_leaves_no_upload_behind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ObjectBlobStore::open_with(harness::options(dir.path())).expect("open");
    let large = content(2 * PART_BYTES + 12_345, 4);
    let digest = store.write(&large).expect("write");
    assert_eq!(store.len(&digest).expect("len"), Some(large.len() as u64));
    assert_eq!(
        store.read(&digest).expect("read").as_deref(),
        Some(&large[..])
    );
    assert!(ObjectHarness::objects_under(dir.path(), "incoming").is_empty());

    struct FailsAfter(usize);
    impl Read for FailsAfter {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("the source broke"));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(7);
            self.0 -= n;
            Ok(n)
        }
    }
    let err = store
        .write_from(&mut FailsAfter(2 * PART_BYTES + 1))
        .expect_err("the source fails");
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    assert_eq!(store.list().expect("list"), vec![digest], "no new blob");
    assert!(ObjectHarness::objects_under(dir.path(), "incoming").is_empty());
}

/// A loopback proxy to the test server that answers the first `failures` connections with
/// `503 Slow Down` (what S3 answers a client it throttles) and passes the rest through.
fn flaky_proxy(failures: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = listener.local_addr().expect("its address");
    let upstream = harness::server()
        .endpoint
        .trim_start_matches("http://")
        .to_owned();
    let refused = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&refused);
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            if counted.load(Ordering::SeqCst) < failures {
                counted.fetch_add(1, Ordering::SeqCst);
                slow_down(client);
                continue;
            }
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            pipe(client, server);
        }
    });
    (format!("http://{address}"), refused)
}

/// Reads a request's head and answers 503, closing the connection.
fn slow_down(mut client: TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0; 1];
    while !head.ends_with(b"\r\n\r\n") && client.read(&mut byte).is_ok_and(|n| n == 1) {
        head.push(byte[0]);
    }
    let body =
        "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
    let _ = write!(
        client,
        "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Copies bytes both ways between `a` and `b` until either side closes.
fn pipe(a: TcpStream, b: TcpStream) {
    for (mut from, mut to) in [
        (a.try_clone().expect("clone"), b.try_clone().expect("clone")),
        (b, a),
    ] {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = to.shutdown(std::net::Shutdown::Both);
        });
    }
}

/// A service that throttles or fails for a while: every request is sent again with backoff
/// until it is answered, so opening, writing and reading succeed. With no retries allowed
/// the same failure is a typed error that names the store and never the secret key.
#[test]
fn transient_failures_are_retried_and_without_retries_are_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (endpoint, refused) = flaky_proxy(3);
    let store = ObjectBlobStore::open_with(harness::options(dir.path()).endpoint(&endpoint))
        .expect("open through the failures");
    let data = content(70_000, 5);
    let digest = store.write(&data).expect("write");
    assert_eq!(store.read(&digest).expect("read"), Some(data));
    assert_eq!(refused.load(Ordering::SeqCst), 3, "three requests failed");

    let (endpoint, _) = flaky_proxy(1);
    let err = ObjectBlobStore::open_with(
        harness::options(dir.path())
            .endpoint(&endpoint)
            .max_retries(0),
    )
    .expect_err("no retry");
    assert!(
        matches!(err, StoreError::Backend { backend: "s3", .. }),
        "{err:?}"
    );
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("s3://nerve-tests/"), "{shown}");
    assert!(shown.contains("503"), "{shown}");
    assert!(!shown.contains(SECRET_KEY), "{shown}");
}

/// A service that is not there is `Unavailable`, naming the store, never the secret key.
#[test]
fn a_service_that_cannot_be_reached_is_unavailable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a port")
        .port();
    let err = ObjectBlobStore::open_with(
        harness::options(dir.path())
            .endpoint(&format!("http://127.0.0.1:{closed}"))
            .max_retries(1),
    )
    .expect_err("nothing listens");
    assert!(
        matches!(err, StoreError::Unavailable { backend: "s3", .. }),
        "{err:?}"
    );
    let shown = format!("{err} {err:?} {:?}", harness::options(dir.path()));
    assert!(!shown.contains(SECRET_KEY), "{shown}");
}

/// The blobs of another prefix are not this store's, and a prefix with no store is not
/// created by an open that may not create one.
#[test]
fn stores_under_two_prefixes_do_not_see_each_other() {
    let one = tempfile::tempdir().expect("temp dir");
    let two = tempfile::tempdir().expect("temp dir");
    let first = ObjectBlobStore::open_with(harness::options(one.path())).expect("open");
    let digest = first.write(b"only in the first").expect("write");
    let err = ObjectBlobStore::open_with(harness::options(two.path()).create_if_missing(false))
        .expect_err("no store there");
    assert!(matches!(err, StoreError::NoStore { .. }), "{err}");
    let second = ObjectBlobStore::open_with(harness::options(two.path())).expect("create");
    assert_eq!(second.list().expect("list"), Vec::<Digest>::new());
    assert_eq!(second.read(&digest).expect("read"), None);
}

/// A step of removals releases every lease it took, and removes the old blobs in bulk: what
/// a writer then finds is no lease, and the blobs written since kept.
#[test]
fn a_step_of_removals_leaves_no_lease_behind() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = ObjectBlobStore::open_with(harness::options(dir.path())).expect("open");
    let old: Vec<Digest> = (0..40_u8)
        .map(|i| store.write(&content(100, i)).expect("write"))
        .collect();
    let cutoff = chrono::Utc::now() + chrono::Duration::seconds(5);
    let freed = store
        .delete_all_if_written_before(&old, cutoff)
        .expect("a step");
    assert_eq!(freed, vec![Some(100); old.len()]);
    assert!(store.list().expect("list").is_empty());
    assert!(
        ObjectHarness::objects_under(dir.path(), "doomed").is_empty(),
        "every lease released"
    );
    // A writer's upload that has just completed is not a leftover: the step keeps it.
    ObjectHarness::put_object(dir.path(), "incoming/a-live-upload", b"parts");
    store
        .delete_all_if_written_before(&old, cutoff)
        .expect("another step");
    assert_eq!(
        ObjectHarness::objects_under(dir.path(), "incoming"),
        vec!["incoming/a-live-upload".to_owned()]
    );
}

/// A dead collector's lease (one that outlived the lease's length) does not hold a writer:
/// it writes through it; and the next step of removals sweeps it away.
#[test]
fn a_dead_collectors_lease_holds_no_writer_and_the_next_step_sweeps_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lease = std::time::Duration::from_secs(2);
    let store =
        ObjectBlobStore::open_with(harness::options(dir.path()).lease(lease)).expect("open");
    let data = content(500, 6);
    let digest = store.write(&data).expect("write");
    let dead = format!("doomed/{}/a-dead-collector", digest.to_hex());
    ObjectHarness::put_object(dir.path(), &dead, b"then");
    // Until it has run out (its stamp's second, and the lease), the lease is a live one.
    let put_at = std::time::Instant::now();
    while put_at.elapsed() < lease + std::time::Duration::from_secs(2) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(store.write(&data).expect("written through"), digest);
    assert_eq!(store.read(&digest).expect("read"), Some(data));
    assert!(ObjectHarness::objects_under(dir.path(), "doomed").contains(&dead));
    let absent = Digest::of(b"not in the store");
    store
        .delete_all_if_written_before(&[absent], chrono::Utc::now())
        .expect("a step");
    assert!(
        ObjectHarness::objects_under(dir.path(), "doomed").is_empty(),
        "swept"
    );
}
