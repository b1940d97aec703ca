//! Validated, high-level representations of ASAP/ENRP messages and parameters
//! (the "Repr" layer, in smoltcp's terms). The codec in this module turns
//! these into bytes exactly as RSPLIB does and back.
//!
//! This file is the shared vocabulary of the whole product: the pool-user
//! state machine, the gateway, the CLI and the browser binding all speak in
//! these types. Extend it; do not rename what others use.

use std::net::IpAddr;

/// A pool handle: an opaque, case-sensitive byte string (RFC 5354 §2.2.9).
/// RSPLIB accepts 1..=32 bytes; longer handles are representable so that
/// attack scenarios can craft them, but the decoder refuses them by default.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolHandle(pub Vec<u8>);

impl PoolHandle {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        PoolHandle(bytes.into())
    }
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

/// Pool element identifier (RFC 5354 §2.2.10). 0 is invalid for RSPLIB.
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
/// transport-use (or reserved) field, and its addresses (RFC 5354 §2.2.1-7).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TransportAddress {
    pub protocol: TransportProtocol,
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
/// private policies; wire layout in rserpool-wire.md §3.8). Loads,
/// degradations, increments and DPFs are fractions scaled to `0..=u32::MAX`.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SelectionPolicy {
    RoundRobin,
    WeightedRoundRobin {
        weight: u32,
    },
    Random,
    WeightedRandom {
        weight: u32,
    },
    /// Larger value = preferred (RSPLIB).
    Priority {
        priority: u32,
    },
    LeastUsed {
        load: u32,
    },
    LeastUsedDegradation {
        load: u32,
        degradation: u32,
    },
    PriorityLeastUsed {
        load: u32,
        load_increment: u32,
    },
    RandomizedLeastUsed {
        load: u32,
    },
    RandomizedPriorityLeastUsed {
        load: u32,
        degradation: u32,
    },
    RandomizedLeastUsedDegradation {
        load: u32,
        degradation: u32,
    },
    PriorityLeastUsedDegradation {
        load: u32,
        degradation: u32,
    },
    RandomizedPriorityLeastUsedDegradation {
        load: u32,
        degradation: u32,
    },
    WeightedRandomDpf {
        weight: u32,
        weight_dpf: u32,
        distance: u32,
    },
    LeastUsedDpf {
        load: u32,
        load_dpf: u32,
        distance: u32,
    },
    LeastUsedDegradationDpf {
        load: u32,
        degradation: u32,
        load_dpf: u32,
        distance: u32,
    },
    /// 0xb0002004: RSPLIB's selector knows it, its codec does not. We give it
    /// the PLU words plus DPF and distance.
    PriorityLeastUsedDpf {
        load: u32,
        load_increment: u32,
        load_dpf: u32,
        distance: u32,
    },
    /// 0xb0002005: as above, for PLUD.
    PriorityLeastUsedDegradationDpf {
        load: u32,
        degradation: u32,
        load_dpf: u32,
        distance: u32,
    },
    /// Any other policy code: kept as data (RSPLIB refuses it, 0x100b).
    Unknown {
        code: u32,
        words: Vec<u32>,
    },
}

/// A pool element as carried in Registration, Handle Resolution Response,
/// Business Card and ENRP handle-space messages (RFC 5354 §2.2.8).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PoolElement {
    pub id: PoolElementId,
    pub home_registrar: ServerId,
    /// Milliseconds (RSPLIB: unsigned).
    pub registration_life_ms: u32,
    pub user_transport: TransportAddress,
    pub policy: SelectionPolicy,
    /// ASAP ("registrator") transport: only in ENRP messages.
    pub registrator_transport: Option<TransportAddress>,
}

/// Server Information (RFC 5354 §2.2.11): a registrar's ID and its endpoint.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerInformation {
    pub server_id: ServerId,
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
    pub code: CauseCode,
    pub info: Vec<u8>,
}

/// Operation Error parameter (RFC 5354 §2.2.12): one or more causes.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OperationError {
    pub causes: Vec<ErrorCause>,
}

/// Cookie (RFC 5354 §2.2.13): opaque to the pool user.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Cookie(pub Vec<u8>);

/// Handle Resolution option 0x803f: how many PEs the pool user wants
/// (`HANDLE_RESOLUTION_ITEMS_ALL` = as many as possible).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HandleResolutionOption {
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
    pub param_type: u16,
    pub value: Vec<u8>,
}

impl UnknownParameter {
    pub fn action(&self) -> UnrecognizedAction {
        UnrecognizedAction::of(self.param_type)
    }
}

/// A message of a type the decoder does not know, kept as data.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UnknownMessage {
    pub msg_type: u8,
    pub flags: u8,
    /// Everything after the 4-byte header, up to Message Length.
    pub body: Vec<u8>,
}

// ---------------------------------------------------------------- ASAP

/// ASAP Registration (0x01), PE → registrar.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Registration {
    pub pool_handle: PoolHandle,
    pub pool_element: PoolElement,
}

/// ASAP Deregistration (0x02), PE → registrar.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Deregistration {
    pub pool_handle: PoolHandle,
    pub pe_id: PoolElementId,
}

/// ASAP Registration Response (0x03).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RegistrationResponse {
    /// R bit.
    pub rejected: bool,
    pub pool_handle: PoolHandle,
    pub pe_id: PoolElementId,
    pub error: Option<OperationError>,
}

/// ASAP Deregistration Response (0x04).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DeregistrationResponse {
    pub pool_handle: PoolHandle,
    pub pe_id: PoolElementId,
    pub error: Option<OperationError>,
}

