//! One-to-one SCTP sockets driven by tokio's `AsyncFd`.

use std::io;
use std::mem::zeroed;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Mutex;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use crate::cmsg::{self, ControlBuf, SOL_SCTP};
use crate::error::{CloseReason, SctpError};
use crate::notification::{AssocChangeState, Notification};

/// Linux `SCTP_SOCKOPT_BINDX_ADD` (uapi linux/sctp.h; not exported by libc).
const SCTP_SOCKOPT_BINDX_ADD: libc::c_int = 100;
/// Linux `SCTP_SOCKOPT_CONNECTX` (uapi linux/sctp.h; not exported by libc):
/// the kernel side of `sctp_connectx()`, returning the association id.
const SCTP_SOCKOPT_CONNECTX: libc::c_int = 110;
/// Linux `SCTP_EVENTS`: the classic per-socket event subscription.
const SCTP_EVENTS: libc::c_int = 11;

/// Largest user message [`SctpAssociation::recv`] reassembles. RSPLIB reads
/// at most 64 KiB of ASAP (`ASAP_BUFFER_SIZE`); application data may be
/// larger, so allow some room.
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 1 << 20;

/// Size of one `recvmsg()` read; partial deliveries are joined.
const READ_CHUNK: usize = 65536;

/// One complete SCTP user message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SctpMessage {
    /// Payload protocol identifier, in host order (11 = ASAP, 12 = ENRP).
    pub ppid: u32,
    /// SCTP stream the message arrived on.
    pub stream: u16,
    pub data: Vec<u8>,
}

/// What a receive produced: data or a transport notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    Message(SctpMessage),
    Notification(Notification),
}

/// True if this kernel can create SCTP sockets.
pub fn kernel_has_sctp() -> bool {
    match Socket::new(
        Domain::IPV4,
        Type::STREAM,
        Some(Protocol::from(libc::IPPROTO_SCTP)),
    ) {
        Ok(_) => true,
        Err(e) => !SctpError::from_socket_error(e).is_no_kernel_support(),
    }
}

fn io_err(op: &'static str) -> impl FnOnce(io::Error) -> SctpError {
    move |source| SctpError::Io { op, source }
}

fn setsockopt_bytes(sock: &Socket, name: libc::c_int, value: &[u8]) -> io::Result<libc::c_int> {
    // SAFETY: `value` is a valid buffer of the length given.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            SOL_SCTP,
            name,
            value.as_ptr().cast(),
            value.len() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn setsockopt_int(sock: &Socket, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    setsockopt_bytes(sock, name, &value.to_ne_bytes()).map(|_| ())
}

fn domain_for(addrs: &[SocketAddr]) -> Result<Domain, SctpError> {
    if addrs.is_empty() {
        return Err(SctpError::NoAddress);
    }
    if addrs.iter().all(|a| a.is_ipv4()) {
        Ok(Domain::IPV4)
    } else {
        // An IPv6 SCTP socket also takes IPv4 addresses (RFC 6458 §3.1.1),
        // so a PE registered with both families (RSPLIB PEs register
        // every local address) is reached over all of them.
        Ok(Domain::IPV6)
    }
}

/// Create and configure a one-to-one SCTP socket.
fn new_socket(domain: Domain) -> Result<Socket, SctpError> {
    let sock = Socket::new(
        domain,
        Type::STREAM,
        Some(Protocol::from(libc::IPPROTO_SCTP)),
    )
    .map_err(SctpError::from_socket_error)?;
    configure(&sock)?;
    Ok(sock)
}

fn configure(sock: &Socket) -> Result<(), SctpError> {
    sock.set_nonblocking(true)
        .map_err(io_err("set O_NONBLOCK"))?;
    // SCTP_RCVINFO with every message: that is where the PPID is (RFC 6458 §8.1.29).
    setsockopt_int(sock, libc::SCTP_RECVRCVINFO, 1)
        .map_err(io_err("setsockopt(SCTP_RECVRCVINFO)"))?;
    // Request/response traffic: send at once, as RSPLIB does.
    setsockopt_int(sock, libc::SCTP_NODELAY, 1).map_err(io_err("setsockopt(SCTP_NODELAY)"))?;
    // struct sctp_event_subscribe is one byte per event: data_io, association,
    // address, send_failure, peer_error, shutdown, ... (RFC 6458 §6.2.1). A
    // shorter option is accepted, so only the fields needed are sent.
    let events = [0u8, 1, 1, 0, 1, 1];
    setsockopt_bytes(sock, SCTP_EVENTS, &events).map_err(io_err("setsockopt(SCTP_EVENTS)"))?;
    Ok(())
}

fn describe(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Hand a socket to tokio's reactor.
fn register(sock: Socket) -> Result<AsyncFd<Socket>, SctpError> {
    // SAFETY: `Socket` owns its file descriptor; nothing else closes or
    // replaces it while the AsyncFd holds it.
    unsafe { AsyncFd::register(sock) }.map_err(|e| io_err("register with tokio")(e.into()))
}

/// Message being reassembled from partial deliveries.
#[derive(Default)]
struct Partial {
    data: Vec<u8>,
    notification: Vec<u8>,
    info: Option<cmsg::RcvInfo>,
}

/// A one-to-one SCTP association (`SOCK_STREAM`, `IPPROTO_SCTP`).
///
/// `send` and `recv` take `&self`, so one task may send while another
/// receives (share it in an `Arc`). Only one task should receive at a time.
pub struct SctpAssociation {
    fd: AsyncFd<Socket>,
    partial: Mutex<Partial>,
    /// A message that arrived while the connect was being finished.
    early: Mutex<Vec<SctpMessage>>,
    /// The `recvmsg()` buffer, allocated once: a fresh zeroed 64 KiB per
    /// read (two reads per message: the second one finds nothing) cost
    /// more than the rest of a resolution under emulation (BENCHMARKS.md,
    /// "Our pool user against RSPLIB's own").
    scratch: Mutex<Box<[u8]>>,
    max_message_len: usize,
}

impl std::fmt::Debug for SctpAssociation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SctpAssociation")
            .field("fd", &self.fd.get_ref().as_raw_fd())
            .finish()
    }
}

