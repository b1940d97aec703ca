//! Parameters (TLVs, RFC 5354 §2): reading with bounds checks, writing with
//! padding. Padding and alignment live here and nowhere else.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::consts::{param_type as pt, policy_code as pc, PARAMETER_HEADER_LEN};
use super::error::{DecodeError, DecodeErrorKind as K};
use super::types::*;
use super::DecodeLimits;

/// Bytes of zero padding after `len` bytes to reach a multiple of 4.
pub(crate) fn padding(len: usize) -> usize {
    (4 - len % 4) % 4
}

// ------------------------------------------------------------------ writing

/// Appends big-endian fields and length-prefixed, padded parameters.
pub(crate) struct Writer<'a> {
    pub out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    pub fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b);
    }

    /// Writes a parameter: header, whatever `body` writes, then padding. The
    /// Length field counts header + value without this parameter's own
    /// padding (RFC 5354 §2; RSPLIB).
    pub fn tlv(&mut self, ty: u16, body: impl FnOnce(&mut Writer<'_>)) {
        let start = self.out.len();
        self.u16(ty);
        self.u16(0);
        body(self);
        let len = self.out.len() - start;
        // A parameter longer than 65535 bytes cannot be expressed; the
        // length saturates and the decoder will refuse it, never panic.
        let field = u16::try_from(len).unwrap_or(u16::MAX);
        self.out[start + 2..start + 4].copy_from_slice(&field.to_be_bytes());
        self.out.resize(self.out.len() + padding(len), 0);
    }

    pub fn pool_handle(&mut self, h: &PoolHandle) {
        self.tlv(pt::POOL_HANDLE, |w| w.bytes(&h.0));
    }

    pub fn pe_id(&mut self, id: PoolElementId) {
        self.tlv(pt::PE_IDENTIFIER, |w| w.u32(id.0));
    }

    pub fn address(&mut self, a: &IpAddr) {
        // RSPLIB encodes an IPv4-mapped IPv6 address as IPv4.
        let v4 = match a {
            IpAddr::V4(v4) => Some(*v4),
            IpAddr::V6(v6) => v6.to_ipv4_mapped(),
        };
        match (v4, a) {
            (Some(v4), _) => self.tlv(pt::IPV4_ADDRESS, |w| w.bytes(&v4.octets())),
            (None, IpAddr::V6(v6)) => self.tlv(pt::IPV6_ADDRESS, |w| w.bytes(&v6.octets())),
            (None, IpAddr::V4(_)) => unreachable!("an IPv4 address always has Some(v4)"),
        }
    }

    pub fn transport(&mut self, t: &TransportAddress) {
        let ty = match t.protocol {
            TransportProtocol::Sctp => pt::SCTP_TRANSPORT,
            TransportProtocol::Tcp => pt::TCP_TRANSPORT,
            TransportProtocol::Udp => pt::UDP_TRANSPORT,
            TransportProtocol::Dccp => pt::DCCP_TRANSPORT,
            TransportProtocol::UdpLite => pt::UDP_LITE_TRANSPORT,
        };
        self.tlv(ty, |w| {
            w.u16(t.port);
            w.u16(t.transport_use);
            if t.protocol == TransportProtocol::Dccp {
                w.u32(t.dccp_service_code);
            }
            for a in &t.addresses {
                w.address(a);
            }
        });
    }

    pub fn policy(&mut self, p: &SelectionPolicy) {
        let (code, words) = policy_words(p);
        self.tlv(pt::SELECTION_POLICY, |w| {
            w.u32(code);
            for x in words {
                w.u32(x);
            }
        });
    }

    pub fn pool_element(&mut self, e: &PoolElement) {
        self.tlv(pt::POOL_ELEMENT, |w| {
            w.u32(e.id.0);
            w.u32(e.home_registrar.0);
            w.u32(e.registration_life_ms);
            w.transport(&e.user_transport);
            w.policy(&e.policy);
            if let Some(r) = &e.registrator_transport {
                w.transport(r);
            }
        });
    }

    pub fn server_information(&mut self, s: &ServerInformation) {
        self.tlv(pt::SERVER_INFORMATION, |w| {
            w.u32(s.server_id.0);
            w.transport(&s.transport);
        });
    }

    pub fn operation_error(&mut self, e: &OperationError) {
        self.tlv(pt::OPERATION_ERROR, |w| {
            for c in &e.causes {
                let len = 4 + c.info.len();
                w.u16(c.code.0);
                w.u16(u16::try_from(len).unwrap_or(u16::MAX));
                w.bytes(&c.info);
                w.out.resize(w.out.len() + padding(len), 0);
            }
        });
    }

    pub fn cookie(&mut self, c: &Cookie) {
        self.tlv(pt::COOKIE, |w| w.bytes(&c.0));
    }

    pub fn hr_option(&mut self, o: HandleResolutionOption) {
        self.tlv(pt::HANDLE_RESOLUTION_OPTION, |w| w.u32(o.items));
    }
}

