//! Ancillary data (control messages) of SCTP user messages, and the packed
//! address lists of `sctp_connectx()`/`sctp_bindx()` (RFC 6458 §5.3, §9.1).
//!
//! Kept apart from the socket code so that it can be tested without kernel
//! SCTP: everything here only builds or reads byte buffers.

use std::mem::{size_of, zeroed};
use std::net::SocketAddr;

/// `SOL_SCTP` (= `IPPROTO_SCTP`), the level of SCTP options and cmsgs.
pub(crate) const SOL_SCTP: libc::c_int = libc::IPPROTO_SCTP;

/// Control buffer with the alignment `cmsghdr` needs.
#[derive(Clone)]
pub(crate) struct ControlBuf {
    words: Vec<u64>,
    len: usize,
}

impl ControlBuf {
    /// A zeroed buffer able to hold `bytes` bytes of control data.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        ControlBuf {
            words: vec![0u64; bytes.div_ceil(8)],
            len: bytes,
        }
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut libc::c_void {
        self.words.as_mut_ptr().cast()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// Space for one `SCTP_RCVINFO` cmsg, which is all a receiver asks for.
pub(crate) fn rcvinfo_space() -> usize {
    // SAFETY: CMSG_SPACE is pure arithmetic.
    unsafe { libc::CMSG_SPACE(size_of::<libc::sctp_rcvinfo>() as u32) as usize }
}

/// The `SCTP_SNDINFO` control message that gives one user message its PPID
/// and stream. The kernel copies `snd_ppid` to the wire unchanged, so the PPID
/// is stored in network byte order here (RFC 6458 §5.3.4 leaves byte order to
/// the caller; RSPLIB does the same).
pub(crate) fn encode_sndinfo(ppid: u32, stream: u16, flags: u16) -> ControlBuf {
    let payload = size_of::<libc::sctp_sndinfo>();
    // SAFETY: CMSG_SPACE is pure arithmetic.
    let space = unsafe { libc::CMSG_SPACE(payload as u32) } as usize;
    let mut buf = ControlBuf::with_capacity(space);
    // SAFETY: `buf` is zeroed, 8-byte aligned and large enough for one cmsg
    // header plus an sctp_sndinfo; the msghdr only lends the pointer to the
    // CMSG_* helpers.
    unsafe {
        let mut msg: libc::msghdr = zeroed();
        msg.msg_control = buf.as_mut_ptr();
        msg.msg_controllen = space as _;
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = SOL_SCTP;
        (*cmsg).cmsg_type = libc::SCTP_SNDINFO;
        (*cmsg).cmsg_len = libc::CMSG_LEN(payload as u32) as _;
        let info = libc::sctp_sndinfo {
            snd_sid: stream,
            snd_flags: flags,
            snd_ppid: ppid.to_be(),
            snd_context: 0,
            snd_assoc_id: 0,
        };
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::sctp_sndinfo>(), info);
    }
    buf
}

/// What `SCTP_RCVINFO` says about a received user message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RcvInfo {
    pub(crate) ppid: u32,
    pub(crate) stream: u16,
    pub(crate) ssn: u16,
    pub(crate) tsn: u32,
}

