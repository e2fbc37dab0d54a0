//! audit-core's integration tests, in one binary to keep link time down.

// Tests may unwrap: a panic is how they fail.
#![allow(clippy::unwrap_used)]

mod checkpoint;
mod event_vectors;
mod jcs_vectors;
mod known_answers;
mod proof_reads;
mod props;
mod refusal_vectors;
mod rfc6962_vectors;

use std::path::{Path, PathBuf};

/// The shared public vectors, read in place (never copied): `<repo>/../shared/vectors`.
pub fn shared_vectors(sub: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors/")).join(sub)
}

/// Every file under `dir`, recursively, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
