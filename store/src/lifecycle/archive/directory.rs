//! The archive store on a local directory: `<root>/<ledger>/<archival>.zip`,
//! written beside its place, synced, moved into place (the directory synced
//! too), and read back for its digest before anyone relies on it.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use audit_core::{Hash, LedgerId};

pub(super) const LOCATION_SCHEME: &str = SCHEME;
use sha2::Digest as _;

use crate::StoreError;

const SCHEME: &str = "file:";

fn io(what: &str, path: &Path, error: std::io::Error) -> StoreError {
    StoreError::Export(format!("archive store: {what} {}: {error}", path.display()))
}

/// The path of the file at `location` below `root`, refusing anything but
/// the locations [`put`] makes (so a stored location cannot lead outside).
fn path_of(root: &Path, location: &str) -> Result<PathBuf, StoreError> {
    let bad = || StoreError::Corrupt("an archival names a location outside the archive directory");
    let rest = location.strip_prefix(SCHEME).ok_or_else(bad)?;
    let (ledger, name) = super::ledger_and_name(rest).ok_or_else(bad)?;
    Ok(root.join(ledger).join(name))
}

fn sha256_of(path: &Path) -> Result<Hash, StoreError> {
    let mut file = std::fs::File::open(path).map_err(|e| io("cannot reopen", path, e))?;
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buffer).map_err(|e| io("cannot read back", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(Hash::from_bytes(hasher.finalize().into()))
}

fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| io("cannot create", dir, e))?;
    let path = dir.join(name);
    if path.exists() {
        return Err(StoreError::Export(format!("archive store: {} exists already", path.display())));
    }
    let partial = dir.join(format!("{name}.partial"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&partial).map_err(|e| io("cannot create", &partial, e))?;
    file.write_all(bytes).map_err(|e| io("cannot write", &partial, e))?;
    file.sync_all().map_err(|e| io("cannot sync", &partial, e))?;
    drop(file);
    std::fs::rename(&partial, &path).map_err(|e| io("cannot move into place", &path, e))?;
    // The rename is durable once the directory is.
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io("cannot sync", dir, e))?;
    Ok(path)
}

/// Writes the archive file `id` of `ledger` and returns its location once
/// the file read back from disk hashes to `sha256`.
pub(super) async fn put(
    root: &Path,
    ledger: &LedgerId,
    id: &str,
    bytes: Vec<u8>,
    sha256: Hash,
) -> Result<String, StoreError> {
    let location = format!("{SCHEME}{ledger}/{id}.zip");
    let path = path_of(root, &location)?;
    let dir = root.join(ledger.as_str());
    let name = format!("{id}.zip");
    tokio::task::spawn_blocking(move || {
        let path_written = write_durably(&dir, &name, &bytes)?;
        debug_assert_eq!(path_written, path);
        let read_back = sha256_of(&path_written)?;
        if read_back != sha256 {
            return Err(StoreError::Export(format!(
                "archive store: {} reads back as SHA-256 {read_back}, not the {sha256} written",
                path_written.display()
            )));
        }
        Ok(location)
    })
    .await
    .map_err(|e| StoreError::Export(format!("archive store: the writer stopped: {e}")))?
}

/// The bytes of the file at `location`.
pub(super) async fn read(root: &Path, location: &str) -> Result<Vec<u8>, StoreError> {
    let path = path_of(root, location)?;
    tokio::task::spawn_blocking(move || {
        std::fs::read(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StoreError::NotFound("archive file"),
            _ => io("cannot read", &path, e),
        })
    })
    .await
    .map_err(|e| StoreError::Export(format!("archive store: the reader stopped: {e}")))?
}

/// Removes the directory of `ledger`'s files, if there is one.
pub(super) async fn remove_ledger(root: &Path, ledger: &LedgerId) -> Result<(), StoreError> {
    let dir = root.join(ledger.as_str());
    tokio::task::spawn_blocking(move || match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(io("cannot remove", &dir, error)),
    })
    .await
    .map_err(|e| StoreError::Export(format!("archive store: the remover stopped: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_locations_the_store_makes_lead_to_a_file_and_only_below_the_root() {
        let root = Path::new("/srv/archive");
        let good = path_of(root, "file:ldg_01/arc_0194f1c2abc.zip").expect("a location put makes");
        assert_eq!(good, Path::new("/srv/archive/ldg_01/arc_0194f1c2abc.zip"));
        for bad in [
            "ldg_01/arc_1.zip",
            "file:../ldg_01/arc_1.zip",
            "file:ldg_01/../../etc/passwd",
            "file:ldg_01/arc_1/../../x.zip",
            "file:ldg_01/exp_1.zip",
            "file:ldg_01/arc_1.zip.partial",
            "file:/etc/arc_1.zip",
        ] {
            assert!(path_of(root, bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_file_is_put_once_read_back_and_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = LedgerId::new("ldg_01").expect("id");
        let bytes = b"PK archive".to_vec();
        let sha = Hash::digest(&bytes);
        let location = put(dir.path(), &ledger, "arc_1", bytes.clone(), sha).await.expect("put");
        assert_eq!(read(dir.path(), &location).await.expect("read"), bytes);
        let again = put(dir.path(), &ledger, "arc_1", bytes.clone(), sha).await;
        assert!(again.is_err(), "an archive file is never replaced");
        let wrong = put(dir.path(), &ledger, "arc_2", bytes, Hash::digest(b"other")).await;
        assert!(wrong.expect_err("digest differs").to_string().contains("reads back"));
    }
}
