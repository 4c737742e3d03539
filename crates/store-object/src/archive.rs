//! `ObjectArchive`: the archive on object storage (`s3://bucket/prefix`), whose objects are
//! an archive folder's files under `<prefix>/logs/`: a folder's replica, or the archive runs
//! write to directly.

use std::io::Read;
use std::path::Path;

use object_store::{ObjectStore, PutMode, PutPayload, UpdateVersion};
use store_archive::{ArchiveReplica, ReplicaObject};
use store_core::{StoreError, StoreResult};

use crate::ObjectOptions;
use crate::bucket::{Bucket, read_part};
use crate::error::store_error;

/// The folder of the archive's objects under the prefix.
const LOGS: &str = "logs";

/// An archive on object storage: `push_archive`, `pull_archive`, `verify_replica` and the
/// `…_at` functions of `store-archive` (`archive_logs_at`, `read_archive_at`, …) take it.
/// Each object is put whole by one `PUT`, or a multipart upload to its own name for a day
/// file larger than a part, which appears only when the upload completes; the manifest is
/// replaced by a conditional `PUT` (`If-Match` the version read, `If-None-Match: *` for
/// the first).
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

    fn list(&self) -> StoreResult<Vec<ReplicaObject>> {
        let folder = self.bucket.key(LOGS);
        let objects = self.bucket.run(self.bucket.list_under(&folder))?;
        Ok(objects
            .into_iter()
            .filter_map(|meta| {
                Some(ReplicaObject {
                    name: meta.location.filename()?.to_owned(),
                    bytes: meta.size,
                    written_at: meta.last_modified,
                })
            })
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

    fn put_bytes_if(
        &self,
        name: &str,
        bytes: Vec<u8>,
        tag: Option<&str>,
    ) -> StoreResult<Option<String>> {
        self.bucket.writable("write")?;
        let key = self.key(name);
        let mode = match tag {
            None => PutMode::Create,
            Some(tag) => PutMode::Update(UpdateVersion {
                e_tag: Some(tag.to_owned()),
                version: None,
            }),
        };
        self.bucket.run(async {
            let put = self
                .bucket
                .client
                .put_opts(&key, PutPayload::from(bytes), mode.into())
                .await;
            match put {
                Ok(put) => Ok(Some(put.e_tag.unwrap_or_default())),
                Err(object_store::Error::AlreadyExists { .. })
                | Err(object_store::Error::Precondition { .. }) => Ok(None),
                Err(err) => Err(store_error(
                    &format!("writing {}", self.bucket.shown(&key)),
                    err,
                )),
            }
        })
    }

    fn get(&self, name: &str) -> StoreResult<Option<Box<dyn Read + Send + '_>>> {
        let body = self.bucket.get(&self.key(name))?;
        Ok(body.map(|body| Box::new(body) as Box<dyn Read + Send + '_>))
    }

    fn get_tagged(&self, name: &str) -> StoreResult<Option<(Vec<u8>, String)>> {
        let got = self.bucket.get_whole(&self.key(name))?;
        Ok(got.map(|(bytes, tag)| (bytes.to_vec(), tag.unwrap_or_default())))
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