/// The wire code and value words of a policy (RFC 5356; docs/rsplib-wire.md,
/// "Selection policy parameter").
pub fn policy_words(p: &SelectionPolicy) -> (u32, Vec<u32>) {
    use SelectionPolicy::*;
    match p {
        RoundRobin => (pc::ROUND_ROBIN, vec![]),
        WeightedRoundRobin { weight } => (pc::WEIGHTED_ROUND_ROBIN, vec![*weight]),
        Random => (pc::RANDOM, vec![]),
        WeightedRandom { weight } => (pc::WEIGHTED_RANDOM, vec![*weight]),
        Priority { priority } => (pc::PRIORITY, vec![*priority]),
        LeastUsed { load } => (pc::LEAST_USED, vec![*load]),
        LeastUsedDegradation { load, degradation } => {
            (pc::LEAST_USED_DEGRADATION, vec![*load, *degradation])
        }
        PriorityLeastUsed {
            load,
            load_increment,
        } => (pc::PRIORITY_LEAST_USED, vec![*load, *load_increment]),
        RandomizedLeastUsed { load } => (pc::RANDOMIZED_LEAST_USED, vec![*load]),
        RandomizedPriorityLeastUsed { load, degradation } => (
            pc::RANDOMIZED_PRIORITY_LEAST_USED,
            vec![*load, *degradation],
        ),
        RandomizedLeastUsedDegradation { load, degradation } => (
            pc::RANDOMIZED_LEAST_USED_DEGRADATION,
            vec![*load, *degradation],
        ),
        PriorityLeastUsedDegradation { load, degradation } => (
            pc::PRIORITY_LEAST_USED_DEGRADATION,
            vec![*load, *degradation],
        ),
        RandomizedPriorityLeastUsedDegradation { load, degradation } => (
            pc::RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION,
            vec![*load, *degradation],
        ),
        WeightedRandomDpf {
            weight,
            weight_dpf,
            distance,
        } => (
            pc::WEIGHTED_RANDOM_DPF,
            vec![*weight, *weight_dpf, *distance],
        ),
        LeastUsedDpf {
            load,
            load_dpf,
            distance,
        } => (pc::LEAST_USED_DPF, vec![*load, *load_dpf, *distance]),
        LeastUsedDegradationDpf {
            load,
            degradation,
            load_dpf,
            distance,
        } => (
            pc::LEAST_USED_DEGRADATION_DPF,
            vec![*load, *degradation, *load_dpf, *distance],
        ),
        PriorityLeastUsedDpf {
            load,
            load_increment,
            load_dpf,
            distance,
        } => (
            pc::PRIORITY_LEAST_USED_DPF,
            vec![*load, *load_increment, *load_dpf, *distance],
        ),
        PriorityLeastUsedDegradationDpf {
            load,
            degradation,
            load_dpf,
            distance,
        } => (
            pc::PRIORITY_LEAST_USED_DEGRADATION_DPF,
            vec![*load, *degradation, *load_dpf, *distance],
        ),
        Unknown { code, words } => (*code, words.clone()),
    }
}