impl SctpAssociation {
    fn from_socket(sock: Socket) -> Result<Self, SctpError> {
        Ok(SctpAssociation {
            fd: register(sock)?,
            partial: Mutex::new(Partial::default()),
            early: Mutex::new(Vec::new()),
            scratch: Mutex::new(vec![0u8; READ_CHUNK].into_boxed_slice()),
            max_message_len: DEFAULT_MAX_MESSAGE_LEN,
        })
    }

    /// Connect to a peer reachable at all of `addrs` (the addresses of one
    /// multi-homed endpoint, same port), like `sctp_connectx()`.
    ///
    /// Uses `SCTP_SOCKOPT_CONNECTX` so that the INIT lists every address and
    /// the association survives the loss of a path; if the kernel refuses
    /// that option it falls back to `connect()` on the first address. Wrap in
    /// `tokio::time::timeout` for a connect timeout (RSPLIB uses 5 s towards
    /// PEs, rsplib src/sessioncontrol.c).
    pub async fn connect(addrs: &[SocketAddr]) -> Result<Self, SctpError> {
        Self::connect_from(None, addrs).await
    }

    /// [`connect`](Self::connect) from one local address only (port 0 =
    /// any port): the association then lists just that address, which is
    /// what a registrar sees as the peer's addresses (RSPLIB filters a
    /// PE's registered addresses against them; docs/rsplib-wire.md, "Addresses").
    pub async fn connect_from(
        local: Option<SocketAddr>,
        addrs: &[SocketAddr],
    ) -> Result<Self, SctpError> {
        let domain = domain_for(addrs)?;
        let sock = new_socket(domain)?;
        let peer = describe(addrs);
        if let Some(local) = local {
            sock.bind(&SockAddr::from(local))
                .map_err(|source| SctpError::Bind {
                    addr: local.to_string(),
                    source,
                })?;
        }
        let packed = cmsg::pack_addresses(addrs);
        match setsockopt_bytes(&sock, SCTP_SOCKOPT_CONNECTX, &packed) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOPROTOOPT) | Some(libc::EOPNOTSUPP)
                ) =>
            {
                match sock.connect(&SockAddr::from(addrs[0])) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                    Err(source) => return Err(SctpError::Connect { peer, source }),
                }
            }
            Err(source) => return Err(SctpError::Connect { peer, source }),
        }
        let assoc = Self::from_socket(sock)?;
        assoc.finish_connect(&peer).await?;
        Ok(assoc)
    }

    /// Wait for a non-blocking connect to end. A one-to-one SCTP socket
    /// whose association failed is never writable (sctp_poll returns early
    /// for a closed TCP-style socket); what arrives instead is SO_ERROR
    /// and/or the SCTP_ASSOC_CHANGE notification (CANT_STR_ASSOC) we
    /// subscribed to. So wait for any readiness and look at each.
    async fn finish_connect(&self, peer: &str) -> Result<(), SctpError> {
        let refused = |reason: CloseReason| SctpError::Connect {
            peer: peer.to_string(),
            source: io::Error::new(io::ErrorKind::ConnectionRefused, reason.to_string()),
        };
        loop {
            let mut guard = self
                .fd
                .ready(Interest::READABLE | Interest::WRITABLE | Interest::ERROR)
                .await
                .map_err(io_err("wait for connect"))?;
            let ready = guard.ready();
            if let Some(source) = self.fd.get_ref().take_error().map_err(io_err("SO_ERROR"))? {
                return Err(SctpError::Connect {
                    peer: peer.to_string(),
                    source,
                });
            }
            if ready.is_readable() || ready.is_read_closed() {
                match self.recv_piece(self.fd.get_ref()) {
                    Ok(piece) => {
                        let mut partial = self.partial.lock().unwrap_or_else(|p| p.into_inner());
                        match reassemble(&mut partial, piece, self.max_message_len) {
                            Ok(Some(Received::Notification(n))) => {
                                if let Some(reason) = closing_reason(&n) {
                                    return Err(refused(reason));
                                }
                                if matches!(
                                    n,
                                    Notification::AssocChange {
                                        state: AssocChangeState::CommUp,
                                        ..
                                    }
                                ) {
                                    return Ok(());
                                }
                            }
                            // Data can only come on an established association.
                            Ok(Some(Received::Message(m))) => {
                                self.early.lock().unwrap_or_else(|p| p.into_inner()).push(m);
                                return Ok(());
                            }
                            Ok(None) => {}
                            Err(SctpError::Closed(reason)) => return Err(refused(reason)),
                            Err(e) => return Err(e),
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => guard.clear_ready(),
                    Err(source) => {
                        return Err(SctpError::Connect {
                            peer: peer.to_string(),
                            source,
                        })
                    }
                }
                continue;
            }
            if ready.is_writable() {
                return Ok(());
            }
            guard.clear_ready();
        }
    }

    /// Limit the size of a reassembled incoming message (default 1 MiB).
    pub fn set_max_message_len(&mut self, max: usize) {
        self.max_message_len = max;
    }

    /// Local address of the association's socket.
    pub fn local_addr(&self) -> Result<SocketAddr, SctpError> {
        self.fd
            .get_ref()
            .local_addr()
            .map_err(io_err("getsockname"))?
            .as_socket()
            .ok_or(SctpError::NoAddress)
    }

    /// Send one user message with `ppid` (host order) on `stream`, ordered.
    /// SCTP sends a message whole or not at all.
    pub async fn send(&self, ppid: u32, stream: u16, data: &[u8]) -> Result<(), SctpError> {
        let control = cmsg::encode_sndinfo(ppid, stream, 0);
        self.fd
            .async_io(Interest::WRITABLE, |sock| {
                let mut control = control.clone();
                let mut iov = libc::iovec {
                    iov_base: data.as_ptr() as *mut libc::c_void,
                    iov_len: data.len(),
                };
                // SAFETY: msghdr points at live buffers for the duration of the call.
                let rc = unsafe {
                    let mut msg: libc::msghdr = zeroed();
                    msg.msg_iov = &mut iov;
                    msg.msg_iovlen = 1;
                    msg.msg_control = control.as_mut_ptr();
                    msg.msg_controllen = control.len() as _;
                    libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL)
                };
                if rc < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            })
            .await
            .map_err(|e| match e.raw_os_error() {
                Some(libc::EPIPE) | Some(libc::ECONNRESET) | Some(libc::ENOTCONN) => {
                    SctpError::Closed(CloseReason::Lost { error: 0 })
                }
                _ => SctpError::Io {
                    op: "sendmsg",
                    source: e,
                },
            })
    }

    /// Receive the next complete user message or notification.
    /// End of stream is [`SctpError::Closed`] with [`CloseReason::Shutdown`].
    pub async fn recv_event(&self) -> Result<Received, SctpError> {
        if let Some(m) = self.early.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(Received::Message(m));
        }
        loop {
            let piece = self
                .fd
                .async_io(Interest::READABLE, |sock| self.recv_piece(sock))
                .await
                .map_err(|e| match e.raw_os_error() {
                    Some(libc::ECONNRESET) | Some(libc::ENOTCONN) => {
                        SctpError::Closed(CloseReason::Lost { error: 0 })
                    }
                    _ => SctpError::Io {
                        op: "recvmsg",
                        source: e,
                    },
                })?;
            let mut partial = self.partial.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(done) = reassemble(&mut partial, piece, self.max_message_len)? {
                return Ok(done);
            }
        }
    }

    /// Receive the next complete user message. Notifications that end the
    /// association become [`SctpError::Closed`]; others are skipped.
    pub async fn recv(&self) -> Result<SctpMessage, SctpError> {
        loop {
            match self.recv_event().await? {
                Received::Message(m) => return Ok(m),
                Received::Notification(n) => {
                    if let Some(reason) = closing_reason(&n) {
                        return Err(SctpError::Closed(reason));
                    }
                }
            }
        }
    }

    /// Start a graceful SCTP shutdown (no more sends from this side).
    pub fn shutdown(&self) -> Result<(), SctpError> {
        self.fd
            .get_ref()
            .shutdown(std::net::Shutdown::Write)
            .map_err(io_err("shutdown"))
    }
}

