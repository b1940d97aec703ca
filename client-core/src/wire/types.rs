//! Validated, high-level representations of ASAP/ENRP messages and parameters
//! (the "Repr" layer, in smoltcp's terms). The codec in this module turns
//! these into bytes exactly as RSPLIB does and back.
//!
//! This file is the shared vocabulary of the whole product: the pool-user
//! state machine, the gateway, the CLI and the browser binding all speak in
//! these types. Extend it; do not rename what others use.

use std::net::IpAddr;

/// A pool handle: an opaque, case-sensitive byte string (RFC 5354 §3.9).
/// RSPLIB accepts 1..=32 bytes; longer handles are representable so that
/// attack scenarios can craft them, but the decoder refuses them by default.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolHandle(pub Vec<u8>);

impl PoolHandle {
    /// A pool handle from any bytes (no length check: see [`DecodeLimits`](super::DecodeLimits)).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        PoolHandle(bytes.into())
    }
    /// The handle's bytes as they go on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&str> for PoolHandle {
    fn from(s: &str) -> Self {
        PoolHandle(s.as_bytes().to_vec())
    }
}

impl std::fmt::Display for PoolHandle {
    /// UTF-8 text where possible, otherwise hex.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match std::str::from_utf8(&self.0) {
            Ok(s) if s.chars().all(|c| !c.is_control()) => f.write_str(s),
            _ => {
                f.write_str("0x")?;
                for b in &self.0 {
                    write!(f, "{b:02x}")?;
                }
                Ok(())
            }
        }
    }
}

/// Pool element identifier (RFC 5354 §3.14). 0 is invalid for RSPLIB.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolElementId(pub u32);

impl std::fmt::Display for PoolElementId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{:08x}", self.0)
    }
}

/// ENRP server (registrar) identifier. 0 means "not known".
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ServerId(pub u32);

impl std::fmt::Display for ServerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "0x{:08x}", self.0)
    }
}

/// The transport protocol of a transport parameter.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransportProtocol {
    /// 0x0004
    Sctp,
    /// 0x0005
    Tcp,
    /// 0x0006
    Udp,
    /// 0x0003 (RSPLIB: unsupported). `service_code` is kept with the transport.
    Dccp,
    /// 0x0007 (RSPLIB: unsupported).
    UdpLite,
}

/// A transport parameter: SCTP/TCP/UDP/DCCP/UDP-Lite with its port, its
/// transport-use (or reserved) field, and its addresses (RFC 5354 §3.1-§3.7).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TransportAddress {
    /// Which transport parameter this is (its type code).
    pub protocol: TransportProtocol,
    /// Transport port of the endpoint: the PE's user port, or the registrar's ASAP/ENRP
    /// port in registrator transports and Server Information. RSPLIB refuses port 0.
    pub port: u16,
    /// SCTP/TCP: Transport Use (0 data only, 1 data plus control). UDP,
    /// UDP-Lite and DCCP: the reserved field, kept for exact round trips.
    pub transport_use: u16,
    /// DCCP only: the service code; 0 for every other protocol.
    pub dccp_service_code: u32,
    /// Addresses in wire order. An IPv4-mapped IPv6 address is encoded as
    /// an IPv4 address parameter, as RSPLIB does.
    pub addresses: Vec<IpAddr>,
}

impl TransportAddress {
    /// An SCTP transport parameter.
    pub fn sctp(port: u16, transport_use: u16, addresses: Vec<IpAddr>) -> Self {
        TransportAddress {
            protocol: TransportProtocol::Sctp,
            port,
            transport_use,
            dccp_service_code: 0,
            addresses,
        }
    }
    /// True when the transport carries ASAP control as well as data (RSPLIB:
    /// only the value 1 counts as control).
    pub fn carries_control(&self) -> bool {
        self.transport_use == super::consts::transport_use::DATA_PLUS_CONTROL
    }
}

