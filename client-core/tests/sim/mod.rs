//! Deterministic in-memory simulation for the pool user: fake registrars
//! and fake pool elements that speak through the real codec, a virtual
//! clock, and a driver loop that does exactly what a real driver does
//! (drain actions, transmits and events; call `handle_timeout` at
//! `poll_timeout`). Shared by the `pool_user_*` tests.

#![allow(dead_code)]

use client_core::pool_user::*;
use client_core::wire::{self, consts, *};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// How a fake registrar behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegBehaviour {
    /// Connection attempts fail at once.
    Dead,
    /// Connects, then the driver reports an authentication failure.
    AuthFails,
    /// Connects but never answers.
    Silent,
    /// Connection attempts are never answered.
    BlackHole,
    /// Answers Handle Resolutions from its pools.
    Serve,
}

#[derive(Clone, Debug)]
pub struct FakeRegistrar {
    pub behaviour: RegBehaviour,
    pub pools: BTreeMap<PoolHandle, Vec<PoolElement>>,
    /// Answer this many resolutions with cause 9 although the pool exists
    /// (an RSPLIB registrar's per-PU rate limit; docs/rsplib-behaviour.md,
    /// "Unknown pool and rate limiting look the same").
    pub rate_limited: u32,
    /// Every message received, decoded.
    pub received: Vec<Message>,
    /// Raw bytes received (to compare with vectors).
    pub received_bytes: Vec<Vec<u8>>,
    /// Connection attempts.
    pub connects: u32,
    rr: usize,
}

impl FakeRegistrar {
    pub fn new(behaviour: RegBehaviour) -> Self {
        FakeRegistrar {
            behaviour,
            pools: BTreeMap::new(),
            rate_limited: 0,
            received: Vec::new(),
            received_bytes: Vec::new(),
            connects: 0,
            rr: 0,
        }
    }

    pub fn with_pool(mut self, ph: &str, pes: Vec<PoolElement>) -> Self {
        self.pools.insert(PoolHandle::from(ph), pes);
        self
    }

    pub fn unreachable_reports(&self) -> Vec<PoolElementId> {
        self.received
            .iter()
            .filter_map(|m| match m {
                Message::Asap(AsapMessage::EndpointUnreachable(e)) => Some(e.pe_id),
                _ => None,
            })
            .collect()
    }

    pub fn resolutions(&self) -> usize {
        self.received
            .iter()
            .filter(|m| matches!(m, Message::Asap(AsapMessage::HandleResolution(_))))
            .count()
    }

    /// The answer to a Handle Resolution, as RSPLIB builds it: pool-level
    /// policy, then up to `items` PEs (3 without the option), round robin.
    fn answer(&mut self, hr: &HandleResolution) -> Message {
        let pes = self.pools.get(&hr.pool_handle).cloned();
        let rate_limited = self.rate_limited > 0;
        if rate_limited {
            self.rate_limited -= 1;
        }
        match pes {
            Some(pes) if !pes.is_empty() && !rate_limited => {
                let items = hr.option.map_or(3, |o| o.items).min(pes.len() as u32) as usize;
                let start = self.rr % pes.len();
                self.rr += 1;
                let elements = (0..items)
                    .map(|k| pes[(start + k) % pes.len()].clone())
                    .collect();
                Message::Asap(AsapMessage::HandleResolutionResponse(
                    HandleResolutionResponse {
                        pool_handle: hr.pool_handle.clone(),
                        policy: Some(pes[0].policy.clone()),
                        elements,
                        error: None,
                    },
                ))
            }
            _ => Message::Asap(AsapMessage::HandleResolutionResponse(
                HandleResolutionResponse {
                    pool_handle: hr.pool_handle.clone(),
                    policy: None,
                    elements: Vec::new(),
                    error: Some(OperationError {
                        causes: vec![ErrorCause {
                            code: CauseCode(consts::cause_code::UNKNOWN_POOL_HANDLE),
                            info: Vec::new(),
                        }],
                    }),
                },
            )),
        }
    }
}

#[derive(Clone, Debug)]
pub struct FakePe {
    pub alive: bool,
    /// Sent as an ASAP Cookie right after the channel comes up.
    pub cookie: Option<Vec<u8>>,
    pub security: PathSecurity,
    /// (ppid, bytes) received.
    pub received: Vec<(u32, Vec<u8>)>,
    /// Echo application data back.
    pub echo: bool,
    /// Connection attempts are never answered (a black hole).
    pub hangs: bool,
}

