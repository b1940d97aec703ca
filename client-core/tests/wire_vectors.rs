//! Every message captured from RSPLIB 3.4.4 (`testdata/vectors/`, see
//! `testdata/README.md`) decodes, the fields tshark shows in the `.txt`
//! beside it equal what the decoder returns (parsed automatically from
//! tshark's output, not copied by hand), and every message RSPLIB sent
//! re-encodes to the identical bytes.

use client_core::wire::{self, consts::policy_code, *};

struct Vector {
    name: String,
    bytes: Vec<u8>,
    txt: String,
}

impl Vector {
    /// Whether RSPLIB itself sent it (the `.txt` says "origin: sent by rsplib").
    fn is_from_rsplib(&self) -> bool {
        self.txt
            .lines()
            .any(|l| l.trim() == "origin: sent by rsplib")
    }

    /// The protocol tshark decoded it as (by PPID or UDP port).
    fn protocol(&self) -> Protocol {
        if self
            .txt
            .lines()
            .any(|l| l.starts_with("Endpoint Handlespace Redundancy Protocol"))
        {
            Protocol::Enrp
        } else {
            assert!(
                self.txt
                    .lines()
                    .any(|l| l.starts_with("Aggregate Server Access Protocol")),
                "{}: tshark shows neither ASAP nor ENRP",
                self.name
            );
            Protocol::Asap
        }
    }

    fn tshark_malformed(&self) -> bool {
        self.txt.contains("[Malformed Packet")
    }
}

fn load_vectors() -> Vec<Vector> {
    let v: Vec<Vector> = rserpool_testdata::vectors()
        .into_iter()
        .map(|(name, bytes)| Vector {
            txt: rserpool_testdata::vector_txt(&name),
            name,
            bytes,
        })
        .collect();
    assert!(
        v.len() >= 40,
        "expected the full vector set, found {}",
        v.len()
    );
    v
}

// ---------------------------------------------------------------- tshark side

/// Fields compared, by tshark's label. Parameter Type/Length and Padding are
/// covered by the byte-exact re-encoding instead.
const FIELDS: &[&str] = &[
    "Type",
    "Flags",
    "Length",
    "Sender Server's ID",
    "Receiver Server's ID",
    "Server Identifier",
    "Update Action",
    "Pool Handle",
    "PE Identifier",
    "Home ENRP Server Identifier",
    "Registration Life",
    "Port",
    "Transport Use",
    "IP Version 4 Address",
    "IP Version 6 Address",
    "Policy Type",
    "Policy Weight",
    "Policy Priority",
    "Policy Load",
    "Policy Degradation",
    "Policy Load DPF",
    "Policy Weight DPF",
    "Policy Distance",
    "Cause Code",
    "Cause Length",
    "PE Checksum",
    "Items",
    "Cookie",
];

/// Normalises a tshark value: codes in trailing parentheses win
/// ("Round Robin (RR) (0x00000001)" → "0x00000001", "ASAP Error (14)" → "14"),
/// hex before a readable form ("4563… (EchoPool)" → "4563…"), units dropped.
fn normalise(label: &str, value: &str) -> String {
    let value = value.trim();
    match label {
        "Type" | "Update Action" | "Transport Use" | "Policy Type" | "Cause Code" => {
            let open = value.rfind('(').expect("code in parentheses");
            value[open + 1..value.len() - 1].to_string()
        }
        "Pool Handle" | "Cookie" => value.split(' ').next().unwrap().to_string(),
        "Registration Life" => value.trim_end_matches("ms").to_string(),
        _ => value.to_string(),
    }
}

fn tshark_fields(txt: &str) -> Vec<(String, String)> {
    let body = txt
        .split_once("tshark verbose (ASAP/ENRP layers):")
        .expect("verbose section")
        .1;
    let mut out = Vec::new();
    for line in body.lines() {
        let t = line.trim();
        let Some((label, value)) = t.split_once(": ") else {
            continue;
        };
        if FIELDS.contains(&label) {
            out.push((label.to_string(), normalise(label, value)));
        }
    }
    out
}

// ---------------------------------------------------------------- our side

struct Walk(Vec<(String, String)>);

