//! Opens the configured archive store: the local directory, or an S3
//! bucket reached with the standard AWS credential and region chain (as
//! the KMS key provider is), checked at start so a wrong bucket or missing
//! permission shows before the first archival needs it.

use store::lifecycle::archive::{ArchiveStore, S3Archive};

use crate::config::ArchiveConfig;
use crate::ServeError;

/// The archive store `config` names.
pub async fn open(config: &ArchiveConfig) -> Result<ArchiveStore, ServeError> {
    let Some(s3) = &config.s3 else { return Ok(ArchiveStore::Directory(config.directory.clone())) };
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(endpoint) = &s3.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    let sdk = loader.load().await;
    // Other S3-compatible services (and moto) address buckets by path.
    let client = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk).force_path_style(s3.endpoint.is_some()).build(),
    );
    let bucket = S3Archive::new(client, &s3.bucket, &s3.prefix).map_err(ServeError::ArchiveStore)?;
    bucket.check().await.map_err(ServeError::ArchiveStore)?;
    Ok(ArchiveStore::S3 { bucket, directory: config.directory.clone() })
}