impl FakePe {
    pub fn new() -> Self {
        FakePe {
            alive: true,
            cookie: None,
            security: PathSecurity::plain("sctp"),
            received: Vec::new(),
            echo: true,
            hangs: false,
        }
    }

    pub fn cookie_echoes(&self) -> Vec<Vec<u8>> {
        self.received
            .iter()
            .filter(|(p, _)| *p == consts::PPID_ASAP)
            .filter_map(|(_, b)| match wire::decode(Protocol::Asap, b) {
                Ok(d) => match d.message {
                    Message::Asap(AsapMessage::CookieEcho(c)) => Some(c.0),
                    _ => None,
                },
                Err(_) => None,
            })
            .collect()
    }
}

impl Default for FakePe {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Peer {
    Registrar(String),
    Pe(PoolElementId),
}

/// The simulated world.
pub struct Sim {
    pub pu: PoolUser,
    pub now: Duration,
    pub registrars: BTreeMap<String, FakeRegistrar>,
    pub pes: BTreeMap<u32, FakePe>,
    channels: BTreeMap<ChannelId, Peer>,
    /// Every event, in order.
    pub events: Vec<Event>,
    /// Every action, in order.
    pub actions: Vec<Action>,
}

impl Sim {
    pub fn new(cfg: Config) -> Self {
        Sim {
            pu: PoolUser::new(cfg),
            now: Duration::from_secs(1000),
            registrars: BTreeMap::new(),
            pes: BTreeMap::new(),
            channels: BTreeMap::new(),
            events: Vec::new(),
            actions: Vec::new(),
        }
    }

    pub fn registrar(mut self, endpoint: &str, r: FakeRegistrar) -> Self {
        self.registrars.insert(endpoint.to_string(), r);
        self
    }

    pub fn pe(mut self, id: u32, pe: FakePe) -> Self {
        self.pes.insert(id, pe);
        self
    }

    pub fn reg(&self, endpoint: &str) -> &FakeRegistrar {
        &self.registrars[endpoint]
    }

    pub fn pe_mut(&mut self, id: u32) -> &mut FakePe {
        self.pes.get_mut(&id).expect("fake PE")
    }

    /// The channel the pool user uses for a PE now, if any.
    pub fn pe_channel(&self, id: u32) -> Option<ChannelId> {
        self.channels
            .iter()
            .find(|(_, p)| **p == Peer::Pe(PoolElementId(id)))
            .map(|(c, _)| *c)
    }

    /// Kills a PE: its channel aborts (as SCTP would report COMM_LOST).
    pub fn kill_pe(&mut self, id: u32) {
        self.pe_mut(id).alive = false;
        if let Some(ch) = self.pe_channel(id) {
            self.channels.remove(&ch);
            self.pu.handle_closed(ch, CloseReason::Aborted, self.now);
        }
        self.settle();
    }

    /// A PE sends a message to the pool user on its channel.
    pub fn pe_sends(&mut self, id: u32, ppid: u32, bytes: &[u8]) {
        let ch = self.pe_channel(id).expect("PE has a channel");
        self.pu.handle_received(ch, ppid, bytes, self.now);
        self.settle();
    }

    /// Processes every output until nothing more happens at `now`.
    pub fn settle(&mut self) {
        for _ in 0..10_000 {
            let mut progress = false;
            while let Some(a) = self.pu.poll_action() {
                progress = true;
                self.actions.push(a.clone());
                self.act(a);
            }
            while let Some(t) = self.pu.poll_transmit() {
                progress = true;
                self.deliver(t);
            }
            while let Some(e) = self.pu.poll_event() {
                progress = true;
                self.events.push(e);
            }
            if !progress {
                return;
            }
        }
        panic!("simulation does not settle");
    }

    /// Advances the virtual clock to the next deadline (if it is no later
    /// than `limit`) and fires it. Returns whether a timer fired.
    pub fn step(&mut self, limit: Duration) -> bool {
        match self.pu.poll_timeout() {
            Some(t) if t <= limit => {
                self.now = self.now.max(t);
                self.pu.handle_timeout(self.now);
                self.settle();
                // A driver sleeps until poll_timeout: a deadline that is
                // still due after handle_timeout would make it spin.
                let next = self.pu.poll_timeout();
                assert!(
                    next.is_none_or(|n| n > self.now),
                    "deadline {next:?} still due at {:?}",
                    self.now
                );
                true
            }
            _ => false,
        }
    }

