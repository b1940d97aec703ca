//! What RSPLIB's `hsdump` prints about a registrar's handlespace, parsed:
//! the one parser the lab, its tests and the lab page share.
//!
//! `hsdump ADDR:9901` asks a registrar over ENRP and prints a header
//! (`Handlespace[home=$10000001]: (1 Pools, 4 PoolElements, 2 Owned)`), an
//! `*-- Index:` section with every pool (`+-- Pool "EchoPool", Policy
//! "RoundRobin", Protocol SCTP, CtrlCh=yes: (4 nodes)`) and its elements
//! (`- idx:#0001: $20132f7b …`, `chsum=… home=$10000001 life=90000ms`,
//! `userT: {10.0.2.15, 10.1.0.1} 52185/SCTP+CtrlCh`), then a `*-- Selection:`
//! section that repeats them in selection order (not parsed: same elements).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// One pool element as `hsdump` prints it in the handlespace index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct DumpedPe {
    /// Pool element identifier.
    pub id: u32,
    /// Its home registrar's identifier.
    pub home: u32,
    /// Registration life.
    pub life_ms: u64,
    /// User transport addresses.
    pub addresses: BTreeSet<String>,
    /// User transport port.
    pub port: u16,
    /// `sctp`, `tcp`, …
    pub transport: String,
    /// Whether the user transport also carries ASAP (control channel).
    pub control_channel: bool,
}

/// A pool as `hsdump` shows it: policy name and elements (sorted by id).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DumpedPool {
    pub policy: String,
    pub elements: Vec<DumpedPe>,
}

/// A registrar's whole handlespace as `hsdump` shows it. (The header's
/// `home=$…` is hsdump's own random ENRP identifier, not the registrar's.)
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Handlespace {
    /// Pools by pool handle.
    pub pools: BTreeMap<String, DumpedPool>,
}

fn hex_after(text: &str, key: &str) -> Option<u32> {
    let rest = &text[text.find(key)? + key.len()..];
    let hex: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    u32::from_str_radix(&hex, 16).ok()
}

/// Parses the `*-- Index:` section: every pool with its elements. `None`
/// when the text is not an `hsdump` answer, or an element line is cut.
pub fn parse_handlespace(text: &str) -> Option<Handlespace> {
    text.lines().find(|l| l.starts_with("Handlespace["))?;
    let index = text.split("*-- Index:").nth(1)?;
    let index = index.split("*-- Selection:").next()?;
    let mut out = Handlespace::default();
    for section in index.split("+-- Pool \"").skip(1) {
        let (name, rest) = section.split_once('"')?;
        let policy = rest
            .split_once("Policy \"")
            .and_then(|(_, p)| p.split_once('"'))
            .map(|(p, _)| p.to_string())
            .unwrap_or_default();
        out.pools
            .insert(name.to_string(), parse_elements(rest, policy)?);
    }
    Some(out)
}

/// The pool `pool` of an `hsdump` answer (see [`parse_handlespace`]).
pub fn parse_hsdump(text: &str, pool: &str) -> Option<DumpedPool> {
    parse_handlespace(text)?.pools.remove(pool)
}

/// PE counts per pool, from the pools' `(N nodes)` headers: what the lab
/// compares with its topology to decide it is ready.
pub fn pool_sizes(text: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix("+-- Pool \"") else {
            continue;
        };
        let Some((pool, tail)) = rest.split_once('"') else {
            continue;
        };
        let count = tail
            .rsplit_once('(')
            .and_then(|(_, c)| c.split_whitespace().next())
            .and_then(|n| n.parse().ok());
        if let Some(n) = count {
            m.insert(pool.to_string(), n);
        }
    }
    m
}

