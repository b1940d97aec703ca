//! The RSPLIB 3.4.4 reference data kept in this directory (`vectors/`,
//! `captures/`; what they hold is in `testdata/README.md`), and the one
//! loader the tests use for it.
//!
//! Paths are resolved from this crate's own manifest directory, so they are
//! the same whichever crate's tests call them, and a fresh clone has
//! everything it needs. A missing or unreadable file panics with its path:
//! the tests fail rather than skip.

use std::path::PathBuf;

/// `testdata/` in the repository.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `testdata/vectors/`: one message per `NAME.hex`, tshark's decode in
/// `NAME.txt`, and `INDEX.md`.
pub fn vectors_dir() -> PathBuf {
    root().join("vectors")
}

/// `testdata/captures/`: the pcap files the vectors were cut from.
pub fn captures_dir() -> PathBuf {
    root().join("captures")
}

/// The path of capture `name` (e.g. `"04-pu-echo-failover.pcap"`).
pub fn capture(name: &str) -> PathBuf {
    captures_dir().join(name)
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Vector `name` (no extension) as lowercase hex, as stored in `NAME.hex`.
pub fn vector_hex(name: &str) -> String {
    read(vectors_dir().join(format!("{name}.hex")))
        .trim()
        .to_string()
}

/// Vector `name` (no extension) as the bytes of the message.
pub fn vector(name: &str) -> Vec<u8> {
    hex::decode(vector_hex(name)).unwrap_or_else(|e| panic!("vector {name}: not hex: {e}"))
}

/// tshark's decode of vector `name` (`NAME.txt`: origin, source frame,
/// transport, and the ASAP/ENRP layers verbatim).
pub fn vector_txt(name: &str) -> String {
    read(vectors_dir().join(format!("{name}.txt")))
}

/// `vectors/INDEX.md`: every vector's source frame, and the message counts
/// per capture.
pub fn index() -> String {
    read(vectors_dir().join("INDEX.md"))
}

/// The names of all vectors (`NAME` of every `NAME.hex`), sorted.
pub fn vector_names() -> Vec<String> {
    let dir = vectors_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            e.unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .filter(|p| p.extension().is_some_and(|x| x == "hex"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every vector as `(name, bytes)`, sorted by name.
pub fn vectors() -> Vec<(String, Vec<u8>)> {
    vector_names()
        .into_iter()
        .map(|n| {
            let bytes = vector(&n);
            (n, bytes)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_set_is_here() {
        let names = vector_names();
        assert_eq!(names.len(), 48, "{names:?}");
        for n in &names {
            assert!(!vector(n).is_empty(), "{n}");
            assert!(vector_txt(n).contains(&format!("vector: {n}")), "{n}");
        }
        assert!(index().contains("## Message counts per capture"));
        let pcaps = std::fs::read_dir(captures_dir()).unwrap().count();
        assert_eq!(pcaps, 8);
    }

    #[test]
    fn a_vector_reads_as_its_bytes() {
        assert_eq!(
            vector("asap-handle-resolution-1"),
            hex::decode("050000180009000c4563686f506f6f6c803f000800000001").unwrap()
        );
    }
}
