//! Certificates for the lab: a private CA and a server certificate signed
//! by it (rcgen). Real deployments bring their own PEM files.

use std::path::Path;

use anyhow::{Context, Result};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// Writes `ca.pem`, `server.pem`, `server-key.pem` into `dir`, for the given
/// host names / IP addresses.
pub fn generate(dir: &Path, names: &[String], ca_name: &str) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate()?;
    let mut p = CertificateParams::new(names.to_vec())?;
    p.distinguished_name
        .push(DnType::CommonName, "rserpool gateway");
    let cert = p.signed_by(&key, &issuer)?;
    let w = |name: &str, text: String| {
        std::fs::write(dir.join(name), text).with_context(|| format!("writing {name}"))
    };
    w("ca.pem", ca_cert.pem())?;
    w("server.pem", cert.pem())?;
    w("server-key.pem", key.serialize_pem())?;
    Ok(())
}