/// Which notifications end an association (RFC 6458 §6.1.1, §6.1.5).
fn closing_reason(n: &Notification) -> Option<CloseReason> {
    match n {
        Notification::AssocChange { state, error, .. } => match state {
            AssocChangeState::CommLost => Some(CloseReason::Lost { error: *error }),
            AssocChangeState::CannotStart => Some(CloseReason::CannotStart { error: *error }),
            AssocChangeState::ShutdownComplete => Some(CloseReason::Shutdown),
            _ => None,
        },
        Notification::Shutdown => Some(CloseReason::Shutdown),
        _ => None,
    }
}

/// One `recvmsg()` result.
struct Piece {
    pub(crate) bytes: Vec<u8>,
    pub(crate) end_of_record: bool,
    pub(crate) notification: bool,
    pub(crate) info: Option<cmsg::RcvInfo>,
}

impl SctpAssociation {
    /// One `recvmsg()` into the association's buffer; the piece gets a copy
    /// of just the bytes read.
    fn recv_piece(&self, sock: &Socket) -> io::Result<Piece> {
        let mut scratch = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        recv_piece(sock, &mut scratch)
    }
}

fn recv_piece(sock: &Socket, buf: &mut [u8]) -> io::Result<Piece> {
    let mut control = ControlBuf::with_capacity(cmsg::rcvinfo_space() * 2);
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr points at live buffers for the duration of the call; the
    // control buffer is aligned for cmsghdr.
    let (n, flags, info) = unsafe {
        let mut msg: libc::msghdr = zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr();
        msg.msg_controllen = control.len() as _;
        let n = libc::recvmsg(sock.as_raw_fd(), &mut msg, 0);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let info = cmsg::decode_rcvinfo(msg.msg_control, msg.msg_controllen as usize);
        (n as usize, msg.msg_flags, info)
    };
    Ok(Piece {
        bytes: buf[..n].to_vec(),
        end_of_record: flags & libc::MSG_EOR != 0,
        notification: flags & libc::MSG_NOTIFICATION != 0,
        info,
    })
}