/// ASAP Handle Resolution (0x05), pool user → registrar.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HandleResolution {
    pub pool_handle: PoolHandle,
    pub option: Option<HandleResolutionOption>,
}

/// ASAP Handle Resolution Response (0x06). Success: `policy` and 0..n
/// `elements`. Failure: `error` (cause 9 = unknown pool *or* rate limited).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HandleResolutionResponse {
    pub pool_handle: PoolHandle,
    pub policy: Option<SelectionPolicy>,
    pub elements: Vec<PoolElement>,
    pub error: Option<OperationError>,
}

/// ASAP Endpoint Keep-Alive (0x07), registrar → PE.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EndpointKeepAlive {
    /// H bit.
    pub home: bool,
    pub server_id: ServerId,
    pub pool_handle: PoolHandle,
    /// RSPLIB extension: always sent by RSPLIB, optional on receive.
    pub pe_id: Option<PoolElementId>,
}

/// ASAP Endpoint Keep-Alive Ack (0x08), PE → registrar.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EndpointKeepAliveAck {
    pub pool_handle: PoolHandle,
    pub pe_id: PoolElementId,
}

/// ASAP Endpoint Unreachable (0x09), pool user → registrar. Never answered.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EndpointUnreachable {
    pub pool_handle: PoolHandle,
    pub pe_id: PoolElementId,
}

/// ASAP Server Announce (0x0a), registrar → UDP multicast. RSPLIB sends no
/// transports: the receiver uses the UDP source address and port.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerAnnounce {
    pub server_id: ServerId,
    pub transports: Vec<TransportAddress>,
}

/// ASAP Business Card (0x0d), pool user ↔ pool element.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BusinessCard {
    pub pool_handle: PoolHandle,
    pub policy: Option<SelectionPolicy>,
    pub elements: Vec<PoolElement>,
}

/// An ASAP message (PPID 11).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AsapMessage {
    Registration(Registration),
    Deregistration(Deregistration),
    RegistrationResponse(RegistrationResponse),
    DeregistrationResponse(DeregistrationResponse),
    HandleResolution(HandleResolution),
    HandleResolutionResponse(HandleResolutionResponse),
    EndpointKeepAlive(EndpointKeepAlive),
    EndpointKeepAliveAck(EndpointKeepAliveAck),
    EndpointUnreachable(EndpointUnreachable),
    ServerAnnounce(ServerAnnounce),
    /// 0x0b, pool element → pool user on the control channel.
    Cookie(Cookie),
    /// 0x0c, pool user → new pool element after failover.
    CookieEcho(Cookie),
    BusinessCard(BusinessCard),
    /// 0x0e
    Error(OperationError),
    Unknown(UnknownMessage),
}

// ---------------------------------------------------------------- ENRP

/// ENRP Presence (0x01).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Presence {
    pub reply_required: bool,
    pub sender: ServerId,
    pub receiver: ServerId,
    /// PE Checksum, as the two bytes on the wire (big-endian u16).
    pub checksum: u16,
    pub server_info: Option<ServerInformation>,
}

/// ENRP Handle Table Request (0x02).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HandleTableRequest {
    pub own_children_only: bool,
    pub sender: ServerId,
    pub receiver: ServerId,
}

/// One pool of a Handle Table Response: a pool handle and its PEs.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HandleTablePool {
    pub pool_handle: PoolHandle,
    pub elements: Vec<PoolElement>,
}

/// ENRP Handle Table Response (0x03).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HandleTableResponse {
    pub reject: bool,
    pub more_to_send: bool,
    pub sender: ServerId,
    pub receiver: ServerId,
    pub pools: Vec<HandleTablePool>,
}

/// ENRP Handle Update (0x04).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HandleUpdate {
    pub takeover_suggested: bool,
    pub sender: ServerId,
    pub receiver: ServerId,
    /// 0 = ADD_PE, 1 = DEL_PE.
    pub update_action: u16,
    pub pool_handle: PoolHandle,
    pub pool_element: PoolElement,
}

/// ENRP List Request (0x05).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ListRequest {
    pub sender: ServerId,
    pub receiver: ServerId,
}

/// ENRP List Response (0x06).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ListResponse {
    pub reject: bool,
    pub sender: ServerId,
    pub receiver: ServerId,
    pub servers: Vec<ServerInformation>,
}

/// ENRP Init Takeover (0x07), Init Takeover Ack (0x08), Takeover Server (0x09).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Takeover {
    pub sender: ServerId,
    pub receiver: ServerId,
    pub target: ServerId,
}

/// ENRP Error (0x0a).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EnrpError {
    pub sender: ServerId,
    pub receiver: ServerId,
    pub error: OperationError,
}

/// An ENRP message (PPID 12).
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EnrpMessage {
    Presence(Presence),
    HandleTableRequest(HandleTableRequest),
    HandleTableResponse(HandleTableResponse),
    HandleUpdate(HandleUpdate),
    ListRequest(ListRequest),
    ListResponse(ListResponse),
    InitTakeover(Takeover),
    InitTakeoverAck(Takeover),
    TakeoverServer(Takeover),
    Error(EnrpError),
    Unknown(UnknownMessage),
}

/// Which protocol table a message belongs to: decided by the SCTP PPID (or,
/// for UDP announces, by the port), never by the type byte.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    Asap,
    Enrp,
}

/// Any ASAP or ENRP message.
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Message {
    Asap(AsapMessage),
    Enrp(EnrpMessage),
}
