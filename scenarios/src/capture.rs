//! A scenario run's packet capture: `tcpdump` inside the lab (in the VM,
//! or on the host in native mode), started through the agent's `spawn`
//! like every lab process a run starts (bounded in time), stopped with
//! `spawn-stop` when the run ends (also when it fails midway), writing
//! into the share the host and the lab see both (`rserpool_lab::Share`),
//! so the file is on the host without a copy through the agent.
//!
//! What it captures: every ASAP/ENRP packet (SCTP, and the UDP announces
//! on the ASAP and ENRP ports) on every interface of the lab, loopback
//! included (`-i any`: the registrars and PEs talk over `lo`), whole
//! (`-s 0`), written packet by packet (`-U`). The file is bounded: tcpdump
//! starts a second file once the first holds more than [`CAP_BYTES`]
//! (`-C`); the capture is stopped as soon as that happens and only the
//! first file is kept, so a capture holds at most [`CAP_BYTES`] plus one
//! packet, from the run's start, and its record says it was cut.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rserpool_lab::proto::MAX_SPAWN_MS;
use rserpool_lab::Share;

use crate::record::PcapInfo;
use crate::run::LabHandle;

/// The size cap in tcpdump's unit (`-C`: millions of bytes).
pub const CAP_MB: u64 = 16;
/// The size cap: a capture holds at most this many bytes plus one packet.
pub const CAP_BYTES: u64 = CAP_MB * 1_000_000;
/// tcpdump's capture filter: ASAP and ENRP travel over SCTP (RFC 5352
/// §4, RFC 5353 §4); ASAP Server Announces and ENRP Presence may be UDP
/// datagrams to their well-known ports (RFC 5352 §3.2, RFC 5353 §3.1).
pub const FILTER: &str = "sctp or udp port 3863 or udp port 9901";
/// Subdirectory of the share the captures are written to.
const DIR: &str = "captures";
/// How long tcpdump may take to say it is listening (slow under TCG).
const LISTEN_PATIENCE: Duration = Duration::from_secs(30);