/// Builds a policy from its wire code and words; `Err(expected word count)`
/// when a known code has the wrong number of words.
pub fn policy_from_words(code: u32, w: &[u32]) -> Result<SelectionPolicy, usize> {
    use SelectionPolicy::*;
    let need = |n: usize| if w.len() == n { Ok(()) } else { Err(n) };
    Ok(match code {
        pc::ROUND_ROBIN => need(0).map(|_| RoundRobin)?,
        pc::WEIGHTED_ROUND_ROBIN => need(1).map(|_| WeightedRoundRobin { weight: w[0] })?,
        pc::RANDOM => need(0).map(|_| Random)?,
        pc::WEIGHTED_RANDOM => need(1).map(|_| WeightedRandom { weight: w[0] })?,
        pc::PRIORITY => need(1).map(|_| Priority { priority: w[0] })?,
        pc::LEAST_USED => need(1).map(|_| LeastUsed { load: w[0] })?,
        pc::LEAST_USED_DEGRADATION => need(2).map(|_| LeastUsedDegradation {
            load: w[0],
            degradation: w[1],
        })?,
        pc::PRIORITY_LEAST_USED => need(2).map(|_| PriorityLeastUsed {
            load: w[0],
            load_increment: w[1],
        })?,
        pc::RANDOMIZED_LEAST_USED => need(1).map(|_| RandomizedLeastUsed { load: w[0] })?,
        pc::RANDOMIZED_PRIORITY_LEAST_USED => need(2).map(|_| RandomizedPriorityLeastUsed {
            load: w[0],
            degradation: w[1],
        })?,
        pc::RANDOMIZED_LEAST_USED_DEGRADATION => {
            need(2).map(|_| RandomizedLeastUsedDegradation {
                load: w[0],
                degradation: w[1],
            })?
        }
        pc::PRIORITY_LEAST_USED_DEGRADATION => need(2).map(|_| PriorityLeastUsedDegradation {
            load: w[0],
            degradation: w[1],
        })?,
        pc::RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION => {
            need(2).map(|_| RandomizedPriorityLeastUsedDegradation {
                load: w[0],
                degradation: w[1],
            })?
        }
        pc::WEIGHTED_RANDOM_DPF => need(3).map(|_| WeightedRandomDpf {
            weight: w[0],
            weight_dpf: w[1],
            distance: w[2],
        })?,
        pc::LEAST_USED_DPF => need(3).map(|_| LeastUsedDpf {
            load: w[0],
            load_dpf: w[1],
            distance: w[2],
        })?,
        pc::LEAST_USED_DEGRADATION_DPF => need(4).map(|_| LeastUsedDegradationDpf {
            load: w[0],
            degradation: w[1],
            load_dpf: w[2],
            distance: w[3],
        })?,
        pc::PRIORITY_LEAST_USED_DPF => need(4).map(|_| PriorityLeastUsedDpf {
            load: w[0],
            load_increment: w[1],
            load_dpf: w[2],
            distance: w[3],
        })?,
        pc::PRIORITY_LEAST_USED_DEGRADATION_DPF => {
            need(4).map(|_| PriorityLeastUsedDegradationDpf {
                load: w[0],
                degradation: w[1],
                load_dpf: w[2],
                distance: w[3],
            })?
        }
        code => Unknown {
            code,
            words: w.to_vec(),
        },
    })
}

// ------------------------------------------------------------------ reading

/// Decoding context shared by all readers of one message: limits and the
/// list of skipped (action 10/11) parameters.
pub(crate) struct Ctx<'l> {
    pub limits: &'l DecodeLimits,
    pub skipped: Vec<UnknownParameter>,
}

/// A bounded reader over a region of the message. `base` is the offset of
/// `buf[0]` in the whole message, so errors can say where they happened.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    /// The parameter this region is the value of (for error messages).
    param: Option<u16>,
    depth: usize,
}

/// One parameter as found on the wire.
#[derive(Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub ty: u16,
    pub value: &'a [u8],
    /// Offset of the parameter header in the message.
    pub offset: usize,
    /// The whole parameter, header and value (without padding).
    pub raw: &'a [u8],
    depth: usize,
}