impl Walk {
    fn f(&mut self, label: &str, value: impl ToString) {
        self.0.push((label.to_string(), value.to_string()));
    }
    fn id(&mut self, label: &str, v: u32) {
        self.f(label, format!("0x{v:08x}"));
    }
    fn handle(&mut self, h: &PoolHandle) {
        self.f("Pool Handle", hex::encode(&h.0));
    }
    fn transport(&mut self, t: &TransportAddress) {
        self.f("Port", t.port);
        if matches!(t.protocol, TransportProtocol::Sctp | TransportProtocol::Tcp) {
            self.f("Transport Use", t.transport_use);
        }
        for a in &t.addresses {
            match a {
                std::net::IpAddr::V4(v4) => self.f("IP Version 4 Address", v4),
                std::net::IpAddr::V6(v6) => self.f("IP Version 6 Address", v6),
            }
        }
    }
    fn policy(&mut self, p: &SelectionPolicy) {
        let (code, words) = wire::policy_words(p);
        self.f("Policy Type", format!("0x{code:08x}"));
        // Value labels as tshark names them; none of the captured pools
        // uses a policy with values, but the walk is complete.
        let labels: &[&str] = match code {
            policy_code::WEIGHTED_ROUND_ROBIN | policy_code::WEIGHTED_RANDOM => &["Policy Weight"],
            policy_code::PRIORITY => &["Policy Priority"],
            policy_code::LEAST_USED | policy_code::RANDOMIZED_LEAST_USED => &["Policy Load"],
            _ => &[],
        };
        for (l, w) in labels.iter().zip(words) {
            self.f(l, w);
        }
    }
    fn element(&mut self, e: &PoolElement) {
        self.id("PE Identifier", e.id.0);
        self.id("Home ENRP Server Identifier", e.home_registrar.0);
        self.f("Registration Life", e.registration_life_ms);
        self.transport(&e.user_transport);
        self.policy(&e.policy);
        if let Some(r) = &e.registrator_transport {
            self.transport(r);
        }
    }
    fn server_info(&mut self, s: &ServerInformation) {
        self.id("Server Identifier", s.server_id.0);
        self.transport(&s.transport);
    }
    fn op_error(&mut self, e: &OperationError) {
        for c in &e.causes {
            self.f("Cause Code", format!("0x{:04x}", c.code.0));
            self.f("Cause Length", 4 + c.info.len());
        }
    }
}

fn walk(m: &Message, flags: u8, length: usize) -> Vec<(String, String)> {
    let mut w = Walk(Vec::new());
    w.f("Type", m.type_code());
    w.f("Flags", format!("0x{flags:02x}"));
    w.f("Length", length);
    match m {
        Message::Asap(a) => match a {
            AsapMessage::Registration(r) => {
                w.handle(&r.pool_handle);
                w.element(&r.pool_element);
            }
            AsapMessage::Deregistration(d) => {
                w.handle(&d.pool_handle);
                w.id("PE Identifier", d.pe_id.0);
            }
            AsapMessage::RegistrationResponse(r) => {
                w.handle(&r.pool_handle);
                w.id("PE Identifier", r.pe_id.0);
                if let Some(e) = &r.error {
                    w.op_error(e);
                }
            }
            AsapMessage::DeregistrationResponse(r) => {
                w.handle(&r.pool_handle);
                w.id("PE Identifier", r.pe_id.0);
                if let Some(e) = &r.error {
                    w.op_error(e);
                }
            }
            AsapMessage::HandleResolution(h) => {
                w.handle(&h.pool_handle);
                if let Some(o) = h.option {
                    w.f("Items", o.items);
                }
            }
            AsapMessage::HandleResolutionResponse(h) => {
                w.handle(&h.pool_handle);
                if let Some(p) = &h.policy {
                    w.policy(p);
                }
                h.elements.iter().for_each(|e| w.element(e));
                if let Some(e) = &h.error {
                    w.op_error(e);
                }
            }
            AsapMessage::EndpointKeepAlive(k) => {
                w.id("Server Identifier", k.server_id.0);
                w.handle(&k.pool_handle);
                if let Some(id) = k.pe_id {
                    w.id("PE Identifier", id.0);
                }
            }
            AsapMessage::EndpointKeepAliveAck(k) => {
                w.handle(&k.pool_handle);
                w.id("PE Identifier", k.pe_id.0);
            }
            AsapMessage::EndpointUnreachable(k) => {
                w.handle(&k.pool_handle);
                w.id("PE Identifier", k.pe_id.0);
            }
            AsapMessage::ServerAnnounce(s) => {
                w.id("Server Identifier", s.server_id.0);
                s.transports.iter().for_each(|t| w.transport(t));
            }
            AsapMessage::Cookie(c) | AsapMessage::CookieEcho(c) => w.f("Cookie", hex::encode(&c.0)),
            AsapMessage::BusinessCard(b) => {
                w.handle(&b.pool_handle);
                if let Some(p) = &b.policy {
                    w.policy(p);
                }
                b.elements.iter().for_each(|e| w.element(e));
            }
            AsapMessage::Error(e) => w.op_error(e),
            AsapMessage::Unknown(_) => {}
        },
        Message::Enrp(e) => {
            let ids = |w: &mut Walk, s: ServerId, r: ServerId| {
                w.id("Sender Server's ID", s.0);
                w.id("Receiver Server's ID", r.0);
            };
            match e {
                EnrpMessage::Presence(p) => {
                    ids(&mut w, p.sender, p.receiver);
                    w.f("PE Checksum", format!("0x{:04x}", p.checksum));
                    if let Some(s) = &p.server_info {
                        w.server_info(s);
                    }
                }
                EnrpMessage::HandleTableRequest(r) => ids(&mut w, r.sender, r.receiver),
                EnrpMessage::HandleTableResponse(r) => {
                    ids(&mut w, r.sender, r.receiver);
                    for p in &r.pools {
                        w.handle(&p.pool_handle);
                        p.elements.iter().for_each(|e| w.element(e));
                    }
                }
                EnrpMessage::HandleUpdate(u) => {
                    ids(&mut w, u.sender, u.receiver);
                    w.f("Update Action", u.update_action);
                    w.handle(&u.pool_handle);
                    w.element(&u.pool_element);
                }
                EnrpMessage::ListRequest(r) => ids(&mut w, r.sender, r.receiver),
                EnrpMessage::ListResponse(r) => {
                    ids(&mut w, r.sender, r.receiver);
                    r.servers.iter().for_each(|s| w.server_info(s));
                }
                EnrpMessage::InitTakeover(t)
                | EnrpMessage::InitTakeoverAck(t)
                | EnrpMessage::TakeoverServer(t) => ids(&mut w, t.sender, t.receiver),
                EnrpMessage::Error(x) => {
                    ids(&mut w, x.sender, x.receiver);
                    w.op_error(&x.error);
                }
                EnrpMessage::Unknown(_) => {}
            }
        }
    }
    w.0
}