/// Join partial deliveries (no `MSG_EOR` yet) into whole messages; the
/// RCVINFO of the first piece describes the message.
fn reassemble(
    partial: &mut Partial,
    piece: Piece,
    max: usize,
) -> Result<Option<Received>, SctpError> {
    if piece.notification {
        partial.notification.extend_from_slice(&piece.bytes);
        if !piece.end_of_record {
            return Ok(None);
        }
        let bytes = std::mem::take(&mut partial.notification);
        return Ok(Some(Received::Notification(Notification::parse(&bytes))));
    }
    if piece.bytes.is_empty() && partial.data.is_empty() {
        // read() of 0 on a one-to-one socket: the peer has shut down.
        return Err(SctpError::Closed(CloseReason::Shutdown));
    }
    if partial.data.len() + piece.bytes.len() > max {
        partial.data.clear();
        partial.info = None;
        return Err(SctpError::MessageTooLong { max });
    }
    if partial.data.is_empty() && piece.end_of_record {
        // The common case: a whole message in one read.
        return Ok(Some(Received::Message(SctpMessage {
            ppid: piece.info.map_or(0, |i| i.ppid),
            stream: piece.info.map_or(0, |i| i.stream),
            data: piece.bytes,
        })));
    }
    if partial.info.is_none() {
        partial.info = piece.info;
    }
    partial.data.extend_from_slice(&piece.bytes);
    if !piece.end_of_record {
        return Ok(None);
    }
    let info = partial.info.take();
    let data = std::mem::take(&mut partial.data);
    Ok(Some(Received::Message(SctpMessage {
        ppid: info.map_or(0, |i| i.ppid),
        stream: info.map_or(0, |i| i.stream),
        data,
    })))
}

