//! ASAP/ENRP messages out of packet captures (pcap and pcapng).
//!
//! Walks link layer → IPv4/IPv6 → SCTP (common header, bundled chunks, DATA
//! chunks with fragments reassembled) or UDP, and yields one
//! [`CapturedMessage`] per ASAP/ENRP user message. Which protocol a payload
//! is follows RSPLIB and Wireshark: the PPID decides (11 = ASAP, 12 = ENRP,
//! docs/rsplib-wire.md, "The PPID decides the protocol"); payloads with PPID 0 ("unspecified") are ASAP/ENRP
//! when they travel to or from the ASAP (3863) or ENRP (9901) port, which is
//! how a probe's "Handle Resolution with PPID 0" is still shown. UDP datagrams to or
//! from 3863/9901 are announces (ASAP Server Announce, ENRP Presence).
//! Everything else (application data between PU and PE) is counted as
//! skipped.

use std::collections::HashMap;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use client_core::wire::consts::{ASAP_PORT, ENRP_PORT};
use client_core::wire::Protocol;
use pcap_parser::pcapng::Block;
use pcap_parser::{create_reader, Linktype, PcapBlockOwned, PcapError};

/// Transport a message arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Sctp,
    Udp,
}

/// One ASAP/ENRP message found in a capture.
#[derive(Clone, Debug, PartialEq)]
pub struct CapturedMessage {
    /// 1-based frame number, as Wireshark counts.
    pub frame: u64,
    /// Seconds since the first frame.
    pub time: f64,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub transport: Transport,
    /// SCTP PPID; `None` for UDP.
    pub ppid: Option<u32>,
    pub stream: Option<u16>,
    pub protocol: Protocol,
    pub bytes: Vec<u8>,
}

/// What a capture held.
#[derive(Debug, Default)]
pub struct CaptureContents {
    pub frames: u64,
    pub messages: Vec<CapturedMessage>,
    /// SCTP user messages that are not ASAP/ENRP (application data).
    pub skipped_payloads: u64,
    /// Frames whose link type or network layer this reader does not handle.
    pub unsupported_frames: u64,
}

/// Errors reading a capture file.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a pcap or pcapng file ({reason})")]
    NotACapture { path: String, reason: String },
    #[error("{path}: damaged capture after frame {frame} ({reason})")]
    Damaged {
        path: String,
        frame: u64,
        reason: String,
    },
    /// What a message was handed to failed (e.g. writing it out).
    #[error("writing the decoded messages: {0}")]
    Output(#[source] std::io::Error),
}

/// Read every ASAP/ENRP message of a capture file.
pub fn read_capture(path: &Path) -> Result<CaptureContents, CaptureError> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|source| CaptureError::Open {
        path: shown.clone(),
        source,
    })?;
    let mut messages = Vec::new();
    let mut contents = stream_capture(&shown, file, |m| {
        messages.push(m);
        Ok(())
    })?;
    contents.messages = messages;
    Ok(contents)
}

/// Reads a capture from `input` (a file, or a pipe such as `tcpdump -w -`)
/// and hands each ASAP/ENRP message to `each` as soon as its frame is read,
/// so a live capture is decoded while it runs. `shown` names the input in
/// errors. The returned counts have no messages (they went to `each`).
pub fn stream_capture(
    shown: &str,
    input: impl std::io::Read + Send,
    mut each: impl FnMut(CapturedMessage) -> std::io::Result<()>,
) -> Result<CaptureContents, CaptureError> {
    let shown = shown.to_string();
    // A read returns what a pipe holds, so the buffer's size delays
    // nothing; 1 MiB holds any block.
    let mut reader = create_reader(1 << 20, input).map_err(|e| CaptureError::NotACapture {
        path: shown.clone(),
        reason: format!("{e:?}"),
    })?;
    let mut walker = Walker::default();
    let mut linktypes: Vec<Linktype> = Vec::new();
    let mut legacy_linktype = Linktype::ETHERNET;
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => legacy_linktype = h.network,
                    PcapBlockOwned::Legacy(b) => {
                        let t = f64::from(b.ts_sec) + f64::from(b.ts_usec) / 1e6;
                        walker.frame(legacy_linktype, b.data, t);
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => linktypes.clear(),
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        linktypes.push(idb.linktype)
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let lt = linktypes
                            .get(epb.if_id as usize)
                            .copied()
                            .unwrap_or(Linktype::ETHERNET);
                        // Default pcapng resolution: microseconds.
                        let ts = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        walker.frame(lt, epb.data, ts as f64 / 1e6);
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        let lt = linktypes.first().copied().unwrap_or(Linktype::ETHERNET);
                        walker.frame(lt, spb.data, 0.0);
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                reader.consume(offset);
                for m in walker.contents.messages.drain(..) {
                    each(m).map_err(CaptureError::Output)?;
                }
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                reader.refill().map_err(|e| CaptureError::Damaged {
                    path: shown.clone(),
                    frame: walker.contents.frames,
                    reason: format!("{e:?}"),
                })?;
            }
            Err(e) => {
                return Err(CaptureError::Damaged {
                    path: shown,
                    frame: walker.contents.frames,
                    reason: format!("{e:?}"),
                })
            }
        }
    }
    Ok(walker.contents)
}

