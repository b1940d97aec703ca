//! `rserpool lab trust [--remove]`: makes the user's own browsers trust the
//! machine's lab CA (`rserpool_lab::ca`), so that the lab page's
//! `wss://localhost` connections to the lab gateway work in a normal
//! browser, with certificate checks on.
//!
//! Chromium (and Chrome) on Linux read the user's NSS database in
//! `~/.pki/nssdb`; Firefox keeps one NSS database per profile (`cert9.db` in
//! each profile folder). Both are changed with NSS's `certutil` (Debian
//! package `libnss3-tools`): the CA is added as trusted for issuing server
//! certificates (`-t C,,`) under one nickname, so a second run replaces it
//! and `--remove` deletes exactly it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use rserpool_lab::ca::LabCa;
use serde::Serialize;

/// The nickname of the lab CA in every certificate store.
pub const NICKNAME: &str = "rserpool lab CA";

/// One certificate store that was changed.
#[derive(Debug, Serialize)]
pub struct Store {
    pub browser: &'static str,
    pub path: PathBuf,
    /// `trusted`, `removed`, or `absent` (nothing to remove).
    pub result: &'static str,
}

/// The NSS databases of the user's browsers: Chromium's (created if
/// missing) and every Firefox profile that has one.
fn stores(home: &Path) -> Vec<(&'static str, PathBuf)> {
    let mut v = vec![("chromium", home.join(".pki/nssdb"))];
    for base in [
        home.join(".mozilla/firefox"),
        home.join("snap/firefox/common/.mozilla/firefox"),
    ] {
        let Ok(entries) = std::fs::read_dir(&base) else {
            continue;
        };
        let mut profiles: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("cert9.db").is_file())
            .collect();
        profiles.sort();
        v.extend(profiles.into_iter().map(|p| ("firefox", p)));
    }
    v
}

fn certutil(args: &[&str], db: &Path) -> Result<std::process::Output> {
    Command::new("certutil")
        .arg("-d")
        .arg(format!("sql:{}", db.display()))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow::anyhow!(
                    "certutil not found: install NSS's tools (Debian: apt-get install libnss3-tools; scripts/setup does)"
                )
            } else {
                anyhow::Error::new(e).context("running certutil")
            }
        })
}

fn has_ca(db: &Path) -> Result<bool> {
    Ok(certutil(&["-L", "-n", NICKNAME], db)?.status.success())
}

fn check(out: std::process::Output, what: &str) -> Result<()> {
    if !out.status.success() {
        bail!(
            "certutil {what}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Adds (or with `remove`, deletes) the lab CA in every store.
pub fn trust(home: &Path, ca: &LabCa, remove: bool) -> Result<Vec<Store>> {
    let cert = ca.cert_path();
    let cert = cert.to_str().context("the lab CA path is not UTF-8")?;
    let mut done = Vec::new();
    for (browser, db) in stores(home) {
        let result = if remove {
            if db.join("cert9.db").is_file() && has_ca(&db)? {
                // Repeated until gone: an older import may have left more
                // than one certificate under the nickname.
                while has_ca(&db)? {
                    check(certutil(&["-D", "-n", NICKNAME], &db)?, "delete")?;
                }
                "removed"
            } else {
                "absent"
            }
        } else {
            if !db.join("cert9.db").is_file() {
                std::fs::create_dir_all(&db)
                    .with_context(|| format!("creating {}", db.display()))?;
                check(
                    certutil(&["-N", "--empty-password"], &db)?,
                    "creating the database",
                )?;
            }
            // Idempotent: whatever is there under the nickname (this CA,
            // or one from before the CA was made anew) is replaced.
            while has_ca(&db)? {
                check(certutil(&["-D", "-n", NICKNAME], &db)?, "delete")?;
            }
            check(
                certutil(&["-A", "-t", "C,,", "-n", NICKNAME, "-i", cert], &db)?,
                "add",
            )?;
            "trusted"
        };
        done.push(Store {
            browser,
            path: db,
            result,
        });
    }
    Ok(done)
}

/// The command: prints one line per store (or JSON).
pub fn run(remove: bool, json: bool, out: &mut dyn Write) -> Result<()> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .context("HOME is not set: no browser certificate store to change")?;
    let ca = LabCa::load_or_create()?;
    let stores = trust(&home, &ca, remove)?;
    if json {
        writeln!(
            out,
            "{}",
            serde_json::json!({ "ca": ca.cert_path(), "stores": stores })
        )?;
        return Ok(());
    }
    writeln!(out, "lab CA: {}", ca.cert_path().display())?;
    for s in &stores {
        writeln!(
            out,
            "  {:<9} {:<8} {}",
            s.browser,
            s.result,
            s.path.display()
        )?;
    }
    if !remove {
        writeln!(
            out,
            "Restart the browser if it is open; from now on it trusts every lab gateway of this machine."
        )?;
    }
    Ok(())
}
