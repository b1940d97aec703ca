//! A lab topology: registrars, pool elements and the project's own
//! processes, read from a small TOML file; the default is embedded.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// The default topology: 3 registrars peered over ENRP, 4 echo PEs in
/// `EchoPool` spread over them.
pub const DEFAULT_TOML: &str = include_str!("../topology/default.toml");

/// ASAP and ENRP ports every registrar listens on (at its own address).
pub const ASAP_PORT: u16 = client_core::wire::consts::ASAP_PORT;
pub const ENRP_PORT: u16 = client_core::wire::consts::ENRP_PORT;

/// The attackers' own address inside the lab (on the VM's loopback, like
/// the registrars' 10.1.0.i): attackers bind their associations to it, so
/// that a lab packet filter can tell them from the lab's registrars, PEs
/// and pool users, which reach a registrar at 10.1.0.i from 10.1.0.i (see
/// `docs/lab-defences.md`).
pub const ATTACKER_ADDRESS: &str = "10.9.0.1";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    #[serde(rename = "registrar", default)]
    pub registrars: Vec<Registrar>,
    #[serde(rename = "pool_element", default)]
    pub pool_elements: Vec<PoolElement>,
    /// Project processes (the gateway, attack tools), started after the PEs.
    #[serde(rename = "process", default)]
    pub processes: Vec<Process>,
    /// Guest TCP ports to forward to the host's 127.0.0.1 (besides the agent's).
    #[serde(default)]
    pub forward: Vec<u16>,
    /// Component Status reports from registrars and PEs to the lab's
    /// collector (the live topology of the lab page).
    #[serde(default)]
    pub csp: Csp,
}

/// `[csp]`: how registrars and PEs report their status (RSPLIB's
/// `-cspserver` / `-cspinterval`). The lab agent listens at
/// `10.1.0.1:port` (registrar 1's address, present in every lab).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Csp {
    /// Report interval; 0 turns reporting off.
    pub interval_ms: u64,
    /// UDP port of the collector.
    pub port: u16,
}

impl Default for Csp {
    fn default() -> Self {
        Csp {
            interval_ms: 500,
            port: crate::csp::CSP_PORT,
        }
    }
}

/// A registrar. Registrar *i* (from 1) is bound to `10.1.0.i` — never to
/// 127.0.0.x only: ENRP Presence would then carry no usable address and
/// peering breaks (lab-environment facts).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registrar {
    pub name: String,
    /// Registrar identifier (RSPLIB `-identifier`).
    pub id: u32,
    /// Extra rspregistrar options, e.g. `-maxbadpereports=3`.
    #[serde(default)]
    pub options: Vec<String>,
}

/// A pool element run by RSPLIB's `rspserver`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolElement {
    pub name: String,
    pub pool: String,
    /// Name of the registrar it registers at.
    pub registrar: String,
    /// rspserver service flag without the dash: `echo`, `discard`, `daytime`, …
    #[serde(default = "default_service")]
    pub service: String,
    /// Extra rspserver options, e.g. `-policy=WeightedRoundRobin:3`.
    #[serde(default)]
    pub options: Vec<String>,
}

fn default_service() -> String {
    "echo".into()
}

/// A project process started from the lab's binaries (`/share/bin` in the VM).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Process {
    pub name: String,
    pub program: String,
    #[serde(default)]
    pub args: Vec<String>,
    /// Start it with the lab (default) or only on command.
    #[serde(default = "yes")]
    pub autostart: bool,
}

fn yes() -> bool {
    true
}

/// What the agent runs: a name and a command line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessSpec {
    pub name: String,
    pub kind: ProcessKind,
    pub program: String,
    pub args: Vec<String>,
    pub autostart: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProcessKind {
    Registrar,
    PoolElement,
    Project,
}

impl Default for Topology {
    fn default() -> Self {
        Topology::parse(DEFAULT_TOML).expect("the embedded default topology is valid")
    }
}