/// Key of an SCTP stream whose fragments are being joined.
type StreamKey = (SocketAddr, SocketAddr, u16);

/// A user message under reassembly (RFC 9260 §6.9: B/E bits, consecutive TSNs).
struct Fragments {
    ppid: u32,
    next_tsn: u32,
    data: Vec<u8>,
}

/// Frame-by-frame state.
#[derive(Default)]
pub(crate) struct Walker {
    pub(crate) contents: CaptureContents,
    first_time: Option<f64>,
    fragments: HashMap<StreamKey, Fragments>,
}

impl Walker {
    /// Feed one frame of the given link type.
    pub(crate) fn frame(&mut self, linktype: Linktype, data: &[u8], time: f64) {
        self.contents.frames += 1;
        let first = *self.first_time.get_or_insert(time);
        let frame = self.contents.frames;
        let rel = time - first;
        match network_layer(linktype, data).and_then(|(ethertype, l3)| ip_payload(ethertype, l3)) {
            Some(ip) => self.transport(frame, rel, ip),
            None => self.contents.unsupported_frames += 1,
        }
    }

    fn transport(&mut self, frame: u64, time: f64, ip: IpPayload<'_>) {
        match ip.protocol {
            132 => self.sctp(frame, time, &ip),
            17 => self.udp(frame, time, &ip),
            _ => {}
        }
    }

    fn udp(&mut self, frame: u64, time: f64, ip: &IpPayload<'_>) {
        let d = ip.payload;
        if d.len() < 8 {
            return;
        }
        let sport = u16::from_be_bytes([d[0], d[1]]);
        let dport = u16::from_be_bytes([d[2], d[3]]);
        let Some(protocol) = protocol_by_port(sport, dport) else {
            return;
        };
        // UDP length covers header + payload; trust the smaller of it and
        // what was captured.
        let ulen = usize::from(u16::from_be_bytes([d[4], d[5]])).clamp(8, d.len());
        self.contents.messages.push(CapturedMessage {
            frame,
            time,
            src: SocketAddr::new(ip.src, sport),
            dst: SocketAddr::new(ip.dst, dport),
            transport: Transport::Udp,
            ppid: None,
            stream: None,
            protocol,
            bytes: d[8..ulen].to_vec(),
        });
    }

