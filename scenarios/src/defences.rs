//! The lab stand-in defences: packet-filter allow-lists inside the lab VM
//! that stand in for the authentication RFC 5355 requires and RSPLIB
//! 3.4.4 lacks (no TLS, DTLS or SCTP-AUTH; `docs/lab-defences.md`).
//!
//! - `registration-allow-list`: only the lab's own addresses reach the
//!   registrars' ASAP port; the attackers' address (10.9.0.1) does not.
//! - `enrp-allow-list`: only the registrars' own addresses reach the ENRP
//!   port.
//!
//! Each is one nftables table of its own (so switching one never touches
//! the other), put in place or removed atomically with one `nft` call
//! through the lab agent. Attackers bind to the attackers' address
//! (`rserpool_lab::topology::ATTACKER_ADDRESS`); everything of the lab's reaches a registrar at
//! 10.1.0.i from 10.1.0.i (the kernel's source for a local address is the
//! address itself), which is what the lists let through.

use anyhow::{bail, Result};
use rserpool_lab::proto::{Request, Response};
use rserpool_lab::topology::{ASAP_PORT, ENRP_PORT};
use rserpool_lab::{request_agent, Topology};

use crate::run::LabHandle;

/// The lab stand-in defences this module switches.
pub const REGISTRATION_ALLOW_LIST: &str = "registration-allow-list";
pub const ENRP_ALLOW_LIST: &str = "enrp-allow-list";

/// The nftables table of a stand-in defence.
pub fn table_name(defence: &str) -> Option<&'static str> {
    match defence {
        REGISTRATION_ALLOW_LIST => Some("rserpool_registration_allow_list"),
        ENRP_ALLOW_LIST => Some("rserpool_enrp_allow_list"),
        _ => None,
    }
}

fn set(addrs: &[String]) -> String {
    format!("{{ {} }}", addrs.join(", "))
}

/// The `nft` arguments that switch `defence` on or off for `topology`
/// (one command buffer: nft applies it as one transaction). `None` for a
/// defence that is not a lab stand-in.
///
/// Off removes the table (adding it first, so removing one that is not
/// there is no error); on replaces it the same way.
pub fn nft_args(defence: &str, on: bool, topology: &Topology) -> Option<Vec<String>> {
    let table = table_name(defence)?;
    let registrars: Vec<String> = (0..topology.registrars.len())
        .map(Topology::registrar_address)
        .collect();
    let mut cmd = format!("add table inet {table}; delete table inet {table}");
    if on {
        let rule = match defence {
            // The lab's own hosts: its registrar addresses (every PE, pool
            // user and the gateway reach 10.1.0.i from 10.1.0.i), the VM's
            // NIC address and loopback.
            REGISTRATION_ALLOW_LIST => {
                let mut lab = registrars.clone();
                lab.extend(["10.0.2.15".to_string(), "127.0.0.1".to_string()]);
                format!(
                    "ip daddr {} sctp dport {ASAP_PORT} ip saddr != {} counter drop",
                    set(&registrars),
                    set(&lab)
                )
            }
            _ => format!(
                "sctp dport {ENRP_PORT} ip saddr != {} counter drop",
                set(&registrars)
            ),
        };
        cmd.push_str(&format!(
            "; add table inet {table}\
             ; add chain inet {table} input {{ type filter hook input priority 0; policy accept; }}\
             ; add rule inet {table} input {rule}"
        ));
    }
    Some(vec![cmd])
}

/// Switches a lab stand-in defence on or off inside the lab (through the
/// agent: `nft`). Returns `false`, doing nothing, for any other defence
/// (RSPLIB options, the pool user's and the gateway's are switched
/// elsewhere). Idempotent: switching off a defence that is off is fine.
pub fn apply(lab: &LabHandle, name: &str, on: bool) -> Result<bool> {
    let Some(args) = nft_args(name, on, &lab.topology) else {
        return Ok(false);
    };
    match request_agent(
        &lab.agent,
        &lab.token,
        Request::Exec {
            program: "nft".into(),
            args,
            timeout_ms: 10_000,
        },
    )? {
        Response::Exec { code: Some(0), .. } => Ok(true),
        Response::Exec { code, stderr, .. } => {
            bail!(
                "{name}={}: nft failed ({code:?}): {}",
                if on { "on" } else { "off" },
                stderr.trim()
            )
        }
        Response::Error { message } => bail!("{name}: {message}"),
        other => bail!("{name}: unexpected agent answer {other:?}"),
    }
}

