//! Numbers of the RSerPool protocols, defined once (RFC 5352, 5353, 5354, 5356
//! and RSPLIB's private extensions). Everything else refers to these.

/// SCTP payload protocol identifier of ASAP (RFC 5352 §3). RSPLIB decides the
/// protocol by this value alone: the type byte means nothing without it.
pub const PPID_ASAP: u32 = 11;
/// SCTP payload protocol identifier of ENRP (RFC 5353).
pub const PPID_ENRP: u32 = 12;
/// PPID of plain application data between an RSPLIB pool user and pool element.
pub const PPID_APPLICATION_DEFAULT: u32 = 0;

/// IANA port of ASAP (registrars listen here).
pub const ASAP_PORT: u16 = 3863;
/// IANA port of ASAP over TLS.
pub const ASAP_TLS_PORT: u16 = 3864;
/// IANA port of ENRP.
pub const ENRP_PORT: u16 = 9901;
/// Multicast group of ASAP Server Announces (RSPLIB).
pub const ASAP_ANNOUNCE_GROUP: [u8; 4] = [239, 0, 0, 50];
/// Multicast group of ENRP Presence announcements (RSPLIB).
pub const ENRP_ANNOUNCE_GROUP: [u8; 4] = [239, 0, 0, 51];

/// Size of the common message header (type, flags, length).
pub const MESSAGE_HEADER_LEN: usize = 4;
/// Size of a parameter (TLV) header (type, length).
pub const PARAMETER_HEADER_LEN: usize = 4;
/// Largest ASAP/ENRP message RSPLIB reads (`ASAP_BUFFER_SIZE`).
pub const MAX_MESSAGE_LEN: usize = 65536;
/// Longest pool handle RSPLIB accepts (`MAX_POOLHANDLESIZE`); RSPLIB aborts on longer ones.
pub const MAX_POOL_HANDLE_LEN: usize = 32;
/// Most pool elements RSPLIB accepts in one Handle Resolution Response.
pub const MAX_ELEMENTS_PER_MESSAGE: usize = 128;
/// Most addresses in one SCTP transport parameter (`MAX_PE_TRANSPORTADDRESSES`).
pub const MAX_TRANSPORT_ADDRESSES: usize = 64;

/// ASAP message type codes (RFC 5352 §2.2).
pub mod asap_type {
    /// ASAP Registration, PE to registrar (RFC 5352 §2.2.1).
    pub const REGISTRATION: u8 = 0x01;
    /// ASAP Deregistration, PE to registrar (RFC 5352 §2.2.2).
    pub const DEREGISTRATION: u8 = 0x02;
    /// ASAP Registration Response, registrar to PE (RFC 5352 §2.2.3).
    pub const REGISTRATION_RESPONSE: u8 = 0x03;
    /// ASAP Deregistration Response, registrar to PE (RFC 5352 §2.2.4).
    pub const DEREGISTRATION_RESPONSE: u8 = 0x04;
    /// ASAP Handle Resolution, pool user to registrar (RFC 5352 §2.2.5).
    pub const HANDLE_RESOLUTION: u8 = 0x05;
    /// ASAP Handle Resolution Response, registrar to pool user (RFC 5352 §2.2.6).
    pub const HANDLE_RESOLUTION_RESPONSE: u8 = 0x06;
    /// ASAP Endpoint Keep-Alive, registrar to PE (RFC 5352 §2.2.7).
    pub const ENDPOINT_KEEP_ALIVE: u8 = 0x07;
    /// ASAP Endpoint Keep-Alive Ack, PE to registrar (RFC 5352 §2.2.8).
    pub const ENDPOINT_KEEP_ALIVE_ACK: u8 = 0x08;
    /// ASAP Endpoint Unreachable, pool user to registrar (RFC 5352 §2.2.9).
    pub const ENDPOINT_UNREACHABLE: u8 = 0x09;
    /// ASAP Server Announce, registrar to UDP multicast (RFC 5352 §2.2.10).
    pub const SERVER_ANNOUNCE: u8 = 0x0a;
    /// ASAP Cookie, PE to pool user on the session (RFC 5352 §2.2.11).
    pub const COOKIE: u8 = 0x0b;
    /// ASAP Cookie Echo, pool user to a new PE after failover (RFC 5352 §2.2.12).
    pub const COOKIE_ECHO: u8 = 0x0c;
    /// ASAP Business Card, between pool user and PE (RFC 5352 §2.2.13).
    pub const BUSINESS_CARD: u8 = 0x0d;
    /// ASAP Error, carrying an Operation Error (RFC 5352 §2.2.14).
    pub const ERROR: u8 = 0x0e;
}

