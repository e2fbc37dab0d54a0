//! The archive store on S3-compatible object storage:
//! `s3://<bucket>/<prefix><ledger>/<archival>.zip`. An object is written
//! once (`If-None-Match: *`: an existing object is never replaced), with
//! its SHA-256 for the service to check on receipt (a body damaged on the
//! way is refused) and server-side encryption; then it is read back and
//! hashed before anyone relies on it, as the directory store does.

use audit_core::{Hash, LedgerId};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier, ServerSideEncryption};
use base64::Engine as _;
use sha2::Digest as _;

use crate::StoreError;

const SCHEME: &str = "s3://";
/// Keys a DeleteObjects request takes at most.
const DELETE_BATCH: usize = 1_000;

/// A bucket (and key prefix) archive files go to.
#[derive(Debug, Clone)]
pub struct S3Archive {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// Empty, or ending in `/`.
    prefix: String,
}

fn failed(what: &str, error: impl std::error::Error) -> StoreError {
    StoreError::Export(format!("archive store: {what}: {}", DisplayErrorContext(error)))
}

/// Whether `name` is a bucket name S3 accepts (3 to 63 lowercase letters,
/// digits, dots and hyphens, starting and ending with a letter or digit).
fn valid_bucket(name: &str) -> bool {
    let edge = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (3..=63).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && edge(name.bytes().next())
        && edge(name.bytes().last())
}

/// Whether `prefix` is one this store writes below: segments of letters,
/// digits, `-`, `_` and `.`, each followed by `/` (never `..`).
fn valid_prefix(prefix: &str) -> bool {
    prefix.is_empty()
        || (prefix.ends_with('/')
            && prefix.trim_end_matches('/').split('/').all(|segment| {
                !segment.is_empty()
                    && segment != "."
                    && segment != ".."
                    && segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            }))
}

impl S3Archive {
    /// Archive files of `bucket`, below `prefix` (a trailing `/` is added
    /// when missing). Refuses names S3 or this store would not accept.
    pub fn new(client: aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Result<Self, StoreError> {
        if !valid_bucket(bucket) {
            return Err(StoreError::Invalid(format!("archive S3 bucket {bucket:?} is not a valid bucket name")));
        }
        let prefix = match prefix.trim_start_matches('/') {
            "" => String::new(),
            p if p.ends_with('/') => p.to_owned(),
            p => format!("{p}/"),
        };
        if !valid_prefix(&prefix) {
            return Err(StoreError::Invalid(format!(
                "archive S3 prefix {prefix:?} must be path segments of letters, digits, '-', '_' and '.'"
            )));
        }
        Ok(Self { client, bucket: bucket.to_owned(), prefix })
    }

    /// Checks that the bucket exists and these credentials reach it, so a
    /// misconfiguration shows at start rather than at the first archival.
    pub async fn check(&self) -> Result<(), StoreError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map(drop)
            .map_err(|e| failed(&format!("bucket {} cannot be reached", self.bucket), e))
    }