    /// Runs timers for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        self.settle();
        let end = self.now + d;
        let mut n = 0;
        while self.step(end) {
            n += 1;
            assert!(n < 100_000, "timer storm");
        }
        self.now = end;
        self.pu.handle_timeout(self.now);
        self.settle();
    }

    fn act(&mut self, a: Action) {
        let now = self.now;
        match a {
            Action::ConnectRegistrar { channel, endpoint } => {
                let Some(r) = self.registrars.get_mut(&endpoint) else {
                    self.pu
                        .handle_closed(channel, CloseReason::ConnectFailed, now);
                    return;
                };
                r.connects += 1;
                match r.behaviour {
                    RegBehaviour::BlackHole => {}
                    RegBehaviour::Dead => {
                        self.pu
                            .handle_closed(channel, CloseReason::ConnectFailed, now)
                    }
                    RegBehaviour::AuthFails => self.pu.handle_closed(
                        channel,
                        CloseReason::AuthenticationFailed("certificate name mismatch".into()),
                        now,
                    ),
                    RegBehaviour::Silent | RegBehaviour::Serve => {
                        self.channels.insert(channel, Peer::Registrar(endpoint));
                        self.pu
                            .handle_connected(channel, PathSecurity::plain("sctp"), now);
                    }
                }
            }
            Action::ConnectPoolElement {
                channel, element, ..
            } => {
                let id = element.id;
                match self.pes.get(&id.0) {
                    Some(pe) if pe.hangs => {}
                    Some(pe) if pe.alive => {
                        let sec = pe.security.clone();
                        let cookie = pe.cookie.clone();
                        self.channels.insert(channel, Peer::Pe(id));
                        self.pu.handle_connected(channel, sec, now);
                        if let Some(c) = cookie {
                            let bytes = Message::Asap(AsapMessage::Cookie(Cookie(c))).to_bytes();
                            self.pu
                                .handle_received(channel, consts::PPID_ASAP, &bytes, now);
                        }
                    }
                    _ => self
                        .pu
                        .handle_closed(channel, CloseReason::ConnectFailed, now),
                }
            }
            Action::Close { channel } => {
                self.channels.remove(&channel);
            }
        }
    }

    fn deliver(&mut self, t: Transmit) {
        let now = self.now;
        let Some(peer) = self.channels.get(&t.channel).cloned() else {
            return;
        };
        match peer {
            Peer::Registrar(ep) => {
                let r = self.registrars.get_mut(&ep).expect("registrar");
                r.received_bytes.push(t.bytes.clone());
                let decoded = wire::decode(Protocol::from_ppid(t.ppid).expect("ppid"), &t.bytes)
                    .expect("the pool user sends decodable messages");
                r.received.push(decoded.message.clone());
                if r.behaviour != RegBehaviour::Serve {
                    return;
                }
                if let Message::Asap(AsapMessage::HandleResolution(hr)) = decoded.message {
                    let answer = r.answer(&hr).to_bytes();
                    self.pu
                        .handle_received(t.channel, consts::PPID_ASAP, &answer, now);
                }
            }
            Peer::Pe(id) => {
                let pe = self.pes.get_mut(&id.0).expect("pe");
                pe.received.push((t.ppid, t.bytes.clone()));
                if pe.echo && t.ppid != consts::PPID_ASAP {
                    self.pu.handle_received(t.channel, t.ppid, &t.bytes, now);
                }
            }
        }
    }

    pub fn failovers(&self) -> Vec<FailoverNotice> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Failover(n) => Some(n.clone()),
                _ => None,
            })
            .collect()
    }
}

/// A PE with an SCTP transport on 10.0.2.15 (data + control), like the
/// lab's echo servers.
pub fn element(id: u32, policy: SelectionPolicy) -> PoolElement {
    PoolElement {
        id: PoolElementId(id),
        home_registrar: ServerId(0x1000_0001),
        registration_life_ms: 90_000,
        user_transport: TransportAddress::sctp(
            7000 + (id % 1000) as u16,
            consts::transport_use::DATA_PLUS_CONTROL,
            vec![IpAddr::V4(Ipv4Addr::new(10, 0, 2, 15))],
        ),
        policy,
        registrator_transport: None,
    }
}

pub fn rr(id: u32) -> PoolElement {
    element(id, SelectionPolicy::RoundRobin)
}

/// An RSPLIB 3.4.4 message from `testdata/vectors` (`NAME.hex`) as bytes.
pub fn vector(name: &str) -> Vec<u8> {
    rserpool_testdata::vector(name)
}
