//! TLS: TLS 1.3 only, through rustls with the aws-lc-rs provider.
//!
//! Without an operator certificate, a self-signed one for localhost is
//! generated once into the data directory and reused, so the fingerprint a
//! user pinned stays valid across restarts.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use sha2::{Digest, Sha256};

use crate::config::TlsSource;

/// A ready TLS configuration and the certificate it presents.
#[derive(Debug)]
pub struct Tls {
    pub config: Arc<ServerConfig>,
    /// SHA-256 of the leaf certificate (DER), as colon-separated upper-case hex,
    /// the form browsers and `openssl x509 -fingerprint -sha256` show.
    pub fingerprint: String,
    /// Whether the certificate was generated on this start.
    pub generated: bool,
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: rustls::pki_types::pem::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("the TLS private key {0} may be read by group or others: run `chmod 600` on it")]
    KeyTooOpen(PathBuf),
    #[error("cannot inspect {path}: {source}")]
    Inspect { path: PathBuf, source: std::io::Error },
    #[error("{0} holds no certificate")]
    NoCertificate(PathBuf),
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("invalid TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Loads (or, for [`TlsSource::SelfSigned`], creates) the certificate and
/// builds a server configuration that speaks only TLS 1.3, offering HTTP/2
/// and HTTP/1.1 through ALPN.
pub fn load(source: &TlsSource) -> Result<Tls, TlsError> {
    let (cert_path, key_path, generated) = match source {
        TlsSource::Files { cert, key } => (cert.clone(), key.clone(), false),
        TlsSource::SelfSigned { dir } => {
            let cert = dir.join("cert.pem");
            let key = dir.join("key.pem");
            let generated = !(cert.exists() && key.exists());
            if generated {
                generate_self_signed(dir, &cert, &key)?;
            }
            (cert, key, generated)
        }
    };
    let chain = CertificateDer::pem_file_iter(&cert_path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Read { path: cert_path.clone(), source })?;
    let leaf = chain.first().ok_or_else(|| TlsError::NoCertificate(cert_path.clone()))?;
    let fingerprint = fingerprint(leaf);
    // The private key is this user's alone, as the KEK file is: a key that
    // others can read is refused rather than served with.
    if crate::key_provider::readable_by_others(&key_path)
        .map_err(|source| TlsError::Inspect { path: key_path.clone(), source })?
    {
        return Err(TlsError::KeyTooOpen(key_path));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|source| TlsError::Read { path: key_path, source })?;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Tls { config: Arc::new(config), fingerprint, generated })
}

/// The SHA-256 fingerprint of a DER certificate, `AB:CD:...`.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = Sha256::digest(cert.as_ref());
    digest.iter().map(|byte| format!("{byte:02X}")).collect::<Vec<_>>().join(":")
}

fn generate_self_signed(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<(), TlsError> {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    let certified = rcgen::generate_simple_self_signed(names)?;
    fs::create_dir_all(dir).map_err(|source| TlsError::Write { path: dir.to_owned(), source })?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|source| TlsError::Write { path: dir.to_owned(), source })?;
    // The key is written with 0600 from the start (never world-readable, not
    // even briefly) and before the certificate, so a crash in between leaves
    // no certificate without its key.
    write_new(key_path, certified.signing_key.serialize_pem().as_bytes(), 0o600)?;
    write_new(cert_path, certified.cert.pem().as_bytes(), 0o644)?;
    Ok(())
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), TlsError> {
    let write = || -> std::io::Result<()> {
        let mut file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(path)?;
        file.write_all(contents)?;
        file.sync_all()
    };
    write().map_err(|source| TlsError::Write { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificate_is_generated_once_with_a_private_key_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = TlsSource::SelfSigned { dir: dir.path().join("tls") };
        let first = load(&source).expect("generates");
        assert!(first.generated);
        let mode = fs::metadata(dir.path().join("tls/key.pem")).expect("key exists").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = load(&source).expect("reloads");
        assert!(!second.generated);
        assert_eq!(first.fingerprint, second.fingerprint);
        assert_eq!(first.fingerprint.len(), 32 * 3 - 1);
    }

    #[test]
    fn a_private_key_others_can_read_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = TlsSource::SelfSigned { dir: dir.path().join("tls") };
        load(&source).expect("generates");
        let key = dir.path().join("tls/key.pem");
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).expect("chmod");
        let error = load(&source).expect_err("refused");
        assert!(matches!(error, TlsError::KeyTooOpen(_)), "{error}");
        assert!(error.to_string().contains("chmod 600"), "{error}");
    }

    #[test]
    fn a_missing_certificate_file_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let source = TlsSource::Files { cert: dir.path().join("nope.pem"), key: dir.path().join("nope.key") };
        let error = load(&source).expect_err("missing file");
        assert!(error.to_string().contains("nope.pem"), "{error}");
    }
}