/// A pool member selection policy with its values (RFC 5356 and RSPLIB's
/// private policies; wire layout in docs/rsplib-wire.md, "Selection policy
/// parameter"). Loads,
/// degradations, increments and DPFs are fractions scaled to `0..=u32::MAX`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SelectionPolicy {
    /// Round Robin (0x00000001): PEs in turn; no value words.
    RoundRobin,
    /// Weighted Round Robin (0x00000002): PEs in turn, each as often as its weight says.
    WeightedRoundRobin {
        /// Relative capacity; the PE's long-run share of selections is proportional to it
        /// (RSPLIB treats 0 like 1).
        weight: u32,
    },
    /// Random (0x00000003): uniform choice; no value words.
    Random,
    /// Weighted Random (0x00000004): random choice with probability proportional to weight.
    WeightedRandom {
        /// Relative capacity; 0 means the PE is never chosen.
        weight: u32,
    },
    /// Larger value = preferred (RSPLIB).
    Priority {
        /// The PE's rank.
        priority: u32,
    },
    /// Least Used (0x40000001): the PE with the lowest load.
    LeastUsed {
        /// Current utilisation of the PE, 0 = idle, `u32::MAX` = 100 %.
        load: u32,
    },
    /// Least Used with Degradation (0x40000002): lowest load, where each selection raises
    /// the selector's local estimate of the PE's load.
    LeastUsedDegradation {
        /// Current utilisation, 0 = idle, `u32::MAX` = 100 %.
        load: u32,
        /// Expected load increase per new session, same scale as `load`.
        degradation: u32,
    },
    /// Priority Least Used (0x40000003): lowest load plus increment.
    PriorityLeastUsed {
        /// Current utilisation, 0 = idle, `u32::MAX` = 100 %.
        load: u32,
        /// Fixed amount added to `load` for ranking, same scale (RSPLIB stores it in its
        /// degradation slot).
        load_increment: u32,
    },
    /// Randomized Least Used (0x40000004): random choice weighted by spare capacity
    /// (`u32::MAX - load`).
    RandomizedLeastUsed {
        /// Current utilisation, 0 = idle, `u32::MAX` = 100 %.
        load: u32,
    },
    /// Randomized Priority Least Used (0xb0001001, RSPLIB private): random choice
    /// weighted by `u32::MAX - load - degradation`.
    RandomizedPriorityLeastUsed {
        /// Current utilisation, 0 = idle, `u32::MAX` = 100 %.
        load: u32,
        /// Load degradation word, same scale as `load`.
        degradation: u32,
    },
    /// Randomized Least Used with Degradation (0xb0001002, RSPLIB private). RSPLIB never
    /// accumulates the degradation here, so it selects like Randomized Least Used.
    RandomizedLeastUsedDegradation {
        /// Current utilisation, 0 = idle, `u32::MAX` = 100 %.
        load: u32,
        /// Load degradation word, same scale as `load`.
        degradation: u32,
    },
    /// Priority Least Used with Degradation (0xb0001003, RSPLIB private): lowest load
    /// plus degradation plus the local accumulated degradation.
    PriorityLeastUsedDegradation {
        /// Current utilisation, 0 = idle, `u32::MAX` = 100 %.
        load: u32,
        /// Expected load increase per new session, same scale as `load`.
        degradation: u32,
    },
    /// Randomized Priority Least Used with Degradation (0xb0001004, RSPLIB private);
    /// selects like Randomized Priority Least Used in RSPLIB.
    RandomizedPriorityLeastUsedDegradation {
        /// Current utilisation, 0 = idle, `u32::MAX` = 100 %.
        load: u32,
        /// Load degradation word, same scale as `load`.
        degradation: u32,
    },
    /// Weighted Random with Distance Penalty Factor (0xb0002001): weight reduced with distance.
    WeightedRandomDpf {
        /// Relative capacity, as for Weighted Random.
        weight: u32,
        /// Fraction of the weight lost per unit of distance, scaled to `0..=u32::MAX`.
        weight_dpf: u32,
        /// Distance between pool user and PE; RSPLIB's registrar fills it from half the
        /// SCTP smoothed RTT in milliseconds, in steps of 50.
        distance: u32,
    },
    /// Least Used with Distance Penalty Factor (0xb0002002): lowest load plus a penalty
    /// growing with distance.
    LeastUsedDpf {
        /// Current utilisation, 0 = idle, `u32::MAX` = 100 %.
        load: u32,
        /// Load penalty per unit of distance, scaled to `0..=u32::MAX`.
        load_dpf: u32,
        /// Distance between pool user and PE (RSPLIB: half the smoothed RTT, ms, steps of 50).
        distance: u32,
    },
    /// Least Used with Degradation and Distance Penalty Factor (0xb0002003, RSPLIB private).
    LeastUsedDegradationDpf {
        /// Current utilisation, 0 = idle, `u32::MAX` = 100 %.
        load: u32,
        /// Expected load increase per new session, same scale as `load`.
        degradation: u32,
        /// Load penalty per unit of distance, scaled to `0..=u32::MAX`.
        load_dpf: u32,
        /// Distance between pool user and PE (RSPLIB: half the smoothed RTT, ms, steps of 50).
        distance: u32,
    },
    /// 0xb0002004: RSPLIB's selector knows it, its codec does not. We give it
    /// the PLU words plus DPF and distance.
    PriorityLeastUsedDpf {
        /// Current utilisation, 0 = idle, `u32::MAX` = 100 %.
        load: u32,
        /// Fixed amount added to `load` for ranking, same scale.
        load_increment: u32,
        /// Load penalty per unit of distance, scaled to `0..=u32::MAX`.
        load_dpf: u32,
        /// Distance between pool user and PE.
        distance: u32,
    },
    /// 0xb0002005: as above, for PLUD.
    PriorityLeastUsedDegradationDpf {
        /// Current utilisation, 0 = idle, `u32::MAX` = 100 %.
        load: u32,
        /// Expected load increase per new session, same scale as `load`.
        degradation: u32,
        /// Load penalty per unit of distance, scaled to `0..=u32::MAX`.
        load_dpf: u32,
        /// Distance between pool user and PE.
        distance: u32,
    },
    /// Any other policy code: kept as data (RSPLIB refuses it, 0x100b).
    Unknown {
        /// The policy type code as received.
        code: u32,
        /// The 32-bit value words after the type code, in wire order.
        words: Vec<u32>,
    },
}

