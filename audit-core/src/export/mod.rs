//! Export files (docs/FORMAT.md §13): a ZIP whose members are a manifest, the signed checkpoint,
//! its verifier key, the events with their seq and hashes, and the proof material, so that an
//! auditor verifies the file offline, trusting nothing of the server.
//!
//! This module holds the pure parts: the manifest and row types, their encodings, and a
//! streaming [`ExportVerifier`]. Reading and writing the ZIP container is the caller's (the
//! server's `auditstore verify`, the store's export job).

mod content;
pub mod csv_rows;
pub mod manifest;
#[cfg(feature = "parquet")]
pub mod parquet_rows;
pub mod rows;
pub mod verifier;

pub use csv_rows::{check_csv_header, csv_header_line, CsvRowReader, CSV_HEADER};
pub use manifest::{members, Counts, EventsFormat, Manifest, MemberDigest, SeqRange, EXPORT_FORMAT_V1};
#[cfg(feature = "parquet")]
pub use parquet_rows::{parquet_export_rows, parquet_rows, ParquetRowsWriter, PARQUET_SCHEMA, ROW_GROUP_BYTES};
pub use rows::{ExportRow, InclusionLine, RangeProofMember, RowHashes};
pub use verifier::{ExportVerifier, VerifiedExport};

#[cfg(test)]
mod tests;
