//! The JavaScript-facing shapes of results and events. They are plain
//! objects (serde-wasm-bindgen) whose TypeScript types are written out in
//! `lib.rs` (`TS_TYPES`); keep both in step.

use client_core::pool_user::{PathSecurity, ReportLimit, ResolveError};
use client_core::wire::{
    consts::policy_code as pc, policy_words, Message, PoolElement, PoolHandle, TransportProtocol,
};
use serde::Serialize;

/// A pool element as `resolve` returns it (RFC 5354 §2.2: identifier, home
/// registrar, user transport, member selection policy, registration life).
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ElementDto {
    /// "0x0e000001" — the PE identifier in hex, as RSPLIB's tools print it.
    pub identifier: String,
    pub identifier_value: u32,
    pub home_registrar: String,
    pub addresses: Vec<String>,
    pub port: u16,
    pub transport: &'static str,
    /// "data" or "data+control" (RFC 5354 §2.2.3 transport use).
    pub transport_use: &'static str,
    pub policy: PolicyDto,
    pub registration_life_ms: u32,
}

/// RFC 5356 policy: its name, the code on the wire and the parameter words
/// in wire order (weight, priority, load, degradation...).
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct PolicyDto {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub code: u32,
    pub values: Vec<u32>,
}

pub fn policy_name(code: u32) -> &'static str {
    match code {
        pc::ROUND_ROBIN => "RoundRobin",
        pc::WEIGHTED_ROUND_ROBIN => "WeightedRoundRobin",
        pc::RANDOM => "Random",
        pc::WEIGHTED_RANDOM => "WeightedRandom",
        pc::PRIORITY => "Priority",
        pc::LEAST_USED => "LeastUsed",
        pc::LEAST_USED_DEGRADATION => "LeastUsedDegradation",
        pc::PRIORITY_LEAST_USED => "PriorityLeastUsed",
        pc::RANDOMIZED_LEAST_USED => "RandomizedLeastUsed",
        pc::RANDOMIZED_PRIORITY_LEAST_USED => "RandomizedPriorityLeastUsed",
        pc::RANDOMIZED_LEAST_USED_DEGRADATION => "RandomizedLeastUsedDegradation",
        pc::PRIORITY_LEAST_USED_DEGRADATION => "PriorityLeastUsedDegradation",
        pc::RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION => "RandomizedPriorityLeastUsedDegradation",
        pc::WEIGHTED_RANDOM_DPF => "WeightedRandomDpf",
        pc::LEAST_USED_DPF => "LeastUsedDpf",
        pc::LEAST_USED_DEGRADATION_DPF => "LeastUsedDegradationDpf",
        pc::PRIORITY_LEAST_USED_DPF => "PriorityLeastUsedDpf",
        pc::PRIORITY_LEAST_USED_DEGRADATION_DPF => "PriorityLeastUsedDegradationDpf",
        _ => "Unknown",
    }
}

impl From<&PoolElement> for ElementDto {
    fn from(pe: &PoolElement) -> Self {
        let (code, values) = policy_words(&pe.policy);
        let t = &pe.user_transport;
        ElementDto {
            identifier: pe.id.to_string(),
            identifier_value: pe.id.0,
            home_registrar: pe.home_registrar.to_string(),
            addresses: t.addresses.iter().map(|a| a.to_string()).collect(),
            port: t.port,
            transport: match t.protocol {
                TransportProtocol::Sctp => "sctp",
                TransportProtocol::Tcp => "tcp",
                TransportProtocol::Udp => "udp",
                TransportProtocol::Dccp => "dccp",
                TransportProtocol::UdpLite => "udplite",
            },
            transport_use: if t.carries_control() {
                "data+control"
            } else {
                "data"
            },
            policy: PolicyDto {
                kind: policy_name(code),
                code,
                values,
            },
            registration_life_ms: pe.registration_life_ms,
        }
    }
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecurityDto {
    pub transport: String,
    pub tls: bool,
    pub authenticated_peer: Option<String>,
    pub via_gateway: bool,
}

impl From<&PathSecurity> for SecurityDto {
    fn from(s: &PathSecurity) -> Self {
        SecurityDto {
            transport: s.transport.clone(),
            tls: s.tls,
            authenticated_peer: s.authenticated_peer.clone(),
            via_gateway: s.via_gateway,
        }
    }
}

/// RFC 5355 §2.9 failover notice for the application.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FailoverDto {
    pub old_element: String,
    pub new_element: String,
    /// `FailoverReason::as_str` (kebab-case, stable).
    pub reason: &'static str,
    /// `CloseReason::as_str` of the old channel, for `channel-closed`.
    pub close_reason: Option<&'static str>,
    pub failed_elements: Vec<String>,
    pub cookie_replayed: bool,
    pub security_changed: bool,
    pub old_security: SecurityDto,
    pub new_security: SecurityDto,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RegistrarChangeDto {
    pub from: Option<String>,
    pub to: String,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReportSuppressedDto {
    pub pool_handle: String,
    pub element: String,
    pub limit: &'static str,
}

pub fn report_limit(l: ReportLimit) -> &'static str {
    match l {
        ReportLimit::PerElement => "per-element",
        ReportLimit::Total => "total",
    }
}

/// One ASAP message sent or received, for the lab's sequence chart.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TraceDto {
    pub direction: &'static str,
    pub channel: u64,
    /// Milliseconds on the binding's clock (`performance.now()`).
    pub at_ms: f64,
    /// "ASAP Handle Resolution", ...
    pub name: &'static str,
    pub type_code: u8,
    pub length: usize,
}