    /// The bucket and key of the object at `location`.
    fn object_of<'a>(&self, location: &'a str) -> Result<(&'a str, String), StoreError> {
        let bad = || StoreError::Corrupt("an archival names an object location the archive store does not make");
        let rest = location.strip_prefix(SCHEME).ok_or_else(bad)?;
        let (bucket, key) = rest.split_once('/').ok_or_else(bad)?;
        if !valid_bucket(bucket) {
            return Err(bad());
        }
        // `<prefix><ledger>/<archival>.zip`: the last two segments name the file.
        let mut segments = key.rsplitn(3, '/');
        let (name, ledger) = (segments.next().ok_or_else(bad)?, segments.next().ok_or_else(bad)?);
        let prefix = segments.next().map(|p| format!("{p}/")).unwrap_or_default();
        if !valid_prefix(&prefix) {
            return Err(bad());
        }
        let (ledger, name) = super::ledger_and_name(&format!("{ledger}/{name}"))
            .map(|(l, n)| (l.to_owned(), n.to_owned()))
            .ok_or_else(bad)?;
        Ok((bucket, format!("{prefix}{ledger}/{name}")))
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, StoreError> {
        let object =
            self.client.get_object().bucket(bucket).key(key).send().await.map_err(|e| match e.as_service_error() {
                Some(missing) if missing.is_no_such_key() => StoreError::NotFound("archive file"),
                _ => failed(&format!("cannot read s3://{bucket}/{key}"), e),
            })?;
        let body = object.body.collect().await.map_err(|e| failed(&format!("cannot read s3://{bucket}/{key}"), e))?;
        Ok(body.into_bytes().to_vec())
    }

    /// Writes the file of archival `id` of `ledger` once, and returns its
    /// location when the object read back hashes to `sha256`.
    pub(super) async fn put(
        &self,
        ledger: &LedgerId,
        id: &str,
        bytes: Vec<u8>,
        sha256: Hash,
    ) -> Result<String, StoreError> {
        let key = format!("{}{ledger}/{id}.zip", self.prefix);
        let location = format!("{SCHEME}{}/{key}", self.bucket);
        // A location this store could not read back is never written.
        self.object_of(&location)?;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/zip")
            .checksum_sha256(base64::engine::general_purpose::STANDARD.encode(sha256.as_bytes()))
            .if_none_match("*")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| failed(&format!("cannot write {location}"), e))?;
        let read_back = Hash::from_bytes(sha2::Sha256::digest(self.get(&self.bucket, &key).await?).into());
        if read_back != sha256 {
            return Err(StoreError::Export(format!(
                "archive store: {location} reads back as SHA-256 {read_back}, not the {sha256} written"
            )));
        }
        Ok(location)
    }

    /// The bytes of the object at `location`.
    pub(super) async fn read(&self, location: &str) -> Result<Vec<u8>, StoreError> {
        let (bucket, key) = self.object_of(location)?;
        self.get(bucket, &key).await
    }

    /// Deletes every object of `ledger` below this store's prefix. On a
    /// versioned bucket earlier versions are the bucket's lifecycle rules' to expire.
    pub(super) async fn remove_ledger(&self, ledger: &LedgerId) -> Result<(), StoreError> {
        let prefix = format!("{}{ledger}/", self.prefix);
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| failed(&format!("cannot list s3://{}/{prefix}", self.bucket), e))?;
            let keys: Vec<ObjectIdentifier> = page
                .contents()
                .iter()
                .filter_map(|object| object.key())
                .map(|key| ObjectIdentifier::builder().key(key).build())
                .collect::<Result<_, _>>()
                .map_err(|e| failed("cannot name an object to delete", e))?;
            for batch in keys.chunks(DELETE_BATCH) {
                let delete = Delete::builder()
                    .set_objects(Some(batch.to_vec()))
                    .quiet(true)
                    .build()
                    .map_err(|e| failed("cannot build a deletion", e))?;
                let answer = self
                    .client
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(delete)
                    .send()
                    .await
                    .map_err(|e| failed(&format!("cannot delete below s3://{}/{prefix}", self.bucket), e))?;
                if let Some(error) = answer.errors().first() {
                    return Err(StoreError::Export(format!(
                        "archive store: cannot delete s3://{}/{}: {}",
                        self.bucket,
                        error.key().unwrap_or_default(),
                        error.message().unwrap_or_default()
                    )));
                }
            }
            match page.next_continuation_token() {
                Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(prefix: &str) -> S3Archive {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .build();
        S3Archive::new(aws_sdk_s3::Client::from_conf(config), "audit-archive", prefix).expect("store")
    }

    #[test]
    fn only_locations_the_store_makes_name_an_object() {
        let s3 = store("acme/prod");
        assert_eq!(s3.prefix, "acme/prod/");
        let (bucket, key) = s3.object_of("s3://audit-archive/acme/prod/ldg_01/arc_0194f1c2abc.zip").expect("good");
        assert_eq!((bucket, key.as_str()), ("audit-archive", "acme/prod/ldg_01/arc_0194f1c2abc.zip"));
        assert!(s3.object_of("s3://audit-archive/ldg_01/arc_1.zip").is_ok(), "no prefix");
        for bad in [
            "file:ldg_01/arc_1.zip",
            "s3://Audit/ldg_01/arc_1.zip",
            "s3://audit-archive/../ldg_01/arc_1.zip",
            "s3://audit-archive/acme/../ldg_01/arc_1.zip",
            "s3://audit-archive/ldg_01/exp_1.zip",
            "s3://audit-archive/ldg_01/arc_1.zip.partial",
            "s3://audit-archive/arc_1.zip",
            "s3://audit-archive//ldg_01/arc_1.zip",
        ] {
            assert!(s3.object_of(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_buckets_and_prefixes_are_refused() {
        let client = || {
            let config = aws_sdk_s3::Config::builder().behavior_version_latest().build();
            aws_sdk_s3::Client::from_conf(config)
        };
        for bucket in ["ab", "Audit", "-audit", "audit_", "a/b"] {
            assert!(S3Archive::new(client(), bucket, "").is_err(), "{bucket}");
        }
        for prefix in ["../x", "a/../b", "a b/", "a//b"] {
            assert!(S3Archive::new(client(), "audit-archive", prefix).is_err(), "{prefix}");
        }
    }
}