impl<'a> Tlv<'a> {
    /// A reader over this parameter's value.
    pub fn reader(&self) -> Reader<'a> {
        Reader {
            buf: self.value,
            pos: 0,
            base: self.offset + PARAMETER_HEADER_LEN,
            param: Some(self.ty),
            depth: self.depth + 1,
        }
    }

    pub fn err(&self, kind: K) -> DecodeError {
        DecodeError::new(kind, self.offset, Some(self.ty))
    }

    fn fixed(&self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.value.len() != n {
            return Err(self.err(K::InvalidParameterLength {
                expected: n + PARAMETER_HEADER_LEN,
                length: self.value.len() + PARAMETER_HEADER_LEN,
            }));
        }
        Ok(self.value)
    }

    fn be32(&self) -> Result<u32, DecodeError> {
        let v = self.fixed(4)?;
        Ok(u32::from_be_bytes([v[0], v[1], v[2], v[3]]))
    }
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], base: usize) -> Self {
        Reader {
            buf,
            pos: 0,
            base,
            param: None,
            depth: 0,
        }
    }

    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Bytes left in the region.
    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// Consumes the rest of the region.
    pub fn skip_rest(&mut self) {
        self.pos = self.buf.len();
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        if rest.len() < n {
            return Err(DecodeError::new(
                K::FieldTruncated {
                    field,
                    needed: n,
                    available: rest.len(),
                },
                self.offset(),
                self.param,
            ));
        }
        self.pos += n;
        Ok(&rest[..n])
    }

    pub fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        let b = self.take(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The next parameter, if it is an IPv4 (length 8) or IPv6 (length 20)
    /// address parameter that the general path would accept: the common
    /// content of a transport parameter, read without building a [`Tlv`].
    /// Anything else consumes nothing and is `None`, so the general path
    /// reads it and reports what is wrong with it.
    fn plain_address(&mut self, limits: &DecodeLimits) -> Option<IpAddr> {
        if self.depth >= limits.max_depth {
            return None;
        }
        let rest = self.buf.get(self.pos..)?;
        let header = rest.get(..PARAMETER_HEADER_LEN)?;
        let ty = u16::from_be_bytes([header[0], header[1]]);
        let len = u16::from_be_bytes([header[2], header[3]]);
        // Both lengths are multiples of 4: no padding follows.
        let a = match (ty, len) {
            (pt::IPV4_ADDRESS, 8) => {
                let v = rest.get(4..8)?;
                IpAddr::V4(Ipv4Addr::new(v[0], v[1], v[2], v[3]))
            }
            (pt::IPV6_ADDRESS, 20) => {
                let v: [u8; 16] = rest.get(4..20)?.try_into().ok()?;
                ipv6_value(Ipv6Addr::from(v))
            }
            _ => return None,
        };
        self.pos += usize::from(len);
        Some(a)
    }

    /// Looks at the type of the next parameter without consuming it.
    fn peek_type(&self) -> Option<u16> {
        let rest = self.buf.get(self.pos..)?;
        (rest.len() >= 2).then(|| u16::from_be_bytes([rest[0], rest[1]]))
    }

    /// Reads one parameter, its value and its (required) padding.
    fn tlv(&mut self, limits: &DecodeLimits) -> Result<Tlv<'a>, DecodeError> {
        let offset = self.offset();
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        if rest.len() < PARAMETER_HEADER_LEN {
            return Err(DecodeError::new(
                K::ParameterHeaderTruncated {
                    available: rest.len(),
                },
                offset,
                self.param,
            ));
        }
        let ty = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let err = |kind| DecodeError::new(kind, offset, Some(ty));
        if self.depth >= limits.max_depth {
            return Err(err(K::TooDeep {
                max: limits.max_depth,
            }));
        }
        if len < PARAMETER_HEADER_LEN {
            return Err(err(K::ParameterLengthTooShort { length: len }));
        }
        if len > rest.len() {
            return Err(err(K::ParameterOverrun {
                length: len,
                available: rest.len(),
            }));
        }
        let pad = padding(len);
        if len + pad > rest.len() {
            return Err(err(K::PaddingMissing {
                needed: pad,
                available: rest.len() - len,
            }));
        }
        self.pos += len + pad;
        Ok(Tlv {
            ty,
            value: &rest[PARAMETER_HEADER_LEN..len],
            offset,
            raw: &rest[..len],
            depth: self.depth,
        })
    }

    /// Reads the next parameter that is not skippable-unknown. Unknown types
    /// with action bits 10/11 are recorded and skipped (RFC 5354 §3);
    /// unknown types with 00/01 stop decoding with an error that carries
    /// the parameter. `known` tells which types this position may contain.
    fn next_known(
        &mut self,
        ctx: &mut Ctx<'_>,
        is_known: impl Fn(u16) -> bool,
    ) -> Result<Option<Tlv<'a>>, DecodeError> {
        loop {
            if self.is_empty() {
                return Ok(None);
            }
            let tlv = self.tlv(ctx.limits)?;
            if is_known(tlv.ty) {
                return Ok(Some(tlv));
            }
            self.skip_or_stop(ctx, tlv, None)?;
        }
    }

    /// What to do with a parameter that is not allowed where it stands.
    fn skip_or_stop(
        &self,
        ctx: &mut Ctx<'_>,
        tlv: Tlv<'a>,
        expected: Option<u16>,
    ) -> Result<(), DecodeError> {
        let action = UnrecognizedAction::of(tlv.ty);
        match action {
            UnrecognizedAction::Skip | UnrecognizedAction::SkipAndReport => {
                ctx.skipped.push(UnknownParameter {
                    param_type: tlv.ty,
                    value: tlv.value.to_vec(),
                });
                Ok(())
            }
            _ if is_known_type(tlv.ty) => Err(tlv.err(K::UnexpectedParameter { expected })),
            _ => Err(tlv.err(K::UnrecognizedParameter {
                action,
                tlv: tlv.raw.to_vec(),
            })),
        }
    }

    /// The next parameter must be of type `ty`.
    pub fn expect(&mut self, ctx: &mut Ctx<'_>, ty: u16) -> Result<Tlv<'a>, DecodeError> {
        let at = self.offset();
        match self.optional(ctx, ty)? {
            Some(t) => Ok(t),
            None => Err(DecodeError::new(
                K::MissingParameter { expected: ty },
                at.max(self.offset()),
                self.param,
            )),
        }
    }

    /// The next parameter, if it is of type `ty`; otherwise nothing is
    /// consumed (except skippable unknown parameters before it).
    pub fn optional(&mut self, ctx: &mut Ctx<'_>, ty: u16) -> Result<Option<Tlv<'a>>, DecodeError> {
        loop {
            match self.peek_type() {
                None => {
                    // Fewer than 2 bytes: let `tlv` produce the precise error.
                    if self.is_empty() {
                        return Ok(None);
                    }
                    self.tlv(ctx.limits)?;
                    return Ok(None);
                }
                Some(t) if t == ty => return self.tlv(ctx.limits).map(Some),
                // Unknown types are handled by their action bits wherever
                // they stand: skipped (10, 11) or the message stops (00, 01).
                Some(t) if !is_known_type(t) => {
                    let tlv = self.tlv(ctx.limits)?;
                    self.skip_or_stop(ctx, tlv, Some(ty))?;
                }
                Some(_) => return Ok(None),
            }
        }
    }

    /// Nothing but skippable parameters may follow.
    pub fn finish(&mut self, ctx: &mut Ctx<'_>) -> Result<(), DecodeError> {
        while !self.is_empty() {
            let tlv = self.tlv(ctx.limits)?;
            self.skip_or_stop(ctx, tlv, None)?;
        }
        Ok(())
    }

    // ---------------------------------------------------- typed parameters

    pub fn pool_handle(&mut self, ctx: &mut Ctx<'_>) -> Result<PoolHandle, DecodeError> {
        let t = self.expect(ctx, pt::POOL_HANDLE)?;
        pool_handle_value(&t, ctx.limits)
    }

    // Only ENRP messages carry these.
    #[cfg(feature = "enrp")]
    pub fn opt_pool_handle(
        &mut self,
        ctx: &mut Ctx<'_>,
    ) -> Result<Option<PoolHandle>, DecodeError> {
        match self.optional(ctx, pt::POOL_HANDLE)? {
            Some(t) => pool_handle_value(&t, ctx.limits).map(Some),
            None => Ok(None),
        }
    }

    pub fn pe_id(&mut self, ctx: &mut Ctx<'_>) -> Result<PoolElementId, DecodeError> {
        let t = self.expect(ctx, pt::PE_IDENTIFIER)?;
        t.be32().map(PoolElementId)
    }

    pub fn opt_pe_id(&mut self, ctx: &mut Ctx<'_>) -> Result<Option<PoolElementId>, DecodeError> {
        match self.optional(ctx, pt::PE_IDENTIFIER)? {
            Some(t) => t.be32().map(|v| Some(PoolElementId(v))),
            None => Ok(None),
        }
    }

    pub fn opt_policy(
        &mut self,
        ctx: &mut Ctx<'_>,
    ) -> Result<Option<SelectionPolicy>, DecodeError> {
        match self.optional(ctx, pt::SELECTION_POLICY)? {
            Some(t) => policy_value(&t).map(Some),
            None => Ok(None),
        }
    }

    pub fn opt_operation_error(
        &mut self,
        ctx: &mut Ctx<'_>,
    ) -> Result<Option<OperationError>, DecodeError> {
        match self.optional(ctx, pt::OPERATION_ERROR)? {
            Some(t) => operation_error_value(&t, ctx.limits).map(Some),
            None => Ok(None),
        }
    }

    pub fn operation_error(&mut self, ctx: &mut Ctx<'_>) -> Result<OperationError, DecodeError> {
        let t = self.expect(ctx, pt::OPERATION_ERROR)?;
        operation_error_value(&t, ctx.limits)
    }

    pub fn cookie(&mut self, ctx: &mut Ctx<'_>) -> Result<Cookie, DecodeError> {
        let t = self.expect(ctx, pt::COOKIE)?;
        Ok(Cookie(t.value.to_vec()))
    }

    /// Zero or more pool elements, at most `limits.max_elements`.
    pub fn pool_elements(&mut self, ctx: &mut Ctx<'_>) -> Result<Vec<PoolElement>, DecodeError> {
        // One allocation for the usual response: room for as many elements
        // as the rest could hold at their smallest (MIN_POOL_ELEMENT_LEN).
        let mut v = Vec::with_capacity(
            (self.remaining() / MIN_POOL_ELEMENT_LEN).min(ctx.limits.max_elements),
        );
        while let Some(t) = self.optional(ctx, pt::POOL_ELEMENT)? {
            if v.len() >= ctx.limits.max_elements {
                return Err(t.err(K::TooManyElements {
                    max: ctx.limits.max_elements,
                }));
            }
            v.push(pool_element_value(&t, ctx)?);
        }
        Ok(v)
    }

    pub fn pool_element(&mut self, ctx: &mut Ctx<'_>) -> Result<PoolElement, DecodeError> {
        let t = self.expect(ctx, pt::POOL_ELEMENT)?;
        pool_element_value(&t, ctx)
    }

    pub fn opt_server_information(
        &mut self,
        ctx: &mut Ctx<'_>,
    ) -> Result<Option<ServerInformation>, DecodeError> {
        match self.optional(ctx, pt::SERVER_INFORMATION)? {
            Some(t) => server_information_value(&t, ctx).map(Some),
            None => Ok(None),
        }
    }

    /// Zero or more transport parameters of any protocol.
    pub fn transports(&mut self, ctx: &mut Ctx<'_>) -> Result<Vec<TransportAddress>, DecodeError> {
        let mut v = Vec::new();
        while let Some(t) = self.next_known(ctx, |ty| transport_protocol(ty).is_some())? {
            v.push(transport_value(&t, ctx)?);
        }
        Ok(v)
    }

    /// The next parameter must be an IPv4 or IPv6 address.
    pub fn address(&mut self, ctx: &mut Ctx<'_>) -> Result<IpAddr, DecodeError> {
        let at = self.offset();
        match self.next_known(ctx, |ty| ty == pt::IPV4_ADDRESS || ty == pt::IPV6_ADDRESS)? {
            Some(a) => address_value(&a),
            None => Err(DecodeError::new(
                K::MissingParameter {
                    expected: pt::IPV4_ADDRESS,
                },
                at,
                self.param,
            )),
        }
    }

    /// One transport parameter of any protocol, if there is one.
    pub fn opt_transport(
        &mut self,
        ctx: &mut Ctx<'_>,
    ) -> Result<Option<TransportAddress>, DecodeError> {
        match self.next_known(ctx, |ty| transport_protocol(ty).is_some())? {
            Some(t) => transport_value(&t, ctx).map(Some),
            None => Ok(None),
        }
    }

    // Only ENRP messages carry these.
    #[cfg(feature = "enrp")]
    pub fn checksum(&mut self, ctx: &mut Ctx<'_>) -> Result<u16, DecodeError> {
        let t = self.expect(ctx, pt::PE_CHECKSUM)?;
        let v = t.fixed(2)?;
        Ok(u16::from_be_bytes([v[0], v[1]]))
    }

    pub fn opt_hr_option(
        &mut self,
        ctx: &mut Ctx<'_>,
    ) -> Result<Option<HandleResolutionOption>, DecodeError> {
        match self.optional(ctx, pt::HANDLE_RESOLUTION_OPTION)? {
            Some(t) => t.be32().map(|items| Some(HandleResolutionOption { items })),
            None => Ok(None),
        }
    }
}

/// The shortest Pool Element parameter: header, identifier, home registrar
/// and registration life (16 bytes), an SCTP transport with one IPv4 address
/// (16) and a policy without value words (8).
const MIN_POOL_ELEMENT_LEN: usize = 40;

fn is_known_type(ty: u16) -> bool {
    (pt::IPV4_ADDRESS..=pt::PE_CHECKSUM).contains(&ty) || ty == pt::HANDLE_RESOLUTION_OPTION
}

fn transport_protocol(ty: u16) -> Option<TransportProtocol> {
    Some(match ty {
        pt::SCTP_TRANSPORT => TransportProtocol::Sctp,
        pt::TCP_TRANSPORT => TransportProtocol::Tcp,
        pt::UDP_TRANSPORT => TransportProtocol::Udp,
        pt::DCCP_TRANSPORT => TransportProtocol::Dccp,
        pt::UDP_LITE_TRANSPORT => TransportProtocol::UdpLite,
        _ => return None,
    })
}

fn pool_handle_value(t: &Tlv<'_>, limits: &DecodeLimits) -> Result<PoolHandle, DecodeError> {
    if t.value.is_empty() {
        return Err(t.err(K::EmptyPoolHandle));
    }
    if t.value.len() > limits.max_pool_handle_len {
        return Err(t.err(K::PoolHandleTooLong {
            length: t.value.len(),
            max: limits.max_pool_handle_len,
        }));
    }
    Ok(PoolHandle(t.value.to_vec()))
}

fn policy_value(t: &Tlv<'_>) -> Result<SelectionPolicy, DecodeError> {
    if t.value.len() < 4 || t.value.len() % 4 != 0 {
        return Err(t.err(K::UnalignedPolicy {
            length: t.value.len(),
        }));
    }
    let mut words = t
        .value
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    let code = words.next().unwrap_or_default();
    let count = t.value.len() / 4 - 1;
    // Known policies have at most four value words: read them on the stack
    // (one allocation less per pool element); only an unknown policy with
    // more words needs a `Vec`.
    let mut small = [0u32; 4];
    let many: Vec<u32>;
    let rest: &[u32] = if count <= small.len() {
        for (slot, w) in small.iter_mut().zip(words) {
            *slot = w;
        }
        &small[..count]
    } else {
        many = words.collect();
        &many
    };
    policy_from_words(code, rest).map_err(|expected| {
        t.err(K::InvalidPolicyLength {
            policy: code,
            words: rest.len(),
            expected,
        })
    })
}

fn address_value(t: &Tlv<'_>) -> Result<IpAddr, DecodeError> {
    if t.ty == pt::IPV4_ADDRESS {
        let v = t.fixed(4)?;
        Ok(IpAddr::V4(Ipv4Addr::new(v[0], v[1], v[2], v[3])))
    } else {
        let v = t.fixed(16)?;
        let mut o = [0u8; 16];
        o.copy_from_slice(v);
        Ok(ipv6_value(Ipv6Addr::from(o)))
    }
}

/// An IPv4-mapped IPv6 address is the IPv4 host (RFC 4291 §2.5.5.2) and
/// RSPLIB sends it as an IPv4 parameter (docs/rsplib-wire.md, "Addresses"): return the
/// IPv4 form so that a decoded message re-encodes to the same meaning and
/// addresses compare equal however they arrived.
fn ipv6_value(a: Ipv6Addr) -> IpAddr {
    a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4)
}