    fn sctp(&mut self, frame: u64, time: f64, ip: &IpPayload<'_>) {
        let d = ip.payload;
        if d.len() < 12 {
            return;
        }
        let sport = u16::from_be_bytes([d[0], d[1]]);
        let dport = u16::from_be_bytes([d[2], d[3]]);
        let src = SocketAddr::new(ip.src, sport);
        let dst = SocketAddr::new(ip.dst, dport);
        let mut rest = &d[12..];
        // Chunks are bundled back to back, each padded to 4 bytes.
        while rest.len() >= 4 {
            let ctype = rest[0];
            let cflags = rest[1];
            let clen = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
            if clen < 4 || clen > rest.len() {
                break;
            }
            let chunk = &rest[..clen];
            // DATA chunk (type 0): TSN, stream id, SSN, PPID, user data.
            if ctype == 0 && clen >= 16 {
                let tsn = u32::from_be_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]);
                let stream = u16::from_be_bytes([chunk[8], chunk[9]]);
                let ppid = u32::from_be_bytes([chunk[12], chunk[13], chunk[14], chunk[15]]);
                let data = &chunk[16..];
                let begin = cflags & 0x02 != 0;
                let end = cflags & 0x01 != 0;
                if let Some(whole) =
                    self.reassemble((src, dst, stream), tsn, ppid, begin, end, data)
                {
                    self.user_message(frame, time, src, dst, stream, whole.0, whole.1);
                }
            }
            let padded = (clen + 3) & !3;
            rest = rest.get(padded..).unwrap_or(&[]);
        }
    }

    /// Returns a complete user message (PPID, bytes) once its last fragment
    /// is in. Out-of-order or missing fragments drop the partial message.
    fn reassemble(
        &mut self,
        key: StreamKey,
        tsn: u32,
        ppid: u32,
        begin: bool,
        end: bool,
        data: &[u8],
    ) -> Option<(u32, Vec<u8>)> {
        match (begin, end) {
            (true, true) => Some((ppid, data.to_vec())),
            (true, false) => {
                self.fragments.insert(
                    key,
                    Fragments {
                        ppid,
                        next_tsn: tsn.wrapping_add(1),
                        data: data.to_vec(),
                    },
                );
                None
            }
            (false, _) => {
                let f = self.fragments.get_mut(&key)?;
                if f.next_tsn != tsn {
                    // A retransmitted middle piece or a gap: ignore it.
                    return None;
                }
                f.data.extend_from_slice(data);
                f.next_tsn = tsn.wrapping_add(1);
                if end {
                    let f = self.fragments.remove(&key)?;
                    Some((f.ppid, f.data))
                } else {
                    None
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn user_message(
        &mut self,
        frame: u64,
        time: f64,
        src: SocketAddr,
        dst: SocketAddr,
        stream: u16,
        ppid: u32,
        bytes: Vec<u8>,
    ) {
        // PPID 0 is "unspecified" (RFC 9260 §3.3.1): then the well-known
        // port decides, as Wireshark does. Any other PPID names some other
        // protocol (application data), even on the ASAP port.
        let protocol = match ppid {
            0 => protocol_by_port(src.port(), dst.port()),
            p => Protocol::from_ppid(p),
        };
        match protocol {
            Some(protocol) => self.contents.messages.push(CapturedMessage {
                frame,
                time,
                src,
                dst,
                transport: Transport::Sctp,
                ppid: Some(ppid),
                stream: Some(stream),
                protocol,
                bytes,
            }),
            None => self.contents.skipped_payloads += 1,
        }
    }
}

/// ASAP or ENRP by well-known port (either direction).
fn protocol_by_port(sport: u16, dport: u16) -> Option<Protocol> {
    if sport == ASAP_PORT || dport == ASAP_PORT {
        Some(Protocol::Asap)
    } else if sport == ENRP_PORT || dport == ENRP_PORT {
        Some(Protocol::Enrp)
    } else {
        None
    }
}

/// Strip the link layer: returns (ethertype, network-layer bytes).
fn network_layer(linktype: Linktype, data: &[u8]) -> Option<(u16, &[u8])> {
    match linktype {
        Linktype::ETHERNET => {
            let mut ethertype = u16::from_be_bytes([*data.get(12)?, *data.get(13)?]);
            let mut at = 14;
            // 802.1Q / 802.1ad VLAN tags.
            while ethertype == 0x8100 || ethertype == 0x88a8 {
                ethertype = u16::from_be_bytes([*data.get(at + 2)?, *data.get(at + 3)?]);
                at += 4;
            }
            Some((ethertype, data.get(at..)?))
        }
        // Linux cooked capture v1: 16-byte header, protocol at 14.
        Linktype::LINUX_SLL => Some((
            u16::from_be_bytes([*data.get(14)?, *data.get(15)?]),
            data.get(16..)?,
        )),
        // Linux cooked capture v2: 20-byte header, protocol at 0.
        Linktype::LINUX_SLL2 => Some((
            u16::from_be_bytes([*data.first()?, *data.get(1)?]),
            data.get(20..)?,
        )),
        // BSD loopback: 4-byte address family in host order of the writer.
        Linktype::NULL | Linktype::LOOP => {
            let v = data.get(..4)?;
            let family =
                u32::from_le_bytes(v.try_into().ok()?).min(u32::from_be_bytes(v.try_into().ok()?));
            let ethertype = if family == 2 { 0x0800 } else { 0x86dd };
            Some((ethertype, data.get(4..)?))
        }
        // Raw IP: the version nibble says which.
        Linktype::RAW | Linktype::IPV4 | Linktype::IPV6 | Linktype(12) | Linktype(14) => {
            let ethertype = if data.first()? >> 4 == 4 {
                0x0800
            } else {
                0x86dd
            };
            Some((ethertype, data))
        }
        _ => None,
    }
}

struct IpPayload<'a> {
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    payload: &'a [u8],
}

/// The transport payload of an IPv4 or IPv6 packet. IP fragments other than
/// the first are not reassembled (RSerPool messages are far below the MTU on
/// the captured paths; SCTP fragments at its own layer instead).
fn ip_payload(ethertype: u16, p: &[u8]) -> Option<IpPayload<'_>> {
    match ethertype {
        0x0800 => {
            let ihl = usize::from(p.first()? & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*p.get(2)?, *p.get(3)?]));
            let frag = u16::from_be_bytes([*p.get(6)?, *p.get(7)?]);
            if frag & 0x1fff != 0 {
                return None;
            }
            let src: [u8; 4] = p.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = p.get(16..20)?.try_into().ok()?;
            let end = total.clamp(ihl, p.len());
            Some(IpPayload {
                src: IpAddr::V4(Ipv4Addr::from(src)),
                dst: IpAddr::V4(Ipv4Addr::from(dst)),
                protocol: *p.get(9)?,
                payload: p.get(ihl..end)?,
            })
        }
        0x86dd => {
            let plen = usize::from(u16::from_be_bytes([*p.get(4)?, *p.get(5)?]));
            let mut next = *p.get(6)?;
            let src: [u8; 16] = p.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = p.get(24..40)?.try_into().ok()?;
            let end = (40 + plen).min(p.len());
            let mut at = 40;
            // Hop-by-hop, routing, destination options: skip; fragment: give up
            // unless it is the first fragment of an unfragmented packet.
            loop {
                match next {
                    0 | 43 | 60 => {
                        next = *p.get(at)?;
                        at += (usize::from(*p.get(at + 1)?) + 1) * 8;
                    }
                    44 => {
                        let off = u16::from_be_bytes([*p.get(at + 2)?, *p.get(at + 3)?]);
                        if off & 0xfff9 != 0 {
                            return None;
                        }
                        next = *p.get(at)?;
                        at += 8;
                    }
                    _ => break,
                }
            }
            Some(IpPayload {
                src: IpAddr::V6(Ipv6Addr::from(src)),
                dst: IpAddr::V6(Ipv6Addr::from(dst)),
                protocol: next,
                payload: p.get(at..end)?,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0, 10, 1, 0, 3, 10, 1, 0, 3,
        ];
        let total = (20 + payload.len()) as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }

    fn ether(l3: &[u8], ethertype: u16) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(l3);
        f
    }

    fn data_chunk(flags: u8, tsn: u32, ppid: u32, data: &[u8]) -> Vec<u8> {
        let mut c = vec![0, flags, 0, 0];
        c.extend_from_slice(&tsn.to_be_bytes());
        c.extend_from_slice(&0u16.to_be_bytes());
        c.extend_from_slice(&0u16.to_be_bytes());
        c.extend_from_slice(&ppid.to_be_bytes());
        c.extend_from_slice(data);
        let len = c.len() as u16;
        c[2..4].copy_from_slice(&len.to_be_bytes());
        while c.len() % 4 != 0 {
            c.push(0);
        }
        c
    }

    fn sctp(sport: u16, dport: u16, chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut s = sport.to_be_bytes().to_vec();
        s.extend_from_slice(&dport.to_be_bytes());
        s.extend_from_slice(&[0; 8]);
        for c in chunks {
            s.extend_from_slice(c);
        }
        s
    }

    #[test]
    fn bundled_data_chunks_yield_one_message_each_and_skip_app_data() {
        let pkt = sctp(
            40000,
            3863,
            &[
                vec![3, 0, 0, 4], // a SACK-like chunk with a 4-byte length
                data_chunk(3, 1, 11, &[5, 0, 0, 4]),
                data_chunk(3, 2, 12, &[1, 0, 0, 4, 9]),
            ],
        );
        let mut w = Walker::default();
        w.frame(Linktype::ETHERNET, &ether(&ipv4(132, &pkt), 0x0800), 1.0);
        let m = &w.contents.messages;
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[0].ppid, m[0].protocol, m[0].bytes.as_slice()),
            (Some(11), Protocol::Asap, &[5, 0, 0, 4][..])
        );
        assert_eq!(
            (m[1].ppid, m[1].protocol, m[1].bytes.len()),
            (Some(12), Protocol::Enrp, 5)
        );

        let app = sctp(40000, 40001, &[data_chunk(3, 9, 0, b"hello")]);
        w.frame(Linktype::ETHERNET, &ether(&ipv4(132, &app), 0x0800), 2.0);
        assert_eq!(w.contents.messages.len(), 2);
        assert_eq!(w.contents.skipped_payloads, 1);
    }

    #[test]
    fn fragments_are_reassembled_by_tsn() {
        let mut w = Walker::default();
        let parts = [(2u8, 10u32, &b"abc"[..]), (0, 11, b"def"), (1, 12, b"g")];
        for (flags, tsn, data) in parts {
            let pkt = sctp(3863, 50000, &[data_chunk(flags, tsn, 11, data)]);
            w.frame(Linktype::ETHERNET, &ether(&ipv4(132, &pkt), 0x0800), 0.0);
        }
        assert_eq!(w.contents.messages.len(), 1);
        assert_eq!(w.contents.messages[0].bytes, b"abcdefg");
        assert_eq!(w.contents.messages[0].frame, 3);
    }

    #[test]
    fn udp_announces_are_recognised_by_port() {
        let mut udp = 3863u16.to_be_bytes().to_vec();
        udp.extend_from_slice(&3863u16.to_be_bytes());
        udp.extend_from_slice(&16u16.to_be_bytes());
        udp.extend_from_slice(&[0, 0, 0x0a, 0, 0, 8, 0x10, 0, 0, 1]);
        let mut w = Walker::default();
        w.frame(Linktype::ETHERNET, &ether(&ipv4(17, &udp), 0x0800), 0.0);
        let m = &w.contents.messages[0];
        assert_eq!(
            (m.transport, m.ppid, m.protocol),
            (Transport::Udp, None, Protocol::Asap)
        );
        assert_eq!(m.bytes, vec![0x0a, 0, 0, 8, 0x10, 0, 0, 1]);
    }

    /// Linux cooked capture v1 (link type 113): packet type, ARPHRD type,
    /// address length, 8 address bytes, protocol; 16 bytes.
    fn sll(l3: &[u8], ethertype: u16) -> Vec<u8> {
        let mut f = vec![0, 0, 0x03, 0x04, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(l3);
        f
    }

    /// Linux cooked capture v2 (link type 276, what `tcpdump -i any`
    /// writes): protocol, reserved, interface index, ARPHRD type, packet
    /// type, address length, 8 address bytes; 20 bytes.
    fn sll2(l3: &[u8], ethertype: u16) -> Vec<u8> {
        let mut f = ethertype.to_be_bytes().to_vec();
        f.extend_from_slice(&[0, 0, 0, 0, 0, 1, 0x03, 0x04, 0, 6]);
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(l3);
        f
    }

    #[test]
    fn linux_cooked_frames_of_an_any_interface_capture_yield_their_messages() {
        let eu = [0x09, 0, 0, 4];
        let pkt = sctp(40000, 3863, &[data_chunk(3, 1, 11, &eu)]);
        let mut w = Walker::default();
        w.frame(Linktype::LINUX_SLL, &sll(&ipv4(132, &pkt), 0x0800), 0.0);
        w.frame(Linktype::LINUX_SLL2, &sll2(&ipv4(132, &pkt), 0x0800), 0.1);
        // An ARP frame on the same interface is no IP: not counted as one.
        w.frame(Linktype::LINUX_SLL2, &sll2(&[0; 28], 0x0806), 0.2);
        let m = &w.contents.messages;
        assert_eq!(m.len(), 2);
        for m in m {
            assert_eq!((m.protocol, m.ppid), (Protocol::Asap, Some(11)));
            assert_eq!(m.bytes, eu);
            assert_eq!(m.dst, "10.1.0.3:3863".parse().unwrap());
        }
        assert_eq!(w.contents.unsupported_frames, 1);
    }

    #[test]
    fn truncated_and_foreign_frames_never_panic() {
        let mut w = Walker::default();
        for len in 0..80 {
            let pkt = sctp(1, 3863, &[data_chunk(3, 1, 11, &[5, 0, 0, 4])]);
            let f = ether(&ipv4(132, &pkt), 0x0800);
            w.frame(Linktype::ETHERNET, &f[..len.min(f.len())], 0.0);
            w.frame(Linktype::LINUX_SLL, &f[..len.min(f.len())], 0.0);
            w.frame(Linktype::LINUX_SLL2, &f[..len.min(f.len())], 0.0);
            w.frame(Linktype(9999), &f, 0.0);
        }
        assert!(w.contents.unsupported_frames > 0);
    }
}
