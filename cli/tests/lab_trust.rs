//! `rserpool lab trust` with HOME pointed at a fresh folder: the machine's
//! lab CA lands in Chromium's NSS database and in every Firefox profile's,
//! as NSS's own `certutil -L` lists them; a second run changes nothing;
//! `--remove` takes it out again.

use std::path::{Path, PathBuf};
use std::process::Command;

const NICKNAME: &str = "rserpool lab CA";

fn temp_home() -> PathBuf {
    let d = std::env::temp_dir().join(format!("rserpool-trust-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rserpool(home: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rserpool"))
        .args(args)
        .env("HOME", home)
        .env_remove("XDG_DATA_HOME")
        .env_remove("RSERPOOL_LAB_CA_DIR")
        .output()
        .expect("rserpool runs");
    assert!(
        out.status.success(),
        "rserpool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What `certutil -L` lists in a database: (nickname, trust flags).
fn listed(db: &Path) -> Vec<(String, String)> {
    let out = Command::new("certutil")
        .arg("-L")
        .arg("-d")
        .arg(format!("sql:{}", db.display()))
        .output()
        .expect("certutil (libnss3-tools) is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(NICKNAME))
        .map(|l| {
            let (name, flags) = l.trim_end().rsplit_once(char::is_whitespace).unwrap();
            (name.trim().to_string(), flags.to_string())
        })
        .collect()
}

fn new_nss_db(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let ok = Command::new("certutil")
        .arg("-N")
        .arg("--empty-password")
        .arg("-d")
        .arg(format!("sql:{}", dir.display()))
        .status()
        .expect("certutil")
        .success();
    assert!(ok);
}

#[test]
fn lab_trust_imports_the_lab_ca_where_chromium_and_firefox_look() {
    let home = temp_home();
    // A Firefox profile as Firefox leaves it (an NSS database in it), and
    // a folder that is no profile.
    let profile = home.join(".mozilla/firefox/abcd1234.default-release");
    new_nss_db(&profile);
    std::fs::create_dir_all(home.join(".mozilla/firefox/Crash Reports")).unwrap();

    let text = rserpool(&home, &["lab", "trust"]);
    assert!(text.contains("chromium  trusted"), "{text}");
    assert!(text.contains("firefox   trusted"), "{text}");
    let chromium = home.join(".pki/nssdb");
    let trusted = vec![(NICKNAME.to_string(), "C,,".to_string())];
    assert_eq!(listed(&chromium), trusted);
    assert_eq!(listed(&profile), trusted);

    // The CA is the machine's, kept under the user's data folder with a
    // private key; a second run imports the same one once.
    let ca = home.join(".local/share/rserpool-lab/ca");
    let ca_pem = std::fs::read_to_string(ca.join("ca.pem")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(ca.join("ca-key.pem"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let json: serde_json::Value =
        serde_json::from_str(&rserpool(&home, &["--json", "lab", "trust"])).unwrap();
    assert_eq!(json["stores"].as_array().unwrap().len(), 2, "{json}");
    assert_eq!(std::fs::read_to_string(ca.join("ca.pem")).unwrap(), ca_pem);
    assert_eq!(listed(&chromium), trusted);
    assert_eq!(listed(&profile), trusted);

    let text = rserpool(&home, &["lab", "trust", "--remove"]);
    assert!(text.contains("removed"), "{text}");
    assert!(listed(&chromium).is_empty());
    assert!(listed(&profile).is_empty());
    let text = rserpool(&home, &["lab", "trust", "--remove"]);
    assert!(text.contains("absent"), "{text}");
    let _ = std::fs::remove_dir_all(home);
}