/// Find the `SCTP_RCVINFO` (or `SCTP_SNDINFO`, for tests) cmsg in a received
/// control buffer of `controllen` bytes. The PPID comes back in host order.
///
/// # Safety
/// `control` must point to `controllen` readable bytes written by the kernel
/// (or by [`encode_sndinfo`]), aligned for `cmsghdr`.
pub(crate) unsafe fn decode_rcvinfo(
    control: *mut libc::c_void,
    controllen: usize,
) -> Option<RcvInfo> {
    let mut msg: libc::msghdr = zeroed();
    msg.msg_control = control;
    msg.msg_controllen = controllen as _;
    let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
    while !cmsg.is_null() {
        let c = &*cmsg;
        let data = libc::CMSG_DATA(cmsg);
        let avail = (c.cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
        if c.cmsg_level == SOL_SCTP {
            if c.cmsg_type == libc::SCTP_RCVINFO && avail >= size_of::<libc::sctp_rcvinfo>() {
                let info = std::ptr::read_unaligned(data.cast::<libc::sctp_rcvinfo>());
                return Some(RcvInfo {
                    ppid: u32::from_be(info.rcv_ppid),
                    stream: info.rcv_sid,
                    ssn: info.rcv_ssn,
                    tsn: info.rcv_tsn,
                });
            }
            if c.cmsg_type == libc::SCTP_SNDINFO && avail >= size_of::<libc::sctp_sndinfo>() {
                let info = std::ptr::read_unaligned(data.cast::<libc::sctp_sndinfo>());
                return Some(RcvInfo {
                    ppid: u32::from_be(info.snd_ppid),
                    stream: info.snd_sid,
                    ssn: 0,
                    tsn: 0,
                });
            }
        }
        cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
    }
    None
}

/// The packed array of `sockaddr_in`/`sockaddr_in6` that
/// `SCTP_SOCKOPT_CONNECTX` and `SCTP_SOCKOPT_BINDX_ADD` take (RFC 6458 §9.1,
/// §9.9): each address at its natural size, no padding in between.
pub(crate) fn pack_addresses(addrs: &[SocketAddr]) -> Vec<u8> {
    let mut out = Vec::with_capacity(addrs.len() * size_of::<libc::sockaddr_in6>());
    for addr in addrs {
        let sa = socket2::SockAddr::from(*addr);
        // SAFETY: SockAddr holds `len()` initialised bytes of a sockaddr.
        let bytes =
            unsafe { std::slice::from_raw_parts(sa.as_ptr().cast::<u8>(), sa.len() as usize) };
        out.extend_from_slice(bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sndinfo_cmsg_carries_ppid_in_network_order() {
        let mut buf = encode_sndinfo(11, 0, 0);
        // The PPID bytes as they go on the wire: 00 00 00 0b.
        let raw: Vec<u8> = buf.words.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let header = unsafe { libc::CMSG_LEN(0) } as usize;
        // sctp_sndinfo: sid u16, flags u16, ppid u32, ...
        assert_eq!(&raw[header + 4..header + 8], &[0, 0, 0, 11]);
        let len = buf.len();
        let info = unsafe { decode_rcvinfo(buf.as_mut_ptr(), len) }.expect("cmsg found");
        assert_eq!(info.ppid, 11);
        assert_eq!(info.stream, 0);
    }

    #[test]
    fn sndinfo_cmsg_has_sctp_level_and_type() {
        let buf = encode_sndinfo(0xFAEE_B5D1, 3, 0);
        let raw: Vec<u8> = buf.words.iter().flat_map(|w| w.to_ne_bytes()).collect();
        let hdr = size_of::<usize>();
        let level = i32::from_ne_bytes(raw[hdr..hdr + 4].try_into().unwrap());
        let ty = i32::from_ne_bytes(raw[hdr + 4..hdr + 8].try_into().unwrap());
        assert_eq!(level, 132);
        assert_eq!(ty, libc::SCTP_SNDINFO);
        let header = unsafe { libc::CMSG_LEN(0) } as usize;
        assert_eq!(&raw[header..header + 2], &3u16.to_ne_bytes());
        assert_eq!(&raw[header + 4..header + 8], &[0xfa, 0xee, 0xb5, 0xd1]);
    }

    #[test]
    fn rcvinfo_is_read_with_ppid_swapped_back() {
        // Build what the kernel hands to recvmsg(): one SCTP_RCVINFO cmsg.
        let payload = size_of::<libc::sctp_rcvinfo>();
        let space = rcvinfo_space();
        let mut buf = ControlBuf::with_capacity(space);
        unsafe {
            let mut msg: libc::msghdr = zeroed();
            msg.msg_control = buf.as_mut_ptr();
            msg.msg_controllen = space as _;
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = SOL_SCTP;
            (*cmsg).cmsg_type = libc::SCTP_RCVINFO;
            (*cmsg).cmsg_len = libc::CMSG_LEN(payload as u32) as _;
            let mut info: libc::sctp_rcvinfo = zeroed();
            info.rcv_sid = 2;
            info.rcv_ssn = 7;
            info.rcv_ppid = 12u32.to_be();
            info.rcv_tsn = 1234;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast(), info);
        }
        let info = unsafe { decode_rcvinfo(buf.as_mut_ptr(), space) }.unwrap();
        assert_eq!(
            info,
            RcvInfo {
                ppid: 12,
                stream: 2,
                ssn: 7,
                tsn: 1234
            }
        );
    }

    #[test]
    fn control_buffer_without_sctp_cmsg_yields_none() {
        let mut buf = ControlBuf::with_capacity(rcvinfo_space());
        assert_eq!(unsafe { decode_rcvinfo(buf.as_mut_ptr(), 0) }, None);
    }

    #[test]
    fn connectx_address_list_is_packed_without_padding() {
        let addrs: Vec<SocketAddr> = vec![
            "10.1.0.1:3863".parse().unwrap(),
            "[::1]:3863".parse().unwrap(),
            "127.0.0.1:9901".parse().unwrap(),
        ];
        let packed = pack_addresses(&addrs);
        assert_eq!(packed.len(), 16 + 28 + 16);
        // sockaddr_in: family (host order), port (network order), address.
        assert_eq!(
            u16::from_ne_bytes([packed[0], packed[1]]),
            libc::AF_INET as u16
        );
        assert_eq!(&packed[2..8], &[0x0f, 0x17, 10, 1, 0, 1]);
        assert_eq!(
            u16::from_ne_bytes([packed[16], packed[17]]),
            libc::AF_INET6 as u16
        );
        assert_eq!(&packed[44 + 2..44 + 8], &[0x26, 0xad, 127, 0, 0, 1]);
    }
}
