//! SCTP event notifications (RFC 6458 §6.1), parsed from the bytes the kernel
//! delivers with `MSG_NOTIFICATION`. Fields are in host byte order.

/// `sn_type` values (Linux `SCTP_SN_TYPE_BASE` = 0x8000 + n).
const SCTP_ASSOC_CHANGE: u16 = 0x8001;
const SCTP_PEER_ADDR_CHANGE: u16 = 0x8002;
const SCTP_REMOTE_ERROR: u16 = 0x8004;
const SCTP_SHUTDOWN_EVENT: u16 = 0x8005;

/// `sac_state` of an association change (RFC 6458 §6.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssocChangeState {
    CommUp,
    CommLost,
    Restart,
    ShutdownComplete,
    CannotStart,
    Other(u16),
}

impl AssocChangeState {
    fn from_raw(v: u16) -> Self {
        match v {
            0 => AssocChangeState::CommUp,
            1 => AssocChangeState::CommLost,
            2 => AssocChangeState::Restart,
            3 => AssocChangeState::ShutdownComplete,
            4 => AssocChangeState::CannotStart,
            n => AssocChangeState::Other(n),
        }
    }
}

/// A typed SCTP notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notification {
    /// SCTP_ASSOC_CHANGE.
    AssocChange {
        state: AssocChangeState,
        error: u16,
        outbound_streams: u16,
        inbound_streams: u16,
    },
    /// SCTP_PEER_ADDR_CHANGE: a path of a multi-homed peer changed state.
    PeerAddrChange { state: u32, error: u32 },
    /// SCTP_REMOTE_ERROR: the peer sent an ERROR chunk.
    RemoteError { error: u16 },
    /// SCTP_SHUTDOWN_EVENT: the peer started a graceful shutdown.
    Shutdown,
    /// Any other notification, kept by type so it is not silently lost.
    Other { kind: u16 },
    /// Fewer bytes than the notification type promises.
    Truncated { kind: u16, len: usize },
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl Notification {
    /// Parse one notification. Never panics: short input becomes
    /// [`Notification::Truncated`].
    pub fn parse(bytes: &[u8]) -> Notification {
        let Some(kind) = u16_at(bytes, 0) else {
            return Notification::Truncated {
                kind: 0,
                len: bytes.len(),
            };
        };
        let truncated = Notification::Truncated {
            kind,
            len: bytes.len(),
        };
        // Common header: sn_type u16, sn_flags u16, sn_length u32.
        match kind {
            SCTP_ASSOC_CHANGE => {
                // sac_state, sac_error, sac_outbound_streams, sac_inbound_streams.
                match (
                    u16_at(bytes, 8),
                    u16_at(bytes, 10),
                    u16_at(bytes, 12),
                    u16_at(bytes, 14),
                ) {
                    (Some(s), Some(e), Some(o), Some(i)) => Notification::AssocChange {
                        state: AssocChangeState::from_raw(s),
                        error: e,
                        outbound_streams: o,
                        inbound_streams: i,
                    },
                    _ => truncated,
                }
            }
            SCTP_PEER_ADDR_CHANGE => {
                // spc_aaddr is a sockaddr_storage (128 bytes) after the header.
                match (u32_at(bytes, 8 + 128), u32_at(bytes, 12 + 128)) {
                    (Some(state), Some(error)) => Notification::PeerAddrChange { state, error },
                    _ => truncated,
                }
            }
            SCTP_REMOTE_ERROR => match u16_at(bytes, 8) {
                Some(e) => Notification::RemoteError {
                    error: u16::from_be(e),
                },
                None => truncated,
            },
            SCTP_SHUTDOWN_EVENT => Notification::Shutdown,
            other => Notification::Other { kind: other },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: u16, len: u32) -> Vec<u8> {
        let mut v = kind.to_ne_bytes().to_vec();
        v.extend_from_slice(&0u16.to_ne_bytes());
        v.extend_from_slice(&len.to_ne_bytes());
        v
    }

    #[test]
    fn parses_comm_lost_association_change() {
        let mut b = header(0x8001, 20);
        for v in [1u16, 7, 10, 10] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        b.extend_from_slice(&5i32.to_ne_bytes());
        assert_eq!(
            Notification::parse(&b),
            Notification::AssocChange {
                state: AssocChangeState::CommLost,
                error: 7,
                outbound_streams: 10,
                inbound_streams: 10
            }
        );
    }

    #[test]
    fn parses_shutdown_event() {
        let mut b = header(0x8005, 12);
        b.extend_from_slice(&1i32.to_ne_bytes());
        assert_eq!(Notification::parse(&b), Notification::Shutdown);
    }

    #[test]
    fn short_notifications_are_reported_not_panicking() {
        assert_eq!(
            Notification::parse(&[1]),
            Notification::Truncated { kind: 0, len: 1 }
        );
        let b = header(0x8001, 20);
        assert_eq!(
            Notification::parse(&b),
            Notification::Truncated {
                kind: 0x8001,
                len: 8
            }
        );
    }

    #[test]
    fn unknown_notification_types_are_kept() {
        let b = header(0x8009, 12);
        assert_eq!(
            Notification::parse(&b),
            Notification::Other { kind: 0x8009 }
        );
    }
}