/// ENRP message type codes (RFC 5353).
pub mod enrp_type {
    /// ENRP Presence (RFC 5353 §2.1).
    pub const PRESENCE: u8 = 0x01;
    /// ENRP Handle Table Request (RFC 5353 §2.2).
    pub const HANDLE_TABLE_REQUEST: u8 = 0x02;
    /// ENRP Handle Table Response (RFC 5353 §2.3).
    pub const HANDLE_TABLE_RESPONSE: u8 = 0x03;
    /// ENRP Handle Update (RFC 5353 §2.4).
    pub const HANDLE_UPDATE: u8 = 0x04;
    /// ENRP List Request (RFC 5353 §2.5).
    pub const LIST_REQUEST: u8 = 0x05;
    /// ENRP List Response (RFC 5353 §2.6).
    pub const LIST_RESPONSE: u8 = 0x06;
    /// ENRP Init Takeover (RFC 5353 §2.7).
    pub const INIT_TAKEOVER: u8 = 0x07;
    /// ENRP Init Takeover Ack (RFC 5353 §2.8).
    pub const INIT_TAKEOVER_ACK: u8 = 0x08;
    /// ENRP Takeover Server (RFC 5353 §2.9).
    pub const TAKEOVER_SERVER: u8 = 0x09;
    /// ENRP Error (RFC 5353 §2.10). IANA's text registry misprints it as 0x10; RSPLIB and
    /// Wireshark use 0x0a.
    pub const ERROR: u8 = 0x0a;
}

/// Message flag bits.
pub mod flags {
    /// ASAP Registration Response: R (rejected).
    pub const REGISTRATION_RESPONSE_REJECT: u8 = 0x01;
    /// ASAP Endpoint Keep-Alive: H (sender wants to become the PE's home registrar).
    pub const KEEP_ALIVE_HOME: u8 = 0x01;
    /// ENRP Presence: R (reply required).
    pub const PRESENCE_REPLY_REQUIRED: u8 = 0x01;
    /// ENRP Handle Table Request: W (own children only).
    pub const HANDLE_TABLE_REQUEST_OWN_CHILDREN: u8 = 0x01;
    /// ENRP Handle Table Response: R (reject).
    pub const HANDLE_TABLE_RESPONSE_REJECT: u8 = 0x01;
    /// ENRP Handle Table Response: M (more to send).
    pub const HANDLE_TABLE_RESPONSE_MORE: u8 = 0x02;
    /// ENRP Handle Update: T (takeover suggested).
    pub const HANDLE_UPDATE_TAKEOVER: u8 = 0x01;
    /// ENRP List Response: R (reject).
    pub const LIST_RESPONSE_REJECT: u8 = 0x01;
}