/// A pool element as carried in Registration, Handle Resolution Response,
/// Business Card and ENRP handle-space messages (RFC 5354 §3.10).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PoolElement {
    /// The PE's identifier, unique within the pool.
    pub id: PoolElementId,
    /// The registrar that owns the PE's registration ([`ServerId`]`(0)` when not yet known).
    pub home_registrar: ServerId,
    /// Milliseconds (RSPLIB: unsigned).
    pub registration_life_ms: u32,
    /// Where pool users reach the PE (SCTP, TCP or UDP transport parameter).
    pub user_transport: TransportAddress,
    /// The PE's selection policy and its current values (load, weight, ...).
    pub policy: SelectionPolicy,
    /// ASAP ("registrator") transport: only in ENRP messages.
    pub registrator_transport: Option<TransportAddress>,
}

/// Server Information (RFC 5354 §3.11): a registrar's ID and its endpoint.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerInformation {
    /// The registrar's identifier.
    pub server_id: ServerId,
    /// The registrar's SCTP endpoint (transport use 0 from RSPLIB).
    pub transport: TransportAddress,
}

/// Operation Error cause code, known or not.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CauseCode(pub u16);

/// One error cause of an Operation Error: the code and its info bytes (RSPLIB
/// puts the offending TLV or message there for causes 1, 3 and 0x11).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ErrorCause {
    /// Cause code (see [`cause_code`](super::consts::cause_code)); unknown codes are kept.
    pub code: CauseCode,
    /// Cause Info: the bytes after the 4-byte cause header, without padding.
    pub info: Vec<u8>,
}

/// Operation Error parameter (RFC 5354 §3.12): one or more causes.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OperationError {
    /// The causes in wire order (RSPLIB sends exactly one).
    pub causes: Vec<ErrorCause>,
}

/// Cookie (RFC 5354 §3.13): opaque to the pool user.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cookie(pub Vec<u8>);