impl Topology {
    pub fn parse(text: &str) -> Result<Topology> {
        let t: Topology = toml::from_str(text).context("topology file")?;
        t.validate()?;
        Ok(t)
    }

    pub fn load(path: &std::path::Path) -> Result<Topology> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading topology {}", path.display()))?;
        Topology::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    fn validate(&self) -> Result<()> {
        if self.registrars.is_empty() {
            bail!("a topology needs at least one registrar");
        }
        if self.registrars.len() > 250 {
            bail!("at most 250 registrars (addresses 10.1.0.1-250)");
        }
        let mut names = BTreeMap::new();
        for n in self
            .registrars
            .iter()
            .map(|r| &r.name)
            .chain(self.pool_elements.iter().map(|p| &p.name))
            .chain(self.processes.iter().map(|p| &p.name))
        {
            if names.insert(n.clone(), ()).is_some() {
                bail!("name {n:?} is used twice");
            }
            if n.is_empty()
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                bail!("name {n:?}: use letters, digits, '-' and '_'");
            }
        }
        for p in &self.pool_elements {
            if self.registrar_index(&p.registrar).is_none() {
                bail!(
                    "pool element {}: no registrar named {:?}",
                    p.name,
                    p.registrar
                );
            }
            if p.pool.is_empty() || p.pool.len() > client_core::wire::consts::MAX_POOL_HANDLE_LEN {
                bail!("pool element {}: pool handle must be 1-32 bytes", p.name);
            }
        }
        Ok(())
    }

    fn registrar_index(&self, name: &str) -> Option<usize> {
        self.registrars.iter().position(|r| r.name == name)
    }

    /// Address of registrar `index` (0-based): `10.1.0.(index+1)`.
    pub fn registrar_address(index: usize) -> String {
        format!("10.1.0.{}", index + 1)
    }

    /// Where registrars and PEs send Component Status reports, if they do.
    pub fn csp_collector(&self) -> Option<String> {
        (self.csp.interval_ms > 0)
            .then(|| format!("{}:{}", Self::registrar_address(0), self.csp.port))
    }

    /// The RSPLIB options that make a component report to the collector.
    fn csp_options(&self) -> Vec<String> {
        match self.csp_collector() {
            Some(addr) => vec![
                format!("-cspserver={addr}"),
                format!("-cspinterval={}", self.csp.interval_ms),
            ],
            None => vec![],
        }
    }

    /// `addr:3863` of every registrar, in order.
    pub fn registrar_asap_endpoints(&self) -> Vec<String> {
        (0..self.registrars.len())
            .map(|i| format!("{}:{ASAP_PORT}", Self::registrar_address(i)))
            .collect()
    }

    /// The number of PEs per pool that every registrar must show when the
    /// lab is ready.
    pub fn expected_pools(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for p in &self.pool_elements {
            *m.entry(p.pool.clone()).or_insert(0) += 1;
        }
        m
    }

    /// The command lines the agent runs, registrars first.
    pub fn process_specs(&self) -> Vec<ProcessSpec> {
        let mut v = Vec::new();
        for (i, r) in self.registrars.iter().enumerate() {
            let addr = Self::registrar_address(i);
            let mut args = vec![
                format!("-asap={addr}:{ASAP_PORT}"),
                format!("-enrp={addr}:{ENRP_PORT}"),
                format!("-identifier={}", r.id),
                // Peers by ENRP address; announces off (no multicast needed).
                "-asapannounce=off".into(),
                "-enrpannounce=off".into(),
                // Our addresses are site-local; accept what the lab uses.
                "-minaddressscope=loopback".into(),
                "-mentordiscoverytimeout=2000".into(),
                "-logquiet".into(),
            ];
            for j in (0..self.registrars.len()).filter(|&j| j != i) {
                args.push(format!("-peer={}:{ENRP_PORT}", Self::registrar_address(j)));
            }
            args.extend(self.csp_options());
            args.extend(r.options.iter().cloned());
            v.push(ProcessSpec {
                name: r.name.clone(),
                kind: ProcessKind::Registrar,
                program: "rspregistrar".into(),
                args,
                autostart: true,
            });
        }
        for p in &self.pool_elements {
            let i = self.registrar_index(&p.registrar).unwrap_or(0);
            let mut args = vec![
                format!("-{}", p.service),
                format!("-registrar={}:{ASAP_PORT}", Self::registrar_address(i)),
                format!("-poolhandle={}", p.pool),
            ];
            args.extend(self.csp_options());
            args.extend(p.options.iter().cloned());
            v.push(ProcessSpec {
                name: p.name.clone(),
                kind: ProcessKind::PoolElement,
                program: "rspserver".into(),
                args,
                autostart: true,
            });
        }
        for p in &self.processes {
            v.push(ProcessSpec {
                name: p.name.clone(),
                kind: ProcessKind::Project,
                program: p.program.clone(),
                args: p.args.clone(),
                autostart: p.autostart,
            });
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_topology_has_three_peered_registrars_and_four_echo_pes() {
        let t = Topology::default();
        assert_eq!(t.registrars.len(), 3);
        assert_eq!(t.expected_pools().get("EchoPool"), Some(&4));
        let specs = t.process_specs();
        let r1 = &specs[0];
        assert_eq!(r1.program, "rspregistrar");
        assert!(r1.args.contains(&"-asap=10.1.0.1:3863".to_string()));
        assert!(r1.args.contains(&"-peer=10.1.0.2:9901".to_string()));
        assert!(r1.args.contains(&"-peer=10.1.0.3:9901".to_string()));
        assert!(!r1.args.iter().any(|a| a.contains("127.0.0")));
        // PEs are spread over all three registrars.
        let homes: std::collections::BTreeSet<_> = specs
            .iter()
            .filter(|s| s.kind == ProcessKind::PoolElement)
            .map(|s| s.args[1].clone())
            .collect();
        assert_eq!(homes.len(), 3);
    }

    #[test]
    fn registrars_and_pes_report_status_to_the_collector_by_default() {
        let t = Topology::default();
        assert_eq!(t.csp_collector().as_deref(), Some("10.1.0.1:2960"));
        for s in t
            .process_specs()
            .iter()
            .filter(|s| s.kind != ProcessKind::Project)
        {
            assert!(
                s.args.contains(&"-cspserver=10.1.0.1:2960".to_string()),
                "{s:?}"
            );
            assert!(s.args.contains(&"-cspinterval=500".to_string()), "{s:?}");
        }
        let mut off = Topology::default();
        off.csp.interval_ms = 0;
        assert_eq!(off.csp_collector(), None);
        assert!(off
            .process_specs()
            .iter()
            .all(|s| s.args.iter().all(|a| !a.starts_with("-csp"))));
        let t = Topology::parse(&DEFAULT_TOML.replace("interval_ms = 500", "interval_ms = 250"))
            .unwrap();
        assert_eq!(
            t.csp,
            Csp {
                interval_ms: 250,
                port: 2960
            }
        );
    }

    #[test]
    fn refuses_unknown_registrar_and_duplicate_names() {
        let bad = r#"
            [[registrar]]
            name = "r1"
            id = 1
            [[pool_element]]
            name = "r1"
            pool = "P"
            registrar = "r1"
        "#;
        assert!(Topology::parse(bad)
            .unwrap_err()
            .to_string()
            .contains("twice"));
        let bad = r#"
            [[registrar]]
            name = "r1"
            id = 1
            [[pool_element]]
            name = "pe"
            pool = "P"
            registrar = "r9"
        "#;
        assert!(format!("{:#}", Topology::parse(bad).unwrap_err()).contains("no registrar"));
    }
}
