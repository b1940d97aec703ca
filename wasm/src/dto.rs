//! The JavaScript-facing shapes of results and events. They become plain
//! objects through [`ToJs`] (camelCase keys, `null` for an absent value)
//! whose TypeScript types are written out in `lib.rs` (`TS_TYPES`); keep
//! both in step. Built by hand with `Reflect::set` rather than serde +
//! serde-wasm-bindgen: the same objects for less code in the download.

use client_core::pool_user::{
    CloseReason, FailoverReason, PathSecurity, ReportLimit, ResolveError,
};
use client_core::wire::{
    consts::policy_code as pc, policy_words, Message, PoolElement, PoolHandle, TransportProtocol,
};
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::JsValue;

/// Conversion to the plain JS object the API documents.
pub trait ToJs {
    fn to_js(&self) -> JsValue;
}

/// `{ k1: v1, k2: v2, ... }`.
fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    for (k, v) in fields {
        let _ = Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o.into()
}

fn strings(v: &[String]) -> JsValue {
    v.iter()
        .map(|s| JsValue::from_str(s))
        .collect::<Array>()
        .into()
}

fn num(n: impl Into<f64>) -> JsValue {
    JsValue::from_f64(n.into())
}

/// A pool element as `resolve` returns it (RFC 5354 §2.2: identifier, home
/// registrar, user transport, member selection policy, registration life).
#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDto {
    /// `type` in JS.
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

#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
pub struct FailoverDto {
    pub old_element: String,
    pub new_element: String,
    pub reason: String,
    pub failed_elements: Vec<String>,
    pub cookie_replayed: bool,
    pub security_changed: bool,
    pub old_security: SecurityDto,
    pub new_security: SecurityDto,
}

pub fn failover_reason(r: &FailoverReason) -> String {
    match r {
        // Spelled out rather than `{:?}`: Debug formatting of strings pulls
        // in core's escaping and Unicode tables (browser download size).
        FailoverReason::ChannelClosed(c) => match c {
            CloseReason::Closed => "channel-closed: Closed".into(),
            CloseReason::Aborted => "channel-closed: Aborted".into(),
            CloseReason::ConnectFailed => "channel-closed: ConnectFailed".into(),
            CloseReason::AuthenticationFailed(m) => {
                format!("channel-closed: AuthenticationFailed(\"{m}\")")
            }
        },
        FailoverReason::ConnectTimeout => "connect-timeout".into(),
        FailoverReason::ReportedByApplication => "reported-by-application".into(),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegistrarChangeDto {
    pub from: Option<String>,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq)]
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
#[derive(Debug, Clone, PartialEq)]
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

impl ToJs for ElementDto {
    fn to_js(&self) -> JsValue {
        object(&[
            ("identifier", JsValue::from_str(&self.identifier)),
            ("identifierValue", num(self.identifier_value)),
            ("homeRegistrar", JsValue::from_str(&self.home_registrar)),
            ("addresses", strings(&self.addresses)),
            ("port", num(self.port)),
            ("transport", JsValue::from_str(self.transport)),
            ("transportUse", JsValue::from_str(self.transport_use)),
            ("policy", self.policy.to_js()),
            ("registrationLifeMs", num(self.registration_life_ms)),
        ])
    }
}

impl ToJs for PolicyDto {
    fn to_js(&self) -> JsValue {
        let values: Array = self.values.iter().map(|&v| num(v)).collect();
        object(&[
            ("type", JsValue::from_str(self.kind)),
            ("code", num(self.code)),
            ("values", values.into()),
        ])
    }
}

impl ToJs for SecurityDto {
    fn to_js(&self) -> JsValue {
        object(&[
            ("transport", JsValue::from_str(&self.transport)),
            ("tls", JsValue::from_bool(self.tls)),
            (
                "authenticatedPeer",
                self.authenticated_peer
                    .as_deref()
                    .map_or(JsValue::NULL, JsValue::from_str),
            ),
            ("viaGateway", JsValue::from_bool(self.via_gateway)),
        ])
    }
}

impl ToJs for FailoverDto {
    fn to_js(&self) -> JsValue {
        object(&[
            ("oldElement", JsValue::from_str(&self.old_element)),
            ("newElement", JsValue::from_str(&self.new_element)),
            ("reason", JsValue::from_str(&self.reason)),
            ("failedElements", strings(&self.failed_elements)),
            ("cookieReplayed", JsValue::from_bool(self.cookie_replayed)),
            ("securityChanged", JsValue::from_bool(self.security_changed)),
            ("oldSecurity", self.old_security.to_js()),
            ("newSecurity", self.new_security.to_js()),
        ])
    }
}

impl ToJs for RegistrarChangeDto {
    fn to_js(&self) -> JsValue {
        object(&[
            (
                "from",
                self.from
                    .as_deref()
                    .map_or(JsValue::NULL, JsValue::from_str),
            ),
            ("to", JsValue::from_str(&self.to)),
        ])
    }
}

impl ToJs for ReportSuppressedDto {
    fn to_js(&self) -> JsValue {
        object(&[
            ("poolHandle", JsValue::from_str(&self.pool_handle)),
            ("element", JsValue::from_str(&self.element)),
            ("limit", JsValue::from_str(self.limit)),
        ])
    }
}

impl ToJs for TraceDto {
    fn to_js(&self) -> JsValue {
        object(&[
            ("direction", JsValue::from_str(self.direction)),
            // Channel numbers and lengths stay far below 2^53.
            ("channel", JsValue::from_f64(self.channel as f64)),
            ("atMs", JsValue::from_f64(self.at_ms)),
            ("name", JsValue::from_str(self.name)),
            ("typeCode", num(self.type_code)),
            ("length", JsValue::from_f64(self.length as f64)),
        ])
    }
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