/// Handle Resolution option 0x803f: how many PEs the pool user wants
/// (`HANDLE_RESOLUTION_ITEMS_ALL` = as many as possible).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HandleResolutionOption {
    /// Number of PEs wanted;
    /// [`HANDLE_RESOLUTION_ITEMS_ALL`](super::consts::HANDLE_RESOLUTION_ITEMS_ALL) asks
    /// for as many as the registrar gives. RSPLIB registrars answer at most 128, and 3
    /// when the option is absent or 0.
    pub items: u32,
}

/// What a receiver does with a parameter type it does not recognise: the
/// top two bits of the type (RFC 5354 §3 / RFC 4960 §3.2.1).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnrecognizedAction {
    /// 00: stop processing, drop the message, no report.
    Stop,
    /// 01: stop, drop, report in an Operation Error (cause 1).
    StopAndReport,
    /// 10: skip the parameter and continue.
    Skip,
    /// 11: skip, continue, report.
    SkipAndReport,
}

impl UnrecognizedAction {
    /// The action a parameter type's top two bits ask for.
    pub fn of(param_type: u16) -> Self {
        match param_type >> 14 {
            0 => UnrecognizedAction::Stop,
            1 => UnrecognizedAction::StopAndReport,
            2 => UnrecognizedAction::Skip,
            _ => UnrecognizedAction::SkipAndReport,
        }
    }
}

/// A parameter the decoder skipped (action bits 10 or 11), kept as data.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UnknownParameter {
    /// The parameter's type code as received.
    pub param_type: u16,
    /// The parameter's value, without header and padding.
    pub value: Vec<u8>,
}

impl UnknownParameter {
    /// What its type's action bits ask a receiver to do.
    pub fn action(&self) -> UnrecognizedAction {
        UnrecognizedAction::of(self.param_type)
    }
}

/// A message of a type the decoder does not know, kept as data.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UnknownMessage {
    /// The type byte as received.
    pub msg_type: u8,
    /// The flags byte as received.
    pub flags: u8,
    /// Everything after the 4-byte header, up to Message Length.
    pub body: Vec<u8>,
}

// ---------------------------------------------------------------- ASAP

/// ASAP Registration (0x01), PE → registrar.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Registration {
    /// The pool the PE joins.
    pub pool_handle: PoolHandle,
    /// The PE being registered: user transport and policy, no registrator transport
    /// (RSPLIB refuses one here).
    pub pool_element: PoolElement,
}

/// ASAP Deregistration (0x02), PE → registrar.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Deregistration {
    /// The pool the PE leaves.
    pub pool_handle: PoolHandle,
    /// The PE being deregistered.
    pub pe_id: PoolElementId,
}

/// ASAP Registration Response (0x03).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RegistrationResponse {
    /// R bit.
    pub rejected: bool,
    /// The pool of the registration.
    pub pool_handle: PoolHandle,
    /// The PE the answer is for.
    pub pe_id: PoolElementId,
    /// Why the registration failed; present when rejected. RSPLIB registrars put their
    /// internal codes here (0x0010, 0x1000+, 0xf000+).
    pub error: Option<OperationError>,
}

/// ASAP Deregistration Response (0x04).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DeregistrationResponse {
    /// The pool of the deregistration.
    pub pool_handle: PoolHandle,
    /// The PE the answer is for.
    pub pe_id: PoolElementId,
    /// Why the deregistration failed, if it did.
    pub error: Option<OperationError>,
}

/// ASAP Handle Resolution (0x05), pool user → registrar.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HandleResolution {
    /// The pool to resolve.
    pub pool_handle: PoolHandle,
    /// How many PEs are wanted (option 0x803f); RSPLIB sends it only when its stale-cache
    /// value is 0.
    pub option: Option<HandleResolutionOption>,
}

/// ASAP Handle Resolution Response (0x06). Success: `policy` and 0..n
/// `elements`. Failure: `error` (cause 9 = unknown pool *or* rate limited).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HandleResolutionResponse {
    /// The pool handle echoed by the registrar (RSPLIB's pool user files the PEs under
    /// the handle it asked for, not this one).
    pub pool_handle: PoolHandle,
    /// The pool-level policy. RSPLIB always sends it on success and its pool user refuses
    /// a success answer without it.
    pub policy: Option<SelectionPolicy>,
    /// The PEs chosen by the registrar, possibly none.
    pub elements: Vec<PoolElement>,
    /// Why resolution failed; present instead of `policy` and `elements`.
    pub error: Option<OperationError>,
}

