//! Which lab process a pool element is. RSPLIB names a PE only by its
//! identifier (random per registration) and its transport port; the page
//! needs the process name to kill or restart it. The lab tells which
//! process owns which SCTP port (`/proc/net/sctp/eps` gives port → socket
//! inode, `/proc/PID/fd` gives inode → process); the agent's status gives
//! process → name.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use rserpool_lab::proto::{Request, Response};

use super::LabAccess;

/// Lists the SCTP endpoints, a separator, then `PID socket:[INODE]` for
/// every socket of every process.
const PORT_OWNERS_SCRIPT: &str = "cat /proc/net/sctp/eps; echo ---; \
    for d in /proc/[0-9]*; do for f in $d/fd/*; do \
    l=$(readlink $f 2>/dev/null) && case $l in socket:*) echo \"${d#/proc/} $l\";; esac; \
    done; done";

/// Port → process name of every SCTP endpoint a lab process holds.
pub fn port_owners(lab: &LabAccess) -> Result<HashMap<u16, String>> {
    let out = match lab.request(Request::Exec {
        program: "sh".into(),
        args: vec!["-c".into(), PORT_OWNERS_SCRIPT.into()],
        timeout_ms: 10_000,
    })? {
        Response::Exec { stdout, .. } => stdout,
        Response::Error { message } => bail!("{message}"),
        other => bail!("unexpected answer {other:?}"),
    };
    let names: HashMap<u32, String> = match lab.request(Request::Status)? {
        Response::Status { processes, .. } => processes
            .into_iter()
            .filter_map(|p| Some((p.pid?, p.name)))
            .collect(),
        other => bail!("unexpected answer {other:?}"),
    };
    Ok(parse_port_owners(&out, &names))
}

/// Joins the script's two lists (see [`PORT_OWNERS_SCRIPT`]) with the
/// process names by pid.
pub fn parse_port_owners(text: &str, names: &HashMap<u32, String>) -> HashMap<u16, String> {
    let (eps, sockets) = text.split_once("---").unwrap_or((text, ""));
    let mut inode_owner: HashMap<&str, &String> = HashMap::new();
    for line in sockets.lines() {
        let Some((pid, link)) = line.trim().split_once(' ') else {
            continue;
        };
        let inode = link.trim_start_matches("socket:[").trim_end_matches(']');
        if let Some(name) = pid.parse().ok().and_then(|p: u32| names.get(&p)) {
            inode_owner.insert(inode, name);
        }
    }
    // ENDPT SOCK STY SST HBKT LPORT UID INODE LADDRS…
    let mut out = HashMap::new();
    for line in eps.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 8 {
            continue;
        }
        if let (Ok(port), Some(name)) = (cols[5].parse::<u16>(), inode_owner.get(cols[7])) {
            out.insert(port, (*name).clone());
        }
    }
    out
}

/// The transport ports a CSP location names. RSPLIB writes `"host: ADDR,
/// ADDR, …"` where the first address carries the port (`10.0.2.15:42725`)
/// and the others do not; IPv6 addresses have no brackets, so a colon
/// only means a port after an IPv4 address or `]`.
pub fn location_ports(location: &str) -> Vec<u16> {
    let addrs = location.split_once(": ").map_or(location, |(_, a)| a);
    addrs
        .split(',')
        .filter_map(|a| {
            let (host, port) = a.trim().rsplit_once(':')?;
            let host_ok = host.ends_with(']') || host.parse::<std::net::Ipv4Addr>().is_ok();
            host_ok.then(|| port.parse().ok()).flatten()
        })
        .collect()
}

/// A port → name map kept fresh in the background: refreshed when asked
/// (a process started or ended, or a port nobody knows showed up), at most
/// every two seconds.
#[derive(Clone)]
pub struct PortNames {
    map: Arc<Mutex<HashMap<u16, String>>>,
    /// Ports no lab process held at the last look, and when they were
    /// asked about: a component the lab did not start (an attacker's)
    /// must not cause a refresh every two seconds.
    unknown: Arc<Mutex<HashMap<u16, Instant>>>,
    refresh: mpsc::Sender<()>,
}

