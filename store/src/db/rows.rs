//! Conversions between stored column values and the domain's types.

use audit_core::Hash;

use crate::StoreError;

/// A count or index as the databases store it (signed 64-bit).
pub(crate) fn to_i64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Corrupt("value exceeds the database's integer range"))
}

/// A stored count or index; negative means the row was tampered with.
pub(crate) fn from_i64(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt("negative number where a count or index was expected"))
}

/// A stored SHA-256 hash.
pub(crate) fn to_hash(bytes: &[u8]) -> Result<Hash, StoreError> {
    Hash::try_from(bytes).map_err(|_| StoreError::Corrupt("stored hash is not 32 bytes"))
}