/// Parameter type codes (RFC 5354 §3; 0x803f from draft-dreibholz-rserpool-asap-hropt).
pub mod param_type {
    /// IPv4 Address: 4 address bytes (RFC 5354 §3.1).
    pub const IPV4_ADDRESS: u16 = 0x0001;
    /// IPv6 Address: 16 address bytes (RFC 5354 §3.2).
    pub const IPV6_ADDRESS: u16 = 0x0002;
    /// DCCP Transport (RFC 5354 §3.3); RSPLIB does not support it.
    pub const DCCP_TRANSPORT: u16 = 0x0003;
    /// SCTP Transport: port, transport use, 1 to 64 addresses (RFC 5354 §3.4).
    pub const SCTP_TRANSPORT: u16 = 0x0004;
    /// TCP Transport: port, transport use, one address (RFC 5354 §3.5).
    pub const TCP_TRANSPORT: u16 = 0x0005;
    /// UDP Transport: port, reserved word, one address (RFC 5354 §3.6).
    pub const UDP_TRANSPORT: u16 = 0x0006;
    /// UDP-Lite Transport (RFC 5354 §3.7); RSPLIB does not support it.
    pub const UDP_LITE_TRANSPORT: u16 = 0x0007;
    /// Pool Member Selection Policy: policy type and its value words (RFC 5354 §3.8).
    pub const SELECTION_POLICY: u16 = 0x0008;
    /// Pool Handle: the pool's name as opaque bytes (RFC 5354 §3.9).
    pub const POOL_HANDLE: u16 = 0x0009;
    /// Pool Element: one PE with its transport and policy (RFC 5354 §3.10).
    pub const POOL_ELEMENT: u16 = 0x000a;
    /// Server Information: a registrar's ID and endpoint (RFC 5354 §3.11).
    pub const SERVER_INFORMATION: u16 = 0x000b;
    /// Operation Error: one or more error causes (RFC 5354 §3.12).
    pub const OPERATION_ERROR: u16 = 0x000c;
    /// Cookie: opaque state from a PE (RFC 5354 §3.13).
    pub const COOKIE: u16 = 0x000d;
    /// PE Identifier: a 4-byte pool element ID (RFC 5354 §3.14).
    pub const PE_IDENTIFIER: u16 = 0x000e;
    /// PE Checksum: 2-byte handlespace checksum, ENRP only (RFC 5354 §3.15).
    pub const PE_CHECKSUM: u16 = 0x000f;
    /// Handle Resolution option: how many PEs the pool user wants. Its action bits (10)
    /// let registrars that do not know it skip it.
    pub const HANDLE_RESOLUTION_OPTION: u16 = 0x803f;
}

/// Selection policy type codes (RFC 5356 §3 and RSPLIB's private range).
pub mod policy_code {
    /// Round Robin (RFC 5356): no value words.
    pub const ROUND_ROBIN: u32 = 0x0000_0001;
    /// Weighted Round Robin (RFC 5356): weight.
    pub const WEIGHTED_ROUND_ROBIN: u32 = 0x0000_0002;
    /// Random (RFC 5356): no value words.
    pub const RANDOM: u32 = 0x0000_0003;
    /// Weighted Random (RFC 5356): weight.
    pub const WEIGHTED_RANDOM: u32 = 0x0000_0004;
    /// Priority (RFC 5356): priority; RSPLIB prefers the larger value.
    pub const PRIORITY: u32 = 0x0000_0005;
    /// Least Used (RFC 5356): load.
    pub const LEAST_USED: u32 = 0x4000_0001;
    /// Least Used with Degradation (RFC 5356): load, load degradation.
    pub const LEAST_USED_DEGRADATION: u32 = 0x4000_0002;
    /// Priority Least Used (RFC 5356): load, load increment.
    pub const PRIORITY_LEAST_USED: u32 = 0x4000_0003;
    /// Randomized Least Used (RFC 5356): load.
    pub const RANDOMIZED_LEAST_USED: u32 = 0x4000_0004;
    /// Randomized Priority Least Used (RSPLIB private): load, load degradation.
    pub const RANDOMIZED_PRIORITY_LEAST_USED: u32 = 0xb000_1001;
    /// Randomized Least Used with Degradation (RSPLIB private): load, load degradation.
    pub const RANDOMIZED_LEAST_USED_DEGRADATION: u32 = 0xb000_1002;
    /// Priority Least Used with Degradation (RSPLIB private): load, load degradation.
    pub const PRIORITY_LEAST_USED_DEGRADATION: u32 = 0xb000_1003;
    /// Randomized Priority Least Used with Degradation (RSPLIB private): load, load
    /// degradation.
    pub const RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION: u32 = 0xb000_1004;
    /// Weighted Random with Distance Penalty Factor (RSPLIB, delay-aware draft): weight,
    /// weight DPF, distance.
    pub const WEIGHTED_RANDOM_DPF: u32 = 0xb000_2001;
    /// Least Used with Distance Penalty Factor (RSPLIB, delay-aware draft): load, load
    /// DPF, distance.
    pub const LEAST_USED_DPF: u32 = 0xb000_2002;
    /// Least Used with Degradation and Distance Penalty Factor (RSPLIB private): load,
    /// load degradation, load DPF, distance.
    pub const LEAST_USED_DEGRADATION_DPF: u32 = 0xb000_2003;
    /// Priority Least Used with Distance Penalty Factor: known to RSPLIB's selector only;
    /// its codec neither sends nor accepts it.
    pub const PRIORITY_LEAST_USED_DPF: u32 = 0xb000_2004;
    /// Priority Least Used with Degradation and Distance Penalty Factor: selector only in
    /// RSPLIB, like [`PRIORITY_LEAST_USED_DPF`].
    pub const PRIORITY_LEAST_USED_DEGRADATION_DPF: u32 = 0xb000_2005;
}