fn transport_value(t: &Tlv<'_>, ctx: &mut Ctx<'_>) -> Result<TransportAddress, DecodeError> {
    let protocol = transport_protocol(t.ty).ok_or_else(|| {
        t.err(K::UnexpectedParameter {
            expected: Some(pt::SCTP_TRANSPORT),
        })
    })?;
    let mut r = t.reader();
    let port = r.u16("port")?;
    let transport_use = r.u16("transport use")?;
    let dccp_service_code = if protocol == TransportProtocol::Dccp {
        r.u32("service code")?
    } else {
        0
    };
    // One allocation: room for as many addresses as the value could hold
    // (an IPv4 address parameter, the smallest, takes 8 bytes), within the limit.
    let max = ctx.limits.max_addresses;
    let mut addresses = Vec::with_capacity((r.remaining() / 8).min(max));
    loop {
        // Well-formed addresses below the limit take the short way; anything
        // else goes the general way, which reports what is wrong.
        if addresses.len() < max {
            if let Some(a) = r.plain_address(ctx.limits) {
                addresses.push(a);
                continue;
            }
        }
        let Some(a) = r.next_known(ctx, |ty| ty == pt::IPV4_ADDRESS || ty == pt::IPV6_ADDRESS)?
        else {
            break;
        };
        if addresses.len() >= max {
            return Err(a.err(K::TooManyAddresses { max }));
        }
        addresses.push(address_value(&a)?);
    }
    if addresses.is_empty() {
        return Err(t.err(K::NoAddresses));
    }
    Ok(TransportAddress {
        protocol,
        port,
        transport_use,
        dccp_service_code,
        addresses,
    })
}

