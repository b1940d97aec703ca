//! The lab's certificate authority: one per machine (per user), kept
//! across runs, so that a browser told once to trust it (`rserpool lab
//! trust`) trusts every lab gateway from then on. Each run gets a fresh
//! gateway certificate issued by it; the CA's key never leaves the host
//! (only the gateway's certificate and key go into the run directory).
//!
//! Where: `$RSERPOOL_LAB_CA_DIR`, else `$XDG_DATA_HOME/rserpool-lab/ca`,
//! else `~/.local/share/rserpool-lab/ca`. The directory is created mode
//! 0700 and the key 0600.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SerialNumber,
};

/// Environment variable that moves the CA elsewhere.
pub const CA_DIR_ENV: &str = "RSERPOOL_LAB_CA_DIR";

/// The CA certificate's file name in its directory.
const CERT: &str = "ca.pem";
/// The CA key's file name (mode 0600).
const KEY: &str = "ca-key.pem";

/// The machine's lab CA.
#[derive(Clone, Debug)]
pub struct LabCa {
    dir: PathBuf,
}

/// Where the CA lives (see the module documentation).
pub fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(CA_DIR_ENV) {
        return PathBuf::from(d);
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(std::env::temp_dir);
    data.join("rserpool-lab/ca")
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(b)
}

impl LabCa {
    /// The CA in [`default_dir`], created on first use.
    pub fn load_or_create() -> Result<LabCa> {
        LabCa::in_dir(&default_dir())
    }

    /// The CA in `dir`, created there if it has none. Two processes that
    /// create it at once end with the same one: each writes a complete CA
    /// into a directory of its own and renames it into place; the loser
    /// uses the winner's.
    pub fn in_dir(dir: &Path) -> Result<LabCa> {
        if dir.join(CERT).is_file() && dir.join(KEY).is_file() {
            return Ok(LabCa {
                dir: dir.to_path_buf(),
            });
        }
        let parent = dir.parent().context("the lab CA directory has no parent")?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let tmp = parent.join(format!(
            ".ca-{}-{}",
            std::process::id(),
            hex::encode(random_bytes::<4>()?)
        ));
        fs::DirBuilder::new().mode(0o700).create(&tmp)?;
        let written = write_new_ca(&tmp);
        let placed = written.and_then(|()| Ok(fs::rename(&tmp, dir)?));
        if placed.is_err() {
            let _ = fs::remove_dir_all(&tmp);
            if !(dir.join(CERT).is_file() && dir.join(KEY).is_file()) {
                placed.with_context(|| format!("creating the lab CA in {}", dir.display()))?;
            }
        }
        Ok(LabCa {
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The CA certificate (PEM): what browsers and clients trust.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(CERT)
    }

    /// Issues a server certificate for `names` (host names or IP
    /// addresses) and writes `ca.pem`, `server.pem` and `server-key.pem`
    /// into `out` (the layout `rserpool-gateway gen-certs` writes).
    pub fn issue_server(&self, out: &Path, names: &[String]) -> Result<()> {
        let ca_pem = fs::read_to_string(self.cert_path())
            .with_context(|| format!("reading {}", self.cert_path().display()))?;
        let key_pem = fs::read_to_string(self.dir.join(KEY))
            .with_context(|| format!("reading the lab CA key in {}", self.dir.display()))?;
        let ca_key = KeyPair::from_pem(&key_pem).context("the lab CA key")?;
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, ca_key).context("the lab CA certificate")?;
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::new(names.to_vec())?;
        p.distinguished_name
            .push(DnType::CommonName, "rserpool lab gateway");
        // A fresh serial every run: Firefox refuses two certificates with
        // the same issuer and serial.
        let mut serial = random_bytes::<16>()?;
        serial[0] &= 0x7f;
        p.serial_number = Some(SerialNumber::from_slice(&serial));
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = p.signed_by(&key, &issuer)?;
        fs::create_dir_all(out)?;
        let w = |name: &str, text: &str| {
            fs::write(out.join(name), text).with_context(|| format!("writing {name}"))
        };
        w("ca.pem", &ca_pem)?;
        w("server.pem", &cert.pem())?;
        w("server-key.pem", &key.serialize_pem())?;
        Ok(())
    }
}

fn write_new_ca(dir: &Path) -> Result<()> {
    let key = KeyPair::generate()?;
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    // The suffix tells two machines' CAs apart in a certificate store.
    let id = hex::encode(random_bytes::<4>()?);
    p.distinguished_name
        .push(DnType::CommonName, format!("rserpool lab CA {id}"));
    p.distinguished_name
        .push(DnType::OrganizationName, "rserpool lab (this machine only)");
    let cert = p.self_signed(&key)?;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dir.join(KEY))
        .and_then(|mut f| std::io::Write::write_all(&mut f, key.serialize_pem().as_bytes()))
        .context("writing the lab CA key")?;
    fs::write(dir.join(CERT), cert.pem()).context("writing the lab CA certificate")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rserpool-ca-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn the_ca_is_created_once_with_a_private_key_and_kept() {
        let root = temp("keep");
        let dir = root.join("ca");
        let a = LabCa::in_dir(&dir).unwrap();
        let first = fs::read_to_string(a.cert_path()).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join(KEY)), 0o600);
        assert_eq!(mode(&dir), 0o700);
        let b = LabCa::in_dir(&dir).unwrap();
        assert_eq!(fs::read_to_string(b.cert_path()).unwrap(), first);
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn each_issued_server_certificate_is_new_and_names_the_ca() {
        let root = temp("issue");
        let ca = LabCa::in_dir(&root.join("ca")).unwrap();
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        ca.issue_server(&root.join("run1"), &names).unwrap();
        ca.issue_server(&root.join("run2"), &names).unwrap();
        let read = |p: &str| fs::read_to_string(root.join(p)).unwrap();
        assert_eq!(read("run1/ca.pem"), read("ca/ca.pem"));
        assert_ne!(read("run1/server.pem"), read("run2/server.pem"));
        assert_ne!(read("run1/server-key.pem"), read("run2/server-key.pem"));
        assert!(read("run1/server.pem").starts_with("-----BEGIN CERTIFICATE-----"));
        // (That a TLS client trusting ca.pem accepts the gateway is shown
        // by every live test that connects to the lab gateway.)
        let _ = fs::remove_dir_all(root);
    }
}