/// ASAP Endpoint Keep-Alive (0x07), registrar → PE.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EndpointKeepAlive {
    /// H bit.
    pub home: bool,
    /// Identifier of the sending registrar (a bare 4-byte field before the parameters).
    pub server_id: ServerId,
    /// The pool of the PE being checked.
    pub pool_handle: PoolHandle,
    /// RSPLIB extension: always sent by RSPLIB, optional on receive.
    pub pe_id: Option<PoolElementId>,
}

/// ASAP Endpoint Keep-Alive Ack (0x08), PE → registrar.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EndpointKeepAliveAck {
    /// The pool of the answering PE.
    pub pool_handle: PoolHandle,
    /// The answering PE.
    pub pe_id: PoolElementId,
}

/// ASAP Endpoint Unreachable (0x09), pool user → registrar. Never answered.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EndpointUnreachable {
    /// The pool of the PE that could not be reached.
    pub pool_handle: PoolHandle,
    /// The PE the pool user could not reach.
    pub pe_id: PoolElementId,
}

/// ASAP Server Announce (0x0a), registrar → UDP multicast. RSPLIB sends no
/// transports: the receiver uses the UDP source address and port.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerAnnounce {
    /// Identifier of the announcing registrar.
    pub server_id: ServerId,
    /// The registrar's transports, usually empty (RSPLIB sends none).
    pub transports: Vec<TransportAddress>,
}

/// ASAP Business Card (0x0d), pool user ↔ pool element.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BusinessCard {
    /// The pool the sender belongs to.
    pub pool_handle: PoolHandle,
    /// The pool-level policy (RSPLIB sends it; its own decoder then fails the card).
    pub policy: Option<SelectionPolicy>,
    /// The PEs the receiver should fail over to.
    pub elements: Vec<PoolElement>,
}

/// An ASAP message (PPID 11).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AsapMessage {
    /// 0x01, see [`Registration`].
    Registration(Registration),
    /// 0x02, see [`Deregistration`].
    Deregistration(Deregistration),
    /// 0x03, see [`RegistrationResponse`].
    RegistrationResponse(RegistrationResponse),
    /// 0x04, see [`DeregistrationResponse`].
    DeregistrationResponse(DeregistrationResponse),
    /// 0x05, see [`HandleResolution`].
    HandleResolution(HandleResolution),
    /// 0x06, see [`HandleResolutionResponse`].
    HandleResolutionResponse(HandleResolutionResponse),
    /// 0x07, see [`EndpointKeepAlive`].
    EndpointKeepAlive(EndpointKeepAlive),
    /// 0x08, see [`EndpointKeepAliveAck`].
    EndpointKeepAliveAck(EndpointKeepAliveAck),
    /// 0x09, see [`EndpointUnreachable`].
    EndpointUnreachable(EndpointUnreachable),
    /// 0x0a, see [`ServerAnnounce`].
    ServerAnnounce(ServerAnnounce),
    /// 0x0b, pool element → pool user on the control channel.
    Cookie(Cookie),
    /// 0x0c, pool user → new pool element after failover.
    CookieEcho(Cookie),
    /// 0x0d, see [`BusinessCard`].
    BusinessCard(BusinessCard),
    /// 0x0e
    Error(OperationError),
    /// A type byte the decoder does not know.
    Unknown(UnknownMessage),
}

// ---------------------------------------------------------------- ENRP

/// ENRP Presence (0x01).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Presence {
    /// R bit: the receiver must answer with its own Presence.
    pub reply_required: bool,
    /// Sender Server ID.
    pub sender: ServerId,
    /// Receiver Server ID; 0 when the sender does not know it.
    pub receiver: ServerId,
    /// PE Checksum, as the two bytes on the wire (big-endian u16).
    pub checksum: u16,
    /// The sender's Server Information (RSPLIB always sends it and requires it).
    pub server_info: Option<ServerInformation>,
}

/// ENRP Handle Table Request (0x02).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HandleTableRequest {
    /// W bit: send only the PEs the receiver is home registrar of.
    pub own_children_only: bool,
    /// Sender Server ID.
    pub sender: ServerId,
    /// Receiver Server ID; 0 when unknown.
    pub receiver: ServerId,
}

