//! The AWS KMS provider: the KEK never leaves KMS; data keys come from
//! GenerateDataKey and are wrapped with an encryption context.

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use zeroize::Zeroizing;

use super::{KeyContext, SecretKey, WrappedKey, AWS_KMS};
use crate::StoreError;

/// A KMS key (id, ARN or alias) and a client to reach it.
#[derive(Clone)]
pub struct KmsKek {
    client: aws_sdk_kms::Client,
    pub(super) key_id: String,
}

impl std::fmt::Debug for KmsKek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsKek").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

fn kms_error(operation: &str, error: impl std::error::Error) -> StoreError {
    // The SDK's Display is terse ("service error"); the source chain names
    // the KMS exception (for example InvalidCiphertextException).
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    StoreError::Keys(format!("AWS KMS {operation} failed: {message}"))
}

fn to_secret(blob: Option<&Blob>) -> Result<SecretKey, StoreError> {
    let bytes = blob.ok_or_else(|| StoreError::Keys("AWS KMS returned no key material".into()))?;
    let key: [u8; 32] = bytes
        .as_ref()
        .try_into()
        .map_err(|_| StoreError::Keys("AWS KMS returned key material of the wrong length".into()))?;
    Ok(Zeroizing::new(key))
}

impl KmsKek {
    /// Wraps with `key_id` through `client` (built by the server from the
    /// standard AWS configuration chain), recording `key_id` as given.
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self { client, key_id: key_id.into() }
    }

    /// Like [`KmsKek::new`], but resolves `key_id` (an id, ARN or alias)
    /// to the key's ARN first (DescribeKey), so stored keys name the key
    /// itself and stay decryptable if an alias is later pointed elsewhere.
    pub async fn resolve(client: aws_sdk_kms::Client, key_id: &str) -> Result<Self, StoreError> {
        let described = client.describe_key().key_id(key_id).send().await.map_err(|e| kms_error("DescribeKey", e))?;
        let arn = described
            .key_metadata()
            .and_then(|m| m.arn())
            .ok_or_else(|| StoreError::Keys(format!("AWS KMS did not describe key {key_id}")))?;
        Ok(Self { client, key_id: arn.to_owned() })
    }

    pub(super) fn wrapped(&self, blob: Option<&Blob>) -> Result<WrappedKey, StoreError> {
        let blob = blob.ok_or_else(|| StoreError::Keys("AWS KMS returned no ciphertext".into()))?;
        Ok(WrappedKey { provider: AWS_KMS.to_owned(), kek_id: self.key_id.clone(), blob: blob.as_ref().to_vec() })
    }

    pub(super) async fn generate(&self, context: &KeyContext) -> Result<(SecretKey, WrappedKey), StoreError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .set_encryption_context(Some(context.0.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| kms_error("GenerateDataKey", e))?;
        Ok((to_secret(out.plaintext())?, self.wrapped(out.ciphertext_blob())?))
    }

    pub(super) async fn encrypt(&self, key: &SecretKey, context: &KeyContext) -> Result<WrappedKey, StoreError> {
        let out = self
            .client
            .encrypt()
            .key_id(&self.key_id)
            .plaintext(Blob::new(key.to_vec()))
            .set_encryption_context(Some(context.0.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| kms_error("Encrypt", e))?;
        self.wrapped(out.ciphertext_blob())
    }

    pub(super) async fn decrypt(&self, wrapped: &WrappedKey, context: &KeyContext) -> Result<SecretKey, StoreError> {
        let out = self
            .client
            .decrypt()
            .key_id(&wrapped.kek_id)
            .ciphertext_blob(Blob::new(wrapped.blob.clone()))
            .set_encryption_context(Some(context.0.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| kms_error("Decrypt", e))?;
        to_secret(out.plaintext())
    }

    pub(super) async fn reencrypt(&self, wrapped: &WrappedKey, context: &KeyContext) -> Result<WrappedKey, StoreError> {
        let pairs: std::collections::HashMap<String, String> = context.0.clone().into_iter().collect();
        let out = self
            .client
            .re_encrypt()
            .ciphertext_blob(Blob::new(wrapped.blob.clone()))
            .source_key_id(&wrapped.kek_id)
            .set_source_encryption_context(Some(pairs.clone()))
            .destination_key_id(&self.key_id)
            .set_destination_encryption_context(Some(pairs))
            .send()
            .await
            .map_err(|e| kms_error("ReEncrypt", e))?;
        self.wrapped(out.ciphertext_blob())
    }
}