fn parse_elements(section: &str, policy: String) -> Option<DumpedPool> {
    let mut out = DumpedPool {
        policy,
        elements: Vec::new(),
    };
    let mut cur: Option<DumpedPe> = None;
    for line in section.lines().map(str::trim) {
        if line.starts_with("- idx:#") {
            out.elements.extend(cur.take());
            cur = Some(DumpedPe {
                id: hex_after(line, ": $")?,
                home: 0,
                life_ms: 0,
                addresses: BTreeSet::new(),
                port: 0,
                transport: String::new(),
                control_channel: false,
            });
        } else if let Some(pe) = cur.as_mut() {
            if line.starts_with("chsum=") {
                pe.home = hex_after(line, "home=$")?;
                let life = line.split("life=").nth(1)?;
                pe.life_ms = life
                    .trim_end_matches(|c: char| !c.is_ascii_digit())
                    .split("ms")
                    .next()?
                    .parse()
                    .ok()?;
            } else if let Some(rest) = line.strip_prefix("userT: {") {
                let (addrs, tail) = rest.split_once('}')?;
                pe.addresses = addrs.split(',').map(|a| a.trim().to_string()).collect();
                let (port, proto) = tail.trim().split_once('/')?;
                pe.port = port.parse().ok()?;
                pe.control_channel = proto.ends_with("+CtrlCh");
                pe.transport = proto.trim_end_matches("+CtrlCh").to_lowercase();
            }
        }
    }
    out.elements.extend(cur);
    out.elements.sort();
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "Handlespace[home=$85bc7a79]: (2 Pools, 3 PoolElements, 0 Owned)\n\
*-- Index:\n \
+-- Pool \"EchoPool\", Policy \"RoundRobin\", Protocol SCTP, CtrlCh=yes: (2 nodes)\n \
+-- Index:\n   \
- idx:#0001: $20132f7b flags=[new][updated]\n     \
chsum=$0000c342 home=$10000001 life=90000ms ur=0 \n     \
userT: {10.0.2.15, 10.1.0.1} 52185/SCTP+CtrlCh\n     \
regT:  {10.1.0.1, 10.0.2.15} 44153/SCTP\n   \
- idx:#0002: $98cfb57f flags=[new][updated]\n     \
chsum=$00000244 home=$10000003 life=90000ms ur=0 \n     \
userT: {10.0.2.15} 54962/SCTP\n \
+-- Pool \"OtherPool\", Policy \"LeastUsed\", Protocol SCTP, CtrlCh=yes: (1 nodes)\n \
+-- Index:\n   \
- idx:#0001: $0000abcd flags=[new][updated]\n     \
chsum=$00000244 home=$10000002 life=30000ms ur=0 \n     \
userT: {10.0.2.15} 40000/SCTP+CtrlCh\n\
*-- Selection:\n \
+-- Pool \"EchoPool\", Policy \"RoundRobin\", Protocol SCTP, CtrlCh=yes: (2 nodes)\n   \
- sel:#0001: $deadbeef flags=[new][updated]\n";

    #[test]
    fn hsdump_index_is_parsed_field_by_field() {
        let p = parse_hsdump(DUMP, "EchoPool").expect("pool");
        assert_eq!(p.policy, "RoundRobin");
        assert_eq!(p.elements.len(), 2, "selection section must not be counted");
        let a = &p.elements[0];
        assert_eq!(
            (a.id, a.home, a.life_ms, a.port),
            (0x20132f7b, 0x10000001, 90000, 52185)
        );
        assert_eq!(a.addresses.len(), 2);
        assert!(a.control_channel);
        assert_eq!(a.transport, "sctp");
        assert!(!p.elements[1].control_channel);
        assert!(parse_hsdump(DUMP, "NoPool").is_none());
        assert!(parse_hsdump("garbage", "EchoPool").is_none());
    }

    #[test]
    fn every_pool_of_the_handlespace_is_parsed() {
        let h = parse_handlespace(DUMP).expect("handlespace");
        assert_eq!(
            h.pools.keys().collect::<Vec<_>>(),
            ["EchoPool", "OtherPool"]
        );
        let other = &h.pools["OtherPool"];
        assert_eq!(other.policy, "LeastUsed");
        assert_eq!(other.elements.len(), 1);
        assert_eq!(other.elements[0].home, 0x10000002);
        assert_eq!(other.elements[0].life_ms, 30000);
    }

    #[test]
    fn an_empty_handlespace_has_no_pools() {
        let h = parse_handlespace(
            "Handlespace[home=$10000001]: (0 Pools, 0 PoolElements, 0 Owned)\n*-- Index:\n*-- Selection:\n",
        )
        .expect("handlespace");
        assert!(h.pools.is_empty());
        assert!(parse_handlespace("hsdump: connection refused").is_none());
    }

    #[test]
    fn counts_pool_elements_in_pool_headers() {
        let m = pool_sizes(DUMP);
        assert_eq!(m.get("EchoPool"), Some(&2));
        assert_eq!(m.get("OtherPool"), Some(&1));
        assert!(pool_sizes("garbage (x nodes)").is_empty());
    }
}