/// Packets a switched-on stand-in defence has dropped so far (its nft
/// counter), `None` when the defence is off or not a stand-in.
pub fn dropped(lab: &LabHandle, name: &str) -> Result<Option<u64>> {
    let Some(table) = table_name(name) else {
        return Ok(None);
    };
    match request_agent(
        &lab.agent,
        &lab.token,
        Request::Exec {
            program: "nft".into(),
            args: vec!["list".into(), "table".into(), "inet".into(), table.into()],
            timeout_ms: 10_000,
        },
    )? {
        Response::Exec {
            code: Some(0),
            stdout,
            ..
        } => Ok(parse_counter(&stdout)),
        _ => Ok(None),
    }
}

/// The packet count of the first `counter packets N bytes M` in `nft list`
/// output.
pub fn parse_counter(listing: &str) -> Option<u64> {
    let rest = &listing[listing.find("counter packets ")? + "counter packets ".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rserpool_lab::topology::ATTACKER_ADDRESS;

    fn cmd(defence: &str, on: bool) -> String {
        let v = nft_args(defence, on, &Topology::default()).unwrap();
        assert_eq!(v.len(), 1, "one command buffer, one transaction");
        v[0].clone()
    }

    #[test]
    fn the_enrp_allow_list_lets_only_the_registrars_reach_the_enrp_port() {
        let c = cmd(ENRP_ALLOW_LIST, true);
        assert!(
            c.contains(
                "add rule inet rserpool_enrp_allow_list input sctp dport 9901 \
                 ip saddr != { 10.1.0.1, 10.1.0.2, 10.1.0.3 } counter drop"
            ),
            "{c}"
        );
        assert!(c.contains("type filter hook input priority 0; policy accept;"));
        assert!(!c.contains(ATTACKER_ADDRESS), "{c}");
    }

    #[test]
    fn the_registration_allow_list_guards_only_the_registrars_asap_port() {
        let c = cmd(REGISTRATION_ALLOW_LIST, true);
        assert!(
            c.contains(
                "ip daddr { 10.1.0.1, 10.1.0.2, 10.1.0.3 } sctp dport 3863 \
                 ip saddr != { 10.1.0.1, 10.1.0.2, 10.1.0.3, 10.0.2.15, 127.0.0.1 } counter drop"
            ),
            "{c}"
        );
        // The attackers' address is not the lab's.
        assert!(!c.contains(ATTACKER_ADDRESS), "{c}");
    }

    #[test]
    fn switching_replaces_or_removes_the_defences_own_table_only() {
        for d in [ENRP_ALLOW_LIST, REGISTRATION_ALLOW_LIST] {
            let table = table_name(d).unwrap();
            let off = cmd(d, false);
            assert_eq!(
                off,
                format!("add table inet {table}; delete table inet {table}")
            );
            let on = cmd(d, true);
            assert!(on.starts_with(&off), "{on}");
            assert_eq!(on.matches("add rule").count(), 1);
            let commands: Vec<&str> = on
                .split("; ")
                .filter(|c| c.starts_with("add ") || c.starts_with("delete "))
                .collect();
            assert_eq!(commands.len(), 5, "{on}");
            assert!(commands.iter().all(|c| c.contains(table)), "{on}");
        }
        assert_ne!(
            table_name(ENRP_ALLOW_LIST),
            table_name(REGISTRATION_ALLOW_LIST)
        );
    }

    #[test]
    fn other_defences_are_not_stand_ins() {
        for d in ["maxeurate", "pool-user-tls-gateway", "gateway-eu-limit", ""] {
            assert!(nft_args(d, true, &Topology::default()).is_none(), "{d}");
        }
    }

    #[test]
    fn the_registrars_of_a_larger_topology_are_all_allowed() {
        let mut t = Topology::default();
        let mut r = t.registrars[0].clone();
        r.name = "registrar-4".into();
        r.id = 0x1000_0004;
        t.registrars.push(r);
        let c = nft_args(ENRP_ALLOW_LIST, true, &t).unwrap().join(" ");
        assert!(c.contains("10.1.0.4 }"), "{c}");
    }

    #[test]
    fn counters_are_read_from_nft_listings() {
        let listing = "table inet rserpool_enrp_allow_list {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tsctp dport 9901 ip saddr != { 10.1.0.1, 10.1.0.2, 10.1.0.3 } counter packets 7 bytes 420 drop\n\t}\n}\n";
        assert_eq!(parse_counter(listing), Some(7));
        assert_eq!(parse_counter("table inet x {}"), None);
        assert_eq!(parse_counter("counter packets x"), None);
    }
}
