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
    pub const REGISTRATION: u8 = 0x01;
    pub const DEREGISTRATION: u8 = 0x02;
    pub const REGISTRATION_RESPONSE: u8 = 0x03;
    pub const DEREGISTRATION_RESPONSE: u8 = 0x04;
    pub const HANDLE_RESOLUTION: u8 = 0x05;
    pub const HANDLE_RESOLUTION_RESPONSE: u8 = 0x06;
    pub const ENDPOINT_KEEP_ALIVE: u8 = 0x07;
    pub const ENDPOINT_KEEP_ALIVE_ACK: u8 = 0x08;
    pub const ENDPOINT_UNREACHABLE: u8 = 0x09;
    pub const SERVER_ANNOUNCE: u8 = 0x0a;
    pub const COOKIE: u8 = 0x0b;
    pub const COOKIE_ECHO: u8 = 0x0c;
    pub const BUSINESS_CARD: u8 = 0x0d;
    pub const ERROR: u8 = 0x0e;
}

/// ENRP message type codes (RFC 5353).
pub mod enrp_type {
    pub const PRESENCE: u8 = 0x01;
    pub const HANDLE_TABLE_REQUEST: u8 = 0x02;
    pub const HANDLE_TABLE_RESPONSE: u8 = 0x03;
    pub const HANDLE_UPDATE: u8 = 0x04;
    pub const LIST_REQUEST: u8 = 0x05;
    pub const LIST_RESPONSE: u8 = 0x06;
    pub const INIT_TAKEOVER: u8 = 0x07;
    pub const INIT_TAKEOVER_ACK: u8 = 0x08;
    pub const TAKEOVER_SERVER: u8 = 0x09;
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

/// Parameter type codes (RFC 5354 §2; 0x803f from draft-dreibholz-rserpool-asap-hropt).
pub mod param_type {
    pub const IPV4_ADDRESS: u16 = 0x0001;
    pub const IPV6_ADDRESS: u16 = 0x0002;
    pub const DCCP_TRANSPORT: u16 = 0x0003;
    pub const SCTP_TRANSPORT: u16 = 0x0004;
    pub const TCP_TRANSPORT: u16 = 0x0005;
    pub const UDP_TRANSPORT: u16 = 0x0006;
    pub const UDP_LITE_TRANSPORT: u16 = 0x0007;
    pub const SELECTION_POLICY: u16 = 0x0008;
    pub const POOL_HANDLE: u16 = 0x0009;
    pub const POOL_ELEMENT: u16 = 0x000a;
    pub const SERVER_INFORMATION: u16 = 0x000b;
    pub const OPERATION_ERROR: u16 = 0x000c;
    pub const COOKIE: u16 = 0x000d;
    pub const PE_IDENTIFIER: u16 = 0x000e;
    pub const PE_CHECKSUM: u16 = 0x000f;
    pub const HANDLE_RESOLUTION_OPTION: u16 = 0x803f;
}

/// Selection policy type codes (RFC 5356 §3 and RSPLIB's private range).
pub mod policy_code {
    pub const ROUND_ROBIN: u32 = 0x0000_0001;
    pub const WEIGHTED_ROUND_ROBIN: u32 = 0x0000_0002;
    pub const RANDOM: u32 = 0x0000_0003;
    pub const WEIGHTED_RANDOM: u32 = 0x0000_0004;
    pub const PRIORITY: u32 = 0x0000_0005;
    pub const LEAST_USED: u32 = 0x4000_0001;
    pub const LEAST_USED_DEGRADATION: u32 = 0x4000_0002;
    pub const PRIORITY_LEAST_USED: u32 = 0x4000_0003;
    pub const RANDOMIZED_LEAST_USED: u32 = 0x4000_0004;
    pub const RANDOMIZED_PRIORITY_LEAST_USED: u32 = 0xb000_1001;
    pub const RANDOMIZED_LEAST_USED_DEGRADATION: u32 = 0xb000_1002;
    pub const PRIORITY_LEAST_USED_DEGRADATION: u32 = 0xb000_1003;
    pub const RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION: u32 = 0xb000_1004;
    pub const WEIGHTED_RANDOM_DPF: u32 = 0xb000_2001;
    pub const LEAST_USED_DPF: u32 = 0xb000_2002;
    pub const LEAST_USED_DEGRADATION_DPF: u32 = 0xb000_2003;
    pub const PRIORITY_LEAST_USED_DPF: u32 = 0xb000_2004;
    pub const PRIORITY_LEAST_USED_DEGRADATION_DPF: u32 = 0xb000_2005;
}

/// Operation Error cause codes (RFC 5354 §2.2.10) and RSPLIB's own codes that
/// reach the wire.
pub mod cause_code {
    pub const UNSPECIFIED: u16 = 0x0000;
    pub const UNRECOGNIZED_PARAMETER: u16 = 0x0001;
    pub const UNRECOGNIZED_MESSAGE: u16 = 0x0002;
    pub const INVALID_VALUES: u16 = 0x0003;
    pub const NON_UNIQUE_PE_IDENTIFIER: u16 = 0x0004;
    pub const INCONSISTENT_POOLING_POLICY: u16 = 0x0005;
    pub const LACK_OF_RESOURCES: u16 = 0x0006;
    pub const INCONSISTENT_TRANSPORT_TYPE: u16 = 0x0007;
    pub const INCONSISTENT_DATA_CONTROL: u16 = 0x0008;
    /// "Unknown pool handle" — RSPLIB also answers rate-limited requests with it.
    pub const UNKNOWN_POOL_HANDLE: u16 = 0x0009;
    pub const REJECTED_SECURITY: u16 = 0x000a;
    /// RSPLIB: invalid message (length/truncation).
    pub const RSPLIB_INVALID_MESSAGE: u16 = 0x0010;
    /// RSPLIB: invalid value.
    pub const RSPLIB_INVALID_VALUE: u16 = 0x0011;
}

/// Transport Use values of SCTP/TCP transport parameters (RFC 5354 §2.2.3).
pub mod transport_use {
    pub const DATA_ONLY: u16 = 0x0000;
    pub const DATA_PLUS_CONTROL: u16 = 0x0001;
}

/// ENRP Handle Update actions (RFC 5353).
pub mod update_action {
    pub const ADD_PE: u16 = 0;
    pub const DEL_PE: u16 = 1;
}

/// Handle Resolution option Items value meaning "as many as possible".
pub const HANDLE_RESOLUTION_ITEMS_ALL: u32 = 0xffff_ffff;
