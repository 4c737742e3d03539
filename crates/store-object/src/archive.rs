//! `ObjectArchive`: the archive's replica on object storage (`s3://bucket/prefix`), whose
//! objects are the archive folder's files under `<prefix>/logs/`.

use std::io::Read;
use std::path::Path;

use store_archive::ArchiveReplica;
use store_core::{StoreError, StoreResult};

use crate::ObjectOptions;
use crate::bucket::{Bucket, read_part};

/// The folder of the archive's objects under the prefix.
const LOGS: &str = "logs";

/// An archive replica on object storage: `push_archive`, `pull_archive` and
/// `verify_replica` of `store-archive` take it. Each object is put whole by one `PUT`, or
/// a multipart upload to its own name for a day file larger than a part, which appears
/// only when the upload completes.
pub struct ObjectArchive {
    bucket: Bucket,
}

impl std::fmt::Debug for ObjectArchive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectArchive")
            .field("location", &self.bucket.location())
            .finish_non_exhaustive()
    }
}

impl ObjectArchive {
    /// The replica at `location` (`s3://bucket/prefix`), reaching the service as the AWS
    /// tools do from the environment ([`ObjectOptions::from_location`]). Makes no request.
    ///
    /// # Errors
    /// [`StoreError::InvalidInput`] for a location that is not `s3://…`.
    pub fn open(location: &str) -> StoreResult<Self> {
        Self::open_with(ObjectOptions::from_location(location)?)
    }

    /// The replica `options` name. Makes no request.
    ///
    /// # Errors
    /// As [`ObjectArchive::open`].
    pub fn open_with(options: ObjectOptions) -> StoreResult<Self> {
        Ok(ObjectArchive {
            bucket: Bucket::new(options)?,
        })
    }

    fn key(&self, name: &str) -> object_store::path::Path {
        self.bucket.key(&format!("{LOGS}/{name}"))
    }
}

impl ArchiveReplica for ObjectArchive {
    fn location(&self) -> String {
        self.bucket.location()
    }

    fn list(&self) -> StoreResult<Vec<(String, u64)>> {
        let folder = self.bucket.key(LOGS);
        let objects = self.bucket.run(self.bucket.list_under(&folder))?;
        Ok(objects
            .into_iter()
            .filter_map(|meta| Some((meta.location.filename()?.to_owned(), meta.size)))
            .collect())
    }

    fn put_file(&self, name: &str, path: &Path) -> StoreResult<()> {
        self.bucket.writable("write")?;
        let mut file = std::fs::File::open(path).map_err(|err| StoreError::Io {
            path: Some(path.to_owned()),
            context: "reading a day file to upload".into(),
            source: err.into(),
        })?;
        let first = read_part(&mut file)?;
        self.bucket
            .upload(&self.key(name), first, &mut file, &mut |_| Ok(()))
            .map(|_| ())
    }

    fn put_bytes(&self, name: &str, bytes: Vec<u8>) -> StoreResult<()> {
        self.bucket.writable("write")?;
        self.bucket
            .upload(&self.key(name), bytes, &mut std::io::empty(), &mut |_| {
                Ok(())
            })
            .map(|_| ())
    }

    fn get(&self, name: &str) -> StoreResult<Option<Box<dyn Read + Send + '_>>> {
        let body = self.bucket.get(&self.key(name))?;
        Ok(body.map(|body| Box::new(body) as Box<dyn Read + Send + '_>))
    }

    fn remove(&self, names: &[String]) -> StoreResult<()> {
        if names.is_empty() {
            return Ok(());
        }
        self.bucket.writable("write")?;
        let keys = names.iter().map(|name| self.key(name)).collect();
        self.bucket.run(self.bucket.remove_all(keys))
    }
}
