//! TLS for `wss://` gateway links: the one trust builder of the project's
//! clients, and the readable classification of TLS failures.

use std::path::Path;
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use tokio_tungstenite::tungstenite;

use crate::channel::ConnectError;

/// Why a trust configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The CA file is unreadable or holds no usable PEM certificate.
    #[error("{path}: {reason}")]
    CaFile {
        /// The file as given.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS setup: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The TLS client configuration: the certificates of `ca` if given (the
/// lab's or a gateway's own CA), else the public web PKI roots.
pub fn client_config(ca: Option<&Path>) -> Result<Arc<ClientConfig>, TrustError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            let shown = path.display().to_string();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| TrustError::CaFile {
                    path: shown.clone(),
                    reason: e.to_string(),
                })?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| TrustError::CaFile {
                    path: shown.clone(),
                    reason: e.to_string(),
                })?;
            if certs.is_empty() {
                return Err(TrustError::CaFile {
                    path: shown,
                    reason: "no PEM certificate in the file".into(),
                });
            }
            for cert in certs {
                roots.add(cert).map_err(|e| TrustError::CaFile {
                    path: shown.clone(),
                    reason: e.to_string(),
                })?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    // An explicit provider: `ClientConfig::builder()` would panic if some
    // other crate in the build enabled a second one.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// Turn a WebSocket connect failure into "TLS" (with rustls' reason, e.g.
/// `invalid peer certificate: UnknownIssuer`) or "unreachable".
pub fn classify(e: tungstenite::Error) -> ConnectError {
    match e {
        tungstenite::Error::Io(io) => {
            let tls = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .map(|t| t.to_string());
            match tls {
                Some(reason) => ConnectError::Tls(reason),
                None => ConnectError::Unreachable(io.to_string()),
            }
        }
        tungstenite::Error::Tls(t) => ConnectError::Tls(t.to_string()),
        other => ConnectError::Unreachable(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_file_errors_are_readable() {
        let err = client_config(Some(Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(
            err.to_string().starts_with("/nonexistent/ca.pem: "),
            "{err}"
        );

        let dir = std::env::temp_dir().join(format!("rserpool-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = client_config(Some(&empty)).unwrap_err();
        assert!(err.to_string().contains("no PEM certificate"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn default_trust_uses_the_web_pki_roots() {
        assert!(client_config(None).is_ok());
    }

    #[test]
    fn rustls_errors_inside_io_errors_are_tls_failures() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        match classify(tungstenite::Error::Io(io)) {
            ConnectError::Tls(reason) => assert!(reason.contains("UnknownIssuer"), "{reason}"),
            other => panic!("{other:?}"),
        }
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(matches!(
            classify(tungstenite::Error::Io(refused)),
            ConnectError::Unreachable(_)
        ));
    }
}