/// Probes crafted to be malformed, and the typed error each must produce.
/// Classification only: the values in the error come from the decoder.
fn expected_failure(name: &str) -> Option<fn(&DecodeErrorKind) -> bool> {
    match name {
        // Pool Handle with Length 255 in a 16-byte message.
        "probe-asap-handle-resolution-5" => {
            Some(|k| matches!(k, DecodeErrorKind::ParameterOverrun { length: 255, .. }))
        }
        // Message Length 64 on a 16-byte message.
        "probe-asap-handle-resolution-4" => Some(|k| {
            matches!(
                k,
                DecodeErrorKind::MessageTruncated {
                    length: 64,
                    available: 16
                }
            )
        }),
        // Unknown parameter 0x7123 (action bits 01: stop and report) first.
        "probe-asap-handle-resolution-6" => Some(|k| {
            matches!(k, DecodeErrorKind::UnrecognizedParameter {
                action: UnrecognizedAction::StopAndReport,
                tlv,
            } if tlv == &[0x71, 0x23, 0x00, 0x04])
        }),
        // A Registration without its Pool Element parameter.
        "probe-asap-registration-1" => Some(|k| {
            matches!(
                k,
                DecodeErrorKind::MissingParameter {
                    expected: consts::param_type::POOL_ELEMENT
                }
            )
        }),
        // An ASAP Handle Resolution sent with the ENRP PPID: as ENRP it is a
        // List Request whose last 4 bytes ("Pool") are a bogus parameter.
        "probe-enrp-list-request-1" => Some(|k| {
            matches!(
                k,
                DecodeErrorKind::ParameterOverrun {
                    length: 0x6f6c,
                    available: 4
                }
            )
        }),
        _ => None,
    }
}

#[test]
fn every_vector_decodes_and_matches_tshark() {
    let mut failures = Vec::new();
    let mut refused = 0;
    for v in load_vectors() {
        let decoded = wire::decode(v.protocol(), &v.bytes);
        if let Some(check) = expected_failure(&v.name) {
            match decoded {
                Err(e) if check(&e.kind) => {
                    refused += 1;
                    continue;
                }
                other => {
                    failures.push(format!(
                        "{}: expected a specific error, got {other:?}",
                        v.name
                    ));
                    continue;
                }
            }
        }
        let d = match decoded {
            Ok(d) => d,
            Err(e) => {
                failures.push(format!("{}: {e}", v.name));
                continue;
            }
        };
        let declared = usize::from(u16::from_be_bytes([v.bytes[2], v.bytes[3]]));
        let ours = walk(&d.message, v.bytes[1], declared);
        let theirs = tshark_fields(&v.txt);
        if ours != theirs {
            failures.push(format!(
                "{}: fields differ\n  ours:   {ours:?}\n  tshark: {theirs:?}",
                v.name
            ));
        }
        // tshark also flags RSPLIB's own cause-3 errors without info as
        // malformed; only crafted probes must be refused.
        if v.tshark_malformed() && !v.is_from_rsplib() {
            failures.push(format!(
                "{}: tshark says malformed but we decoded it",
                v.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(refused, 5, "every listed malformed probe was seen");
}

#[test]
fn every_rsplib_message_reencodes_byte_for_byte() {
    let mut n = 0;
    for v in load_vectors().into_iter().filter(Vector::is_from_rsplib) {
        let d = wire::decode(v.protocol(), &v.bytes).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        assert_eq!(
            hex::encode(d.message.to_bytes()),
            hex::encode(&v.bytes),
            "{} re-encodes differently",
            v.name
        );
        assert!(
            d.skipped.is_empty(),
            "{}: RSPLIB sent skippable parameters",
            v.name
        );
        n += 1;
    }
    assert!(n >= 30, "only {n} RSPLIB vectors found");
}

#[test]
fn encoded_flags_and_length_match_the_captured_header() {
    for v in load_vectors().into_iter().filter(Vector::is_from_rsplib) {
        let d = wire::decode(v.protocol(), &v.bytes).unwrap();
        let bytes = d.message.to_bytes();
        assert_eq!(bytes[..4], v.bytes[..4], "{}", v.name);
    }
}