/// tcpdump's command line for a capture written to `file` (a path as the
/// lab's processes see it). `-Z root`: Debian's tcpdump would otherwise
/// switch to a user `tcpdump`, which the VM image does not have and which
/// could not write into the share.
pub fn tcpdump_args(file: &Path) -> Vec<String> {
    [
        "-i",
        "any",
        "-s",
        "0",
        "-U",
        "-n",
        "-Z",
        "root",
        "-C",
        &CAP_MB.to_string(),
        "-w",
        &file.display().to_string(),
        FILTER,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// What a pcap file holds, read from its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcapContents {
    pub packets: u64,
    /// The header's link type (tcpdump `-i any`: 276, LINUX_SLL2; or 113,
    /// LINUX_SLL).
    pub link_type: u32,
    /// Bytes up to the end of the last whole packet record: less than the
    /// file's length when the writer was cut off in the middle of one.
    pub whole_len: usize,
}

/// Counts the packets of a classic pcap file (what tcpdump `-w` writes).
/// A last record cut short is not counted (`whole_len` ends before it);
/// anything that is not a pcap header is an error, never a panic.
pub fn pcap_contents(bytes: &[u8]) -> Result<PcapContents> {
    use pcap_parser::{parse_pcap_frame, parse_pcap_frame_be, parse_pcap_header};
    let (mut rest, header) = parse_pcap_header(bytes).map_err(|_| {
        anyhow::anyhow!(
            "not a pcap file ({} bytes, no pcap header)",
            bytes.len().min(24)
        )
    })?;
    if header.magic_number == 0xa1b2_cd34 {
        bail!("a modified (Kuznetzov) pcap, which tcpdump does not write");
    }
    let frame = if header.is_bigendian() {
        parse_pcap_frame_be
    } else {
        parse_pcap_frame
    };
    let mut packets = 0;
    while !rest.is_empty() {
        match frame(rest) {
            Ok((r, _)) => {
                packets += 1;
                rest = r;
            }
            // A record cut short (its header or its data): the writer
            // was stopped in the middle of it.
            Err(_) => break,
        }
    }
    Ok(PcapContents {
        packets,
        link_type: u32::try_from(header.network.0).unwrap_or(0),
        whole_len: bytes.len() - rest.len(),
    })
}

/// The packets the kernel dropped, from tcpdump's closing lines on stderr
/// (`N packets dropped by kernel`).
pub fn dropped_by_kernel(stderr: &[String]) -> Option<u64> {
    stderr.iter().rev().find_map(|l| {
        l.trim()
            .strip_suffix("packets dropped by kernel")?
            .trim()
            .parse()
            .ok()
    })
}

/// The files tcpdump `-C` went on to after `first` (`first1`, `first2`, …),
/// among the names in its directory.
fn rotated<'a>(first: &str, names: impl Iterator<Item = &'a str>) -> Vec<String> {
    names
        .filter(|n| {
            n.strip_prefix(first)
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_string)
        .collect()
}

/// A capture running inside the lab.
pub struct Capture {
    lab: LabHandle,
    id: u64,
    /// The file as the host sees it.
    host_file: PathBuf,
    /// Set when the watcher stopped it at the size cap.
    capped: Arc<AtomicBool>,
    /// Tells the watcher to end.
    done: Arc<AtomicBool>,
    watcher: Option<std::thread::JoinHandle<()>>,
}

impl Capture {
    /// Starts tcpdump in the lab (for at most `limit`, and never beyond
    /// the agent's longest spawn) and waits until it listens.
    pub fn start(lab: &LabHandle, share: &Share, limit: Duration) -> Result<Capture> {
        let name = format!(
            "run-{}-{}.pcap",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let host_dir = share.host.join(DIR);
        std::fs::create_dir_all(&host_dir)
            .with_context(|| format!("creating {}", host_dir.display()))?;
        let host_file = host_dir.join(&name);
        let guest_file = share.guest.join(DIR).join(&name);
        let limit_ms = u64::try_from(limit.as_millis())
            .unwrap_or(u64::MAX)
            .min(MAX_SPAWN_MS);
        let id = lab
            .spawn_program("tcpdump", &tcpdump_args(&guest_file), limit_ms)
            .context("starting the capture (tcpdump; scripts/setup installs it)")?;
        let deadline = Instant::now() + LISTEN_PATIENCE;
        loop {
            let o = lab.spawn_output(id, usize::MAX, false)?;
            if o.stderr_tail.iter().any(|l| l.contains("listening on")) {
                break;
            }
            if !o.running {
                bail!(
                    "tcpdump ended before it listened (code {:?}): {}",
                    o.code,
                    o.stderr_tail.join(" | ")
                );
            }
            if Instant::now() > deadline {
                let _ = lab.spawn_output(id, usize::MAX, true);
                bail!(
                    "tcpdump did not listen within {} s: {}",
                    LISTEN_PATIENCE.as_secs(),
                    o.stderr_tail.join(" | ")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // The size cap: tcpdump opens NAME1 once NAME holds more than
        // CAP_BYTES; stop it then (the host sees the share's files).
        let capped = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (lab, capped, done) = (lab.clone(), capped.clone(), done.clone());
            let next = host_dir.join(format!("{name}1"));
            std::thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    if next.exists() {
                        capped.store(true, Ordering::SeqCst);
                        let _ = lab.spawn_output(id, usize::MAX, true);
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Ok(Capture {
            lab: lab.clone(),
            id,
            host_file,
            capped,
            done,
            watcher: Some(watcher),
        })
    }

    /// Stops the capture and moves its file to `dest`; what it holds.
    pub fn finish(mut self, dest: &Path) -> Result<PcapInfo> {
        self.done.store(true, Ordering::SeqCst);
        if let Some(w) = self.watcher.take() {
            let _ = w.join();
        }
        // SIGINT: tcpdump writes its last packet and its counts, then ends.
        let out = self.lab.spawn_output(self.id, usize::MAX, true);
        let (dropped, timed_out) = match &out {
            Ok(o) => (dropped_by_kernel(&o.stderr_tail), o.timed_out),
            Err(_) => (None, false),
        };
        let dir = self.host_file.parent().map(Path::to_path_buf);
        let first = self
            .host_file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(dir) = &dir {
            let names: Vec<String> = std::fs::read_dir(dir)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            for n in rotated(&first, names.iter().map(String::as_str)) {
                let _ = std::fs::remove_file(dir.join(n));
            }
        }
        let bytes = std::fs::read(&self.host_file)
            .with_context(|| format!("reading the capture {}", self.host_file.display()))?;
        let contents = pcap_contents(&bytes)
            .with_context(|| format!("the capture {}", self.host_file.display()))?;
        move_file(&self.host_file, dest, &bytes[..contents.whole_len])?;
        let truncated = if self.capped.load(Ordering::SeqCst) {
            Some("size-cap".to_string())
        } else if timed_out {
            Some("time-limit".to_string())
        } else {
            None
        };
        Ok(PcapInfo {
            file: dest
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            bytes: contents.whole_len as u64,
            packets: contents.packets,
            link_type: contents.link_type,
            filter: FILTER.to_string(),
            cap_bytes: CAP_BYTES,
            dropped_by_kernel: dropped,
            truncated,
        })
    }
}

impl Drop for Capture {
    /// A capture not finished (the caller bailed out) is stopped all the
    /// same and its file removed.
    fn drop(&mut self) {
        if self.watcher.is_some() {
            self.done.store(true, Ordering::SeqCst);
            let _ = self.lab.spawn_output(self.id, usize::MAX, true);
            let _ = std::fs::remove_file(&self.host_file);
        }
    }
}

/// `whole` (the file's bytes up to its last whole record) to `dest`: a
/// rename where the file is whole, else written anew; the source removed.
fn move_file(src: &Path, dest: &Path, whole: &[u8]) -> Result<()> {
    let whole_file = std::fs::metadata(src).is_ok_and(|m| m.len() == whole.len() as u64);
    if !(whole_file && std::fs::rename(src, dest).is_ok()) {
        std::fs::write(dest, whole)
            .with_context(|| format!("writing the capture to {}", dest.display()))?;
        let _ = std::fs::remove_file(src);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian µs pcap of link type `lt` with records of these lengths.
    fn pcap(lt: u32, records: &[usize]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&4u16.to_le_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&262_144u32.to_le_bytes());
        b.extend_from_slice(&lt.to_le_bytes());
        for (i, &n) in records.iter().enumerate() {
            b.extend_from_slice(&(i as u32).to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
            b.extend_from_slice(&(n as u32).to_le_bytes());
            b.extend_from_slice(&(n as u32).to_le_bytes());
            b.extend(std::iter::repeat_n(0xab, n));
        }
        b
    }

    #[test]
    fn counts_whole_records_and_stops_before_one_cut_short() {
        let whole = pcap(276, &[60, 1500, 20]);
        let c = pcap_contents(&whole).unwrap();
        assert_eq!(
            c,
            PcapContents {
                packets: 3,
                link_type: 276,
                whole_len: whole.len()
            }
        );
        // tcpdump killed in the middle of its fourth record.
        let mut cut = pcap(113, &[60, 1500, 20, 100]);
        cut.truncate(cut.len() - 30);
        let c = pcap_contents(&cut).unwrap();
        assert_eq!((c.packets, c.link_type), (3, 113));
        assert_eq!(c.whole_len, whole.len());
        // Only the header: an empty capture.
        assert_eq!(pcap_contents(&whole[..24]).unwrap().packets, 0);
    }

    #[test]
    fn anything_but_a_pcap_header_is_an_error() {
        for bad in [&b""[..], b"\xd4\xc3\xb2", b"{\"schema\":1}", &[0u8; 64]] {
            let e = pcap_contents(bad).unwrap_err();
            assert!(e.to_string().contains("not a pcap"), "{e}");
        }
    }

    #[test]
    fn big_endian_records_are_counted_too() {
        let mut b = Vec::new();
        b.extend_from_slice(&0xa1b2_c3d4u32.to_be_bytes());
        b.extend_from_slice(&2u16.to_be_bytes());
        b.extend_from_slice(&4u16.to_be_bytes());
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&65_535u32.to_be_bytes());
        b.extend_from_slice(&276u32.to_be_bytes());
        for _ in 0..2 {
            b.extend_from_slice(&[0; 8]);
            b.extend_from_slice(&4u32.to_be_bytes());
            b.extend_from_slice(&4u32.to_be_bytes());
            b.extend_from_slice(&[1, 2, 3, 4]);
        }
        let c = pcap_contents(&b).unwrap();
        assert_eq!((c.packets, c.link_type, c.whole_len), (2, 276, b.len()));
    }

    #[test]
    fn the_capture_is_every_asap_enrp_packet_on_every_interface_whole_and_capped() {
        let a = tcpdump_args(Path::new("/share/captures/run-1.pcap"));
        let at = |flag: &str| a.iter().position(|x| x == flag).map(|i| a[i + 1].as_str());
        assert_eq!(at("-i"), Some("any"));
        assert_eq!(at("-s"), Some("0"));
        assert_eq!(at("-C"), Some("16"));
        assert_eq!(at("-w"), Some("/share/captures/run-1.pcap"));
        assert!(a.contains(&"-U".to_string()));
        assert_eq!(a.last().map(String::as_str), Some(FILTER));
        assert_eq!(CAP_BYTES, 16_000_000);
    }

    #[test]
    fn reads_the_kernel_drops_from_tcpdumps_closing_lines() {
        let lines: Vec<String> = [
            "tcpdump: listening on any, link-type LINUX_SLL2 (Linux cooked v2), snapshot length 262144 bytes",
            "1495 packets captured",
            "3000 packets received by filter",
            "7 packets dropped by kernel",
        ]
        .map(String::from)
        .into();
        assert_eq!(dropped_by_kernel(&lines), Some(7));
        assert_eq!(dropped_by_kernel(&lines[..2]), None);
    }

    #[test]
    fn rotated_files_are_the_first_name_with_a_number() {
        let names = [
            "run-1.pcap",
            "run-1.pcap1",
            "run-1.pcap12",
            "run-1.pcapx",
            "run-2.pcap1",
        ];
        assert_eq!(
            rotated("run-1.pcap", names.into_iter()),
            ["run-1.pcap1", "run-1.pcap12"]
        );
    }
}