/// Operation Error cause codes (RFC 5354 §3.12) and RSPLIB's own codes that
/// reach the wire.
pub mod cause_code {
    /// Unspecified error.
    pub const UNSPECIFIED: u16 = 0x0000;
    /// Unrecognized parameter; the info holds the offending parameter.
    pub const UNRECOGNIZED_PARAMETER: u16 = 0x0001;
    /// Unrecognized message type.
    pub const UNRECOGNIZED_MESSAGE: u16 = 0x0002;
    /// Invalid values; RSPLIB uses it for any malformed parameter.
    pub const INVALID_VALUES: u16 = 0x0003;
    /// The PE identifier is already registered by another PE (RSPLIB sends its own 0xf002
    /// instead).
    pub const NON_UNIQUE_PE_IDENTIFIER: u16 = 0x0004;
    /// The PE's policy differs from the pool's.
    pub const INCONSISTENT_POOLING_POLICY: u16 = 0x0005;
    /// The registrar lacks resources (RSPLIB: out of memory).
    pub const LACK_OF_RESOURCES: u16 = 0x0006;
    /// The PE's transport protocol differs from the pool's.
    pub const INCONSISTENT_TRANSPORT_TYPE: u16 = 0x0007;
    /// The PE's transport use (data only or data plus control) differs from the pool's.
    pub const INCONSISTENT_DATA_CONTROL: u16 = 0x0008;
    /// "Unknown pool handle" — RSPLIB also answers rate-limited requests with it.
    pub const UNKNOWN_POOL_HANDLE: u16 = 0x0009;
    /// Rejected for security reasons.
    pub const REJECTED_SECURITY: u16 = 0x000a;
    /// RSPLIB: invalid message (length/truncation).
    pub const RSPLIB_INVALID_MESSAGE: u16 = 0x0010;
    /// RSPLIB: invalid value.
    pub const RSPLIB_INVALID_VALUE: u16 = 0x0011;
}

/// Transport Use values of SCTP/TCP transport parameters (RFC 5354 §3.4, §3.5).
pub mod transport_use {
    /// The endpoint carries application data only.
    pub const DATA_ONLY: u16 = 0x0000;
    /// The endpoint also carries ASAP control (Cookie, Cookie Echo, Business Card) on the
    /// same association; RSPLIB counts only this value as control.
    pub const DATA_PLUS_CONTROL: u16 = 0x0001;
}

/// ENRP Handle Update actions (RFC 5353 §2.4).
pub mod update_action {
    /// Add or refresh the pool element in the handlespace.
    pub const ADD_PE: u16 = 0;
    /// Remove the pool element from the handlespace.
    pub const DEL_PE: u16 = 1;
}

/// Handle Resolution option Items value meaning "as many as possible".
pub const HANDLE_RESOLUTION_ITEMS_ALL: u32 = 0xffff_ffff;