fn pool_element_value(t: &Tlv<'_>, ctx: &mut Ctx<'_>) -> Result<PoolElement, DecodeError> {
    let mut r = t.reader();
    let id = PoolElementId(r.u32("PE identifier")?);
    let home_registrar = ServerId(r.u32("home ENRP server identifier")?);
    let registration_life_ms = r.u32("registration life")?;
    let user = r
        .next_known(ctx, |ty| transport_protocol(ty).is_some())?
        .ok_or_else(|| {
            DecodeError::new(
                K::MissingParameter {
                    expected: pt::SCTP_TRANSPORT,
                },
                r.offset(),
                Some(t.ty),
            )
        })?;
    let user_transport = transport_value(&user, ctx)?;
    let policy_tlv = r.expect(ctx, pt::SELECTION_POLICY)?;
    let policy = policy_value(&policy_tlv)?;
    let registrator_transport = match r.optional(ctx, pt::SCTP_TRANSPORT)? {
        Some(rt) => Some(transport_value(&rt, ctx)?),
        None => None,
    };
    r.finish(ctx)?;
    Ok(PoolElement {
        id,
        home_registrar,
        registration_life_ms,
        user_transport,
        policy,
        registrator_transport,
    })
}

fn server_information_value(
    t: &Tlv<'_>,
    ctx: &mut Ctx<'_>,
) -> Result<ServerInformation, DecodeError> {
    let mut r = t.reader();
    let server_id = ServerId(r.u32("server identifier")?);
    let tt = r
        .next_known(ctx, |ty| transport_protocol(ty).is_some())?
        .ok_or_else(|| {
            DecodeError::new(
                K::MissingParameter {
                    expected: pt::SCTP_TRANSPORT,
                },
                r.offset(),
                Some(t.ty),
            )
        })?;
    let transport = transport_value(&tt, ctx)?;
    r.finish(ctx)?;
    Ok(ServerInformation {
        server_id,
        transport,
    })
}

fn operation_error_value(
    t: &Tlv<'_>,
    limits: &DecodeLimits,
) -> Result<OperationError, DecodeError> {
    let mut causes = Vec::new();
    let v = t.value;
    let mut pos = 0usize;
    while pos < v.len() {
        let at = t.offset + PARAMETER_HEADER_LEN + pos;
        let cerr = |kind| DecodeError::new(kind, at, Some(t.ty));
        if causes.len() >= limits.max_causes {
            return Err(cerr(K::TooManyCauses {
                max: limits.max_causes,
            }));
        }
        let rest = &v[pos..];
        if rest.len() < 4 {
            return Err(cerr(K::InvalidCauseLength {
                length: rest.len(),
                available: rest.len(),
            }));
        }
        let code = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        if len < 4 || len > rest.len() {
            return Err(cerr(K::InvalidCauseLength {
                length: len,
                available: rest.len(),
            }));
        }
        causes.push(ErrorCause {
            code: CauseCode(code),
            info: rest[4..len].to_vec(),
        });
        // The padding of the last cause may be covered by the parameter's
        // own padding instead of its length: accept both.
        pos += (len + padding(len)).min(rest.len());
    }
    Ok(OperationError { causes })
}