/// A listening one-to-one SCTP socket.
pub struct SctpListener {
    fd: AsyncFd<Socket>,
}

impl SctpListener {
    /// Listen on all of `addrs` (same port; further addresses are added with
    /// `sctp_bindx()` semantics so that peers see a multi-homed endpoint).
    pub fn bind(addrs: &[SocketAddr]) -> Result<Self, SctpError> {
        let domain = domain_for(addrs)?;
        let sock = new_socket(domain)?;
        let bind_err = |source| SctpError::Bind {
            addr: describe(addrs),
            source,
        };
        sock.set_reuse_address(true).map_err(bind_err)?;
        sock.bind(&SockAddr::from(addrs[0])).map_err(bind_err)?;
        if addrs.len() > 1 {
            // The further addresses must use the port actually bound.
            let port = sock
                .local_addr()
                .ok()
                .and_then(|a| a.as_socket())
                .map_or(addrs[0].port(), |a| a.port());
            let rest: Vec<SocketAddr> = addrs[1..]
                .iter()
                .map(|a| SocketAddr::new(a.ip(), port))
                .collect();
            setsockopt_bytes(&sock, SCTP_SOCKOPT_BINDX_ADD, &cmsg::pack_addresses(&rest))
                .map_err(bind_err)?;
        }
        sock.listen(16).map_err(bind_err)?;
        Ok(SctpListener {
            fd: register(sock)?,
        })
    }

    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> Result<SocketAddr, SctpError> {
        self.fd
            .get_ref()
            .local_addr()
            .map_err(io_err("getsockname"))?
            .as_socket()
            .ok_or(SctpError::NoAddress)
    }