/// How long a port nobody owned is not asked about again.
const UNKNOWN_PORT_QUIET: Duration = Duration::from_secs(10);

impl PortNames {
    pub fn start(lab: LabAccess) -> PortNames {
        let map = Arc::new(Mutex::new(HashMap::new()));
        let (refresh, asked) = mpsc::channel::<()>();
        let m = map.clone();
        std::thread::spawn(move || {
            let mut last: Option<Instant> = None;
            // Ends when every PortNames (the sender) is gone.
            while asked.recv().is_ok() {
                // Let a process that just started bind its ports, and take
                // every request made meanwhile as one.
                let pause = match last {
                    Some(t) => Duration::from_secs(2).saturating_sub(t.elapsed()),
                    None => Duration::ZERO,
                }
                .max(Duration::from_millis(300));
                std::thread::sleep(pause);
                while asked.try_recv().is_ok() {}
                last = Some(Instant::now());
                match port_owners(&lab) {
                    Ok(owners) => *m.lock().unwrap_or_else(|e| e.into_inner()) = owners,
                    Err(e) => tracing::warn!("lab page: which process owns which port: {e:#}"),
                }
            }
        });
        let names = PortNames {
            map,
            unknown: Arc::default(),
            refresh,
        };
        names.ask_refresh();
        names
    }

    pub fn ask_refresh(&self) {
        let _ = self.refresh.send(());
    }

    /// The process holding one of `ports`, if known (asks for a refresh if
    /// not).
    pub fn owner(&self, ports: &[u16]) -> Option<String> {
        let found = {
            let m = self.map.lock().unwrap_or_else(|e| e.into_inner());
            ports.iter().find_map(|p| m.get(p).cloned())
        };
        if found.is_none() && !ports.is_empty() {
            let mut unknown = self.unknown.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            let quiet = ports.iter().all(|p| {
                unknown
                    .get(p)
                    .is_some_and(|t| now.duration_since(*t) < UNKNOWN_PORT_QUIET)
            });
            if !quiet {
                for p in ports {
                    unknown.insert(*p, now);
                }
                drop(unknown);
                self.ask_refresh();
            }
        }
        found
    }

    /// Replaces the map with a fresh one (computed by the caller).
    pub fn set(&self, owners: HashMap<u16, String>) {
        *self.map.lock().unwrap_or_else(|e| e.into_inner()) = owners;
    }
}

/// Registrar identifier → topology name.
pub fn registrar_names(lab: &LabAccess) -> BTreeMap<u32, String> {
    lab.topology
        .registrars
        .iter()
        .map(|r| (r.id, r.name.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_matched_to_processes_through_socket_inodes() {
        let text = " ENDPT     SOCK   STY SST HBKT LPORT   UID INODE LADDRS\n\
            87fdfbf 554e90a0 0   10  34   3863      0 10104 10.1.0.1 \n\
            79d53890 44fc74ca 0   10  15   38660     0 10118 10.0.2.15 10.1.0.1 \n\
            ---\n\
            101 socket:[10104]\n\
            205 socket:[10118]\n\
            205 socket:[99999]\n";
        let names = HashMap::from([(101, "registrar-1".to_string()), (205, "pe-1".to_string())]);
        let m = parse_port_owners(text, &names);
        assert_eq!(m.get(&3863).map(String::as_str), Some("registrar-1"));
        assert_eq!(m.get(&38660).map(String::as_str), Some("pe-1"));
        assert_eq!(m.len(), 2);
        assert!(parse_port_owners("garbage", &names).is_empty());
    }

    #[test]
    fn ports_are_read_from_a_csp_location() {
        // As a PE of the lab wrote it.
        assert_eq!(
            location_ports("(none): 10.0.2.15:42725, 10.1.0.1, 10.1.0.2, fec0::5054:ff:fe12:3456"),
            [42725]
        );
        assert_eq!(location_ports("h: [fec0::1]:4711"), [4711]);
        assert_eq!(location_ports("(none): 10.1.0.1:3863"), [3863]);
        assert!(location_ports("").is_empty());
    }
}
