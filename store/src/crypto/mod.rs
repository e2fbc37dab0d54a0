//! Envelope encryption: key providers (the KEK), per-ledger data keys and
//! their sealed records, rotation, crypto-shredding and instance secrets.
//! See docs/ENCRYPTION.md.

pub(crate) mod key_providers;
pub(crate) mod keyring;
pub(crate) mod records;
pub(crate) mod rotation;
pub(crate) mod secrets;
pub(crate) mod shredding;