impl TraceDto {
    pub fn new(direction: &'static str, channel: u64, at_ms: f64, m: &Message) -> Self {
        TraceDto {
            direction,
            channel,
            at_ms,
            name: m.type_name(),
            type_code: m.type_code(),
            length: m.to_bytes().len(),
        }
    }
}

/// Stable error codes (`err.code`) for each resolution failure.
pub fn resolve_error_code(e: &ResolveError) -> &'static str {
    match e {
        ResolveError::NoSuchPool { .. } => "no-such-pool",
        ResolveError::NoUsableElement => "no-usable-element",
        ResolveError::NoRegistrarReachable { .. } => "no-registrar-reachable",
        ResolveError::Timeout { .. } => "timeout",
        ResolveError::Refused { .. } => "refused",
    }
}

pub fn handle_text(h: &PoolHandle) -> String {
    h.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use client_core::wire::{PoolElementId, SelectionPolicy, ServerId, TransportAddress};

    #[test]
    fn element_shape_names_policy_and_transport_use() {
        let pe = PoolElement {
            id: PoolElementId(0x0e00_0001),
            home_registrar: ServerId(0x1000_0003),
            registration_life_ms: 30_000,
            user_transport: TransportAddress::sctp(
                7,
                client_core::wire::consts::transport_use::DATA_PLUS_CONTROL,
                vec!["10.0.2.15".parse().unwrap()],
            ),
            policy: SelectionPolicy::LeastUsedDegradation {
                load: 5,
                degradation: 2,
            },
            registrator_transport: None,
        };
        let d = ElementDto::from(&pe);
        assert_eq!(d.identifier, "0x0e000001");
        assert_eq!(d.home_registrar, "0x10000003");
        assert_eq!(d.addresses, vec!["10.0.2.15"]);
        assert_eq!(d.transport_use, "data+control");
        assert_eq!(d.policy.kind, "LeastUsedDegradation");
        assert_eq!(d.policy.values, vec![5, 2]);
    }

    #[test]
    fn every_known_policy_code_has_a_name() {
        for code in [
            pc::ROUND_ROBIN,
            pc::WEIGHTED_ROUND_ROBIN,
            pc::RANDOM,
            pc::WEIGHTED_RANDOM,
            pc::PRIORITY,
            pc::LEAST_USED,
            pc::LEAST_USED_DEGRADATION,
            pc::PRIORITY_LEAST_USED,
            pc::RANDOMIZED_LEAST_USED,
            pc::RANDOMIZED_PRIORITY_LEAST_USED,
            pc::RANDOMIZED_LEAST_USED_DEGRADATION,
            pc::PRIORITY_LEAST_USED_DEGRADATION,
            pc::RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION,
            pc::WEIGHTED_RANDOM_DPF,
            pc::LEAST_USED_DPF,
            pc::LEAST_USED_DEGRADATION_DPF,
            pc::PRIORITY_LEAST_USED_DPF,
            pc::PRIORITY_LEAST_USED_DEGRADATION_DPF,
        ] {
            assert_ne!(policy_name(code), "Unknown", "code {code:#x}");
        }
        assert_eq!(policy_name(0x7777), "Unknown");
    }
}