    /// Accept the next association.
    pub async fn accept(&self) -> Result<(SctpAssociation, SocketAddr), SctpError> {
        let (sock, peer) = self
            .fd
            .async_io(Interest::READABLE, |s| s.accept())
            .await
            .map_err(io_err("accept"))?;
        configure(&sock)?;
        let peer = peer.as_socket().ok_or(SctpError::NoAddress)?;
        Ok((SctpAssociation::from_socket(sock)?, peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(bytes: &[u8], eor: bool, ppid: u32) -> Piece {
        Piece {
            bytes: bytes.to_vec(),
            end_of_record: eor,
            notification: false,
            info: Some(cmsg::RcvInfo {
                ppid,
                stream: 0,
                ssn: 0,
                tsn: 0,
            }),
        }
    }

    #[test]
    fn partial_deliveries_are_joined_until_end_of_record() {
        let mut p = Partial::default();
        assert_eq!(
            reassemble(&mut p, piece(b"abc", false, 11), 100).unwrap(),
            None
        );
        let done = reassemble(&mut p, piece(b"def", true, 11), 100).unwrap();
        assert_eq!(
            done,
            Some(Received::Message(SctpMessage {
                ppid: 11,
                stream: 0,
                data: b"abcdef".to_vec()
            }))
        );
        // The next message starts afresh.
        let next = reassemble(&mut p, piece(b"x", true, 0), 100).unwrap();
        assert!(matches!(next, Some(Received::Message(m)) if m.data == b"x" && m.ppid == 0));
    }

    #[test]
    fn oversized_messages_are_refused_with_a_typed_error() {
        let mut p = Partial::default();
        assert_eq!(
            reassemble(&mut p, piece(&[0; 60], false, 11), 100).unwrap(),
            None
        );
        let err = reassemble(&mut p, piece(&[0; 60], true, 11), 100).unwrap_err();
        assert!(matches!(err, SctpError::MessageTooLong { max: 100 }));
    }

    #[test]
    fn end_of_stream_is_a_shutdown() {
        let mut p = Partial::default();
        let err = reassemble(&mut p, piece(b"", true, 0), 100).unwrap_err();
        assert!(matches!(err, SctpError::Closed(CloseReason::Shutdown)));
    }

    #[test]
    fn comm_lost_and_shutdown_notifications_close_the_association() {
        let lost = Notification::AssocChange {
            state: AssocChangeState::CommLost,
            error: 3,
            outbound_streams: 0,
            inbound_streams: 0,
        };
        assert_eq!(closing_reason(&lost), Some(CloseReason::Lost { error: 3 }));
        assert_eq!(
            closing_reason(&Notification::Shutdown),
            Some(CloseReason::Shutdown)
        );
        let up = Notification::AssocChange {
            state: AssocChangeState::CommUp,
            error: 0,
            outbound_streams: 10,
            inbound_streams: 10,
        };
        assert_eq!(closing_reason(&up), None);
    }

    #[test]
    fn mixed_address_families_use_an_ipv6_socket() {
        let mixed: Vec<SocketAddr> = vec![
            "10.0.0.1:1".parse().unwrap(),
            "[fec0::1]:1".parse().unwrap(),
        ];
        assert!(matches!(domain_for(&mixed), Ok(Domain::IPV6)));
        let v4: Vec<SocketAddr> = vec!["10.0.0.1:1".parse().unwrap()];
        assert!(matches!(domain_for(&v4), Ok(Domain::IPV4)));
        assert!(matches!(domain_for(&[]), Err(SctpError::NoAddress)));
    }

    /// On a kernel without SCTP (this project's CI) connecting fails with the
    /// readable "no SCTP" error; with SCTP, a connection to a closed loopback
    /// port is refused. Either way the error is typed, never a panic.
    #[tokio::test]
    async fn connect_reports_missing_kernel_sctp_or_refusal() {
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        // Guard against a hang (the refusal itself is immediate on loopback).
        let err = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            SctpAssociation::connect(&[addr]),
        )
        .await
        .expect("connect neither failed nor succeeded")
        .unwrap_err();
        if kernel_has_sctp() {
            assert!(
                matches!(err, SctpError::Connect { .. } | SctpError::Closed(_)),
                "{err}"
            );
        } else {
            assert!(err.is_no_kernel_support(), "{err}");
            assert!(err.to_string().contains("use `rserpool lab`"));
        }
    }

    /// Loopback echo of PPID and boundaries; only meaningful where the kernel
    /// has SCTP (the lab VM). On a kernel without SCTP, binding must fail
    /// with the typed error instead.
    #[tokio::test]
    async fn loopback_association_preserves_ppid_and_boundaries() {
        let listener = match SctpListener::bind(&["127.0.0.1:0".parse().unwrap()]) {
            Ok(l) => l,
            Err(e) => {
                assert!(e.is_no_kernel_support(), "{e}");
                return;
            }
        };
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (assoc, _) = listener.accept().await.unwrap();
            let m1 = assoc.recv().await.unwrap();
            let m2 = assoc.recv().await.unwrap();
            assoc.send(m1.ppid, 0, &m1.data).await.unwrap();
            (m1, m2)
        });
        let client = SctpAssociation::connect(&[addr]).await.unwrap();
        let big = vec![7u8; 150_000];
        client.send(11, 0, b"\x05\x00\x00\x04").await.unwrap();
        client.send(0, 0, &big).await.unwrap();
        let echoed = client.recv().await.unwrap();
        let (m1, m2) = server.await.unwrap();
        assert_eq!(
            (m1.ppid, m1.data.as_slice()),
            (11, &b"\x05\x00\x00\x04"[..])
        );
        assert_eq!((m2.ppid, m2.data.len()), (0, big.len()));
        assert_eq!(echoed, m1);
    }
}