/// One pool of a Handle Table Response: a pool handle and its PEs.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HandleTablePool {
    /// The pool.
    pub pool_handle: PoolHandle,
    /// Its PEs, each with a registrator transport and a home registrar.
    pub elements: Vec<PoolElement>,
}

/// ENRP Handle Table Response (0x03).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HandleTableResponse {
    /// R bit: the request is refused.
    pub reject: bool,
    /// M bit: more of the table follows in further responses.
    pub more_to_send: bool,
    /// Sender Server ID.
    pub sender: ServerId,
    /// Receiver Server ID; 0 when unknown.
    pub receiver: ServerId,
    /// The pools and PEs of this part of the table.
    pub pools: Vec<HandleTablePool>,
}

/// ENRP Handle Update (0x04).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HandleUpdate {
    /// T bit: the sender suggests taking over the PE's home registrar.
    pub takeover_suggested: bool,
    /// Sender Server ID.
    pub sender: ServerId,
    /// Receiver Server ID; 0 when unknown.
    pub receiver: ServerId,
    /// 0 = ADD_PE, 1 = DEL_PE.
    pub update_action: u16,
    /// The pool of the changed PE.
    pub pool_handle: PoolHandle,
    /// The PE added or removed, with its registrator transport.
    pub pool_element: PoolElement,
}

/// ENRP List Request (0x05).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ListRequest {
    /// Sender Server ID.
    pub sender: ServerId,
    /// Receiver Server ID; 0 when unknown.
    pub receiver: ServerId,
}

/// ENRP List Response (0x06).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ListResponse {
    /// R bit: the request is refused.
    pub reject: bool,
    /// Sender Server ID.
    pub sender: ServerId,
    /// Receiver Server ID; 0 when unknown.
    pub receiver: ServerId,
    /// The registrars the sender knows.
    pub servers: Vec<ServerInformation>,
}

/// ENRP Init Takeover (0x07), Init Takeover Ack (0x08), Takeover Server (0x09).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Takeover {
    /// Sender Server ID.
    pub sender: ServerId,
    /// Receiver Server ID; 0 when unknown.
    pub receiver: ServerId,
    /// The registrar being taken over.
    pub target: ServerId,
}

/// ENRP Error (0x0a).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnrpError {
    /// Sender Server ID.
    pub sender: ServerId,
    /// Receiver Server ID; 0 when unknown.
    pub receiver: ServerId,
    /// What went wrong.
    pub error: OperationError,
}

/// An ENRP message (PPID 12).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EnrpMessage {
    /// 0x01, see [`Presence`].
    Presence(Presence),
    /// 0x02, see [`HandleTableRequest`].
    HandleTableRequest(HandleTableRequest),
    /// 0x03, see [`HandleTableResponse`].
    HandleTableResponse(HandleTableResponse),
    /// 0x04, see [`HandleUpdate`].
    HandleUpdate(HandleUpdate),
    /// 0x05, see [`ListRequest`].
    ListRequest(ListRequest),
    /// 0x06, see [`ListResponse`].
    ListResponse(ListResponse),
    /// 0x07: the sender wants to take over the target registrar's PEs.
    InitTakeover(Takeover),
    /// 0x08: a peer agrees to the takeover of the target.
    InitTakeoverAck(Takeover),
    /// 0x09: the sender has taken over the target's PEs.
    TakeoverServer(Takeover),
    /// 0x0a, see [`EnrpError`].
    Error(EnrpError),
    /// A type byte the decoder does not know (or any ENRP message when the `enrp` feature is off).
    Unknown(UnknownMessage),
}

/// Which protocol table a message belongs to: decided by the SCTP PPID (or,
/// for UDP announces, by the port), never by the type byte.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// ASAP, SCTP PPID 11 (RFC 5352).
    Asap,
    /// ENRP, SCTP PPID 12 (RFC 5353).
    Enrp,
}

/// Any ASAP or ENRP message.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    /// An ASAP message.
    Asap(AsapMessage),
    /// An ENRP message.
    Enrp(EnrpMessage),
}
