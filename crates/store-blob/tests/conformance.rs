//! Runs the blob conformance suite of `store-conformance` against `FsBlobStore`, through its harness.

use store_blob::harness::FsHarness;

store_conformance::blob_store_conformance!(harness: &FsHarness);

/// The file operations of a test, shared with the store that does them.
struct Shared(std::sync::Arc<store_conformance::LosesUnsynced>);

impl store_core::kit::FileOps for Shared {
    fn create_new(&self, path: &std::path::Path) -> std::io::Result<std::fs::File> {
        self.0.create_new(path)
    }
    fn write_all(&self, file: &mut std::fs::File, data: &[u8]) -> std::io::Result<()> {
        self.0.write_all(file, data)
    }
    fn sync_file(&self, file: &std::fs::File) -> std::io::Result<()> {
        self.0.sync_file(file)
    }
    fn create_dir_all(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.0.create_dir_all(path)
    }
    fn rename(&self, from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
        self.0.rename(from, to)
    }
    fn sync_dir(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.0.sync_dir(path)
    }
}

/// A power cut right after writes into a new store, on a file system that loses every folder
/// entry not synced into its folder: the store's folders, each blob's folder and each blob
/// survive it, whole.
#[test]
fn a_power_cut_after_writes_into_a_new_store_loses_no_blob() {
    use store_core::BlobStore as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("not").join("yet").join("blobs");
    let files = std::sync::Arc::new(store_conformance::LosesUnsynced::new());
    let store = store_blob::FsBlobStore::open_with_files(&root, Box::new(Shared(files.clone())))
        .expect("open");
    let contents: Vec<Vec<u8>> = (0..20_u8).map(|i| vec![i; 1000 + usize::from(i)]).collect();
    let digests: Vec<_> = contents
        .iter()
        .map(|content| store.write(content).expect("write"))
        .collect();
    drop(store);
    let lost = files.cut_power();
    assert!(lost.is_empty(), "left unsynced: {lost:?}");
    let store = store_blob::FsBlobStore::open(&root).expect("reopen");
    for (digest, content) in digests.iter().zip(&contents) {
        assert_eq!(store.read(digest).expect("read").as_ref(), Some(content));
    }
}
