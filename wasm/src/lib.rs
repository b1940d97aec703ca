//! Browser and Node binding of the sans-IO pool user
//! (`client_core::pool_user::PoolUser`). The pool user decides everything
//! (registrar hunt RFC 5352 §3.4, resolution §3.5, failover §3.9-3.10);
//! this crate only moves bytes between it and WebSockets, feeds it time
//! (`performance.now()`) and timers (`setTimeout`), and turns its events
//! into promises and JS events.
//!
//! Transport today: a registrar channel is one WebSocket to a gateway URL
//! carrying one ASAP message per binary frame (PPID 11, RFC 5352 §1.1).
//! Pool-element channels need the gateway's session framing
//! (`client_core::gateway_protocol`), which has not landed: until then a
//! PE connection fails with an `error` event of code `no-element-transport`
//! and the pool user treats it as a failed PE.

mod dto;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use client_core::pool_user::{
    Action, ChannelId, CloseReason, Config, Event, PathSecurity, PoolUser as Core, RequestId,
    SessionId,
};
use client_core::wire::{consts, PoolHandle};
use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, MessageEvent, WebSocket};

pub use dto::{ElementDto, FailoverDto, PolicyDto, TraceDto};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Options of `new PoolUser(...)`. */
export interface PoolUserOptions {
  /** Gateway WebSocket URLs (`wss://host:port/asap`), tried in order (RFC 5352 §3.4 hunt). */
  gateways: string[];
  /** Emit `trace` events for every ASAP message (default true). */
  trace?: boolean;
  /** Seed of the selection PRNG (default: fixed). */
  seed?: number;
  /** Registrar connect timeout in ms (default 7500, RSPLIB). */
  registrarConnectTimeoutMs?: number;
  /** Registrar response timeout in ms (default 3000, RSPLIB). */
  responseTimeoutMs?: number;
  /** Passes over the gateway list before a request fails (default 2). */
  huntRounds?: number;
  /** Use registrars learned from Server Announces (default false in a browser). */
  useAnnouncedRegistrars?: boolean;
}

export type PolicyType =
  | "RoundRobin" | "WeightedRoundRobin" | "Random" | "WeightedRandom" | "Priority"
  | "LeastUsed" | "LeastUsedDegradation" | "PriorityLeastUsed" | "RandomizedLeastUsed"
  | "RandomizedPriorityLeastUsed" | "RandomizedLeastUsedDegradation"
  | "PriorityLeastUsedDegradation" | "RandomizedPriorityLeastUsedDegradation"
  | "WeightedRandomDpf" | "LeastUsedDpf" | "LeastUsedDegradationDpf"
  | "PriorityLeastUsedDpf" | "PriorityLeastUsedDegradationDpf" | "Unknown";

/** RFC 5356 member selection policy: name, wire code and parameters in wire order. */
export interface Policy {
  type: PolicyType;
  code: number;
  values: number[];
}

/** A pool element from a handle resolution (RFC 5354 §2.2). */
export interface PoolElement {
  /** Hex identifier as RSPLIB prints it, e.g. "0x0e000001". */
  identifier: string;
  identifierValue: number;
  /** Home registrar's server id, hex. */
  homeRegistrar: string;
  addresses: string[];
  port: number;
  transport: "sctp" | "tcp" | "udp" | "dccp" | "udplite";
  transportUse: "data" | "data+control";
  policy: Policy;
  registrationLifeMs: number;
}

export interface PathSecurity {
  transport: string;
  tls: boolean;
  authenticatedPeer: string | null;
  viaGateway: boolean;
}

/** RFC 5355 §2.9: what changed under a session. */
export interface FailoverEvent {
  oldElement: string;
  newElement: string;
  reason: string;
  failedElements: string[];
  cookieReplayed: boolean;
  securityChanged: boolean;
  oldSecurity: PathSecurity;
  newSecurity: PathSecurity;
}

export interface RegistrarChangeEvent { from: string | null; to: string; }

export interface ReportSuppressedEvent {
  poolHandle: string;
  element: string;
  limit: "per-element" | "total";
}

/** One ASAP message sent or received (for sequence charts). */
export interface TraceEvent {
  direction: "sent" | "received";
  channel: number;
  atMs: number;
  name: string;
  typeCode: number;
  length: number;
}

export interface DataEvent { ppid: number; bytes: Uint8Array; }
export interface CloseEvent { reason: string; }

export type PoolUserErrorCode =
  | "bad-options" | "no-such-pool" | "no-usable-element" | "no-registrar-reachable"
  | "timeout" | "refused" | "session-failed" | "session-closed" | "queue-full"
  | "protocol" | "no-element-transport" | "closed";

/** Errors thrown or emitted: a standard `Error` with a stable `code`. */
export interface PoolUserError extends Error { code: PoolUserErrorCode; }

export interface PoolUserEventMap {
  "registrar-change": RegistrarChangeEvent;
  "report-suppressed": ReportSuppressedEvent;
  "trace": TraceEvent;
  "error": PoolUserError;
}

export interface PoolUser {
  /** Adds a listener for a pool-user event. */
  on<K extends keyof PoolUserEventMap>(event: K, listener: (event: PoolUserEventMap[K]) => void): void;
}

export interface Session {
  /** Adds a listener for a session event. */
  on<K extends keyof SessionEventMap>(event: K, listener: (event: SessionEventMap[K]) => void): void;
}

export interface SessionEventMap {
  "data": DataEvent;
  "failover": FailoverEvent;
  "close": CloseEvent;
}
"#;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(typescript_type = "PoolUserOptions")]
    pub type JsOptions;
    #[wasm_bindgen(typescript_type = "Promise<PoolElement[]>")]
    pub type ResolvePromise;
    #[wasm_bindgen(typescript_type = "Promise<Session>")]
    pub type SessionPromise;
    #[wasm_bindgen(typescript_type = "keyof PoolUserEventMap")]
    pub type PuEventName;
    #[wasm_bindgen(typescript_type = "keyof SessionEventMap")]
    pub type SessionEventName;
    #[wasm_bindgen(typescript_type = "Function")]
    pub type Listener;
}

#[derive(Default)]
struct Options {
    gateways: Vec<String>,
    trace: Option<bool>,
    seed: Option<f64>,
    registrar_connect_timeout_ms: Option<f64>,
    response_timeout_ms: Option<f64>,
    hunt_rounds: Option<f64>,
    use_announced_registrars: Option<bool>,
}

fn bad_option(what: &str) -> JsValue {
    js_error("bad-options", &format!("PoolUser options: {what}"))
}

/// Reads the options object by hand (no serde deserializer: smaller
/// module, and every mistake gets its own message).
fn read_options(v: &JsValue) -> Result<Options, JsValue> {
    let obj = v
        .dyn_ref::<js_sys::Object>()
        .ok_or_else(|| bad_option("expected an object"))?;
    let mut o = Options::default();
    for key in js_sys::Object::keys(obj).iter() {
        let key = key.as_string().unwrap_or_default();
        let val = Reflect::get(obj, &JsValue::from_str(&key)).unwrap_or(JsValue::UNDEFINED);
        if val.is_undefined() {
            continue;
        }
        let num = |v: &JsValue| {
            v.as_f64()
                .filter(|n| n.is_finite() && *n >= 0.0)
                .ok_or_else(|| bad_option(&format!("{key} must be a non-negative number")))
        };
        let flag = |v: &JsValue| {
            v.as_bool()
                .ok_or_else(|| bad_option(&format!("{key} must be a boolean")))
        };
        match key.as_str() {
            "gateways" => {
                let arr = val
                    .dyn_ref::<Array>()
                    .ok_or_else(|| bad_option("gateways must be an array of URLs"))?;
                for g in arr.iter() {
                    let g = g
                        .as_string()
                        .ok_or_else(|| bad_option("gateways must be an array of URLs"))?;
                    if !(g.starts_with("wss://") || g.starts_with("ws://")) {
                        return Err(bad_option(&format!(
                            "gateway {g:?} is not a ws:// or wss:// URL"
                        )));
                    }
                    o.gateways.push(g);
                }
            }
            "trace" => o.trace = Some(flag(&val)?),
            "useAnnouncedRegistrars" => o.use_announced_registrars = Some(flag(&val)?),
            "seed" => o.seed = Some(num(&val)?),
            "registrarConnectTimeoutMs" => o.registrar_connect_timeout_ms = Some(num(&val)?),
            "responseTimeoutMs" => o.response_timeout_ms = Some(num(&val)?),
            "huntRounds" => o.hunt_rounds = Some(num(&val)?),
            _ => return Err(bad_option(&format!("unknown option {key:?}"))),
        }
    }
    if o.gateways.is_empty() {
        return Err(bad_option("gateways is empty"));
    }
    Ok(o)
}

/// A JS `Error` with a stable `code` property.
fn js_error(code: &str, message: &str) -> JsValue {
    let e = js_sys::Error::new(message);
    let _ = Reflect::set(&e, &"code".into(), &code.into());
    e.into()
}

fn to_js<T: Serialize>(v: &T) -> JsValue {
    let ser = serde_wasm_bindgen::Serializer::new().serialize_missing_as_null(true);
    v.serialize(&ser).unwrap_or(JsValue::NULL)
}

/// `performance.now()` from the global object (window, worker or Node).
fn now_ms() -> f64 {
    let perf = Reflect::get(&js_sys::global(), &"performance".into()).ok();
    perf.and_then(|p| {
        let f = Reflect::get(&p, &"now".into())
            .ok()?
            .dyn_into::<Function>()
            .ok()?;
        f.call0(&p).ok()?.as_f64()
    })
    .unwrap_or_else(js_sys::Date::now)
}

struct Pending {
    resolve: Function,
    reject: Function,
}

struct SessionSlot {
    opened: Option<Pending>,
    listeners: Vec<(String, Function)>,
}

struct Inner {
    core: Core,
    epoch_ms: f64,
    sockets: HashMap<ChannelId, Rc<WebSocket>>,
    requests: HashMap<RequestId, Pending>,
    sessions: HashMap<SessionId, SessionSlot>,
    listeners: Vec<(String, Function)>,
    timer: Option<(f64, i32)>,
    /// Keeps the socket callbacks alive as long as their socket.
    closures: HashMap<ChannelId, Vec<Callback>>,
}

impl Inner {
    fn now(&self) -> Duration {
        Duration::from_secs_f64(((now_ms() - self.epoch_ms) / 1000.0).max(0.0))
    }
}

type Shared = Rc<RefCell<Inner>>;
type Callback = Closure<dyn FnMut(JsValue)>;

/// What to tell JS once the core is no longer borrowed (listeners may call
/// back into the pool user).
enum Out {
    Call(Function, JsValue),
}

/// The pool user (RFC 5351 §2.2 PU) for browsers and Node.
#[wasm_bindgen]
pub struct PoolUser {
    inner: Shared,
}

#[wasm_bindgen]
impl PoolUser {
    /// `new PoolUser({ gateways: ["wss://…/asap"] })`. Throws an `Error`
    /// with `code: "bad-options"` on malformed options.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsOptions) -> Result<PoolUser, JsValue> {
        let o = read_options(&options.into())?;
        let mut cfg = Config {
            registrars: o.gateways,
            // Announced registrars are SCTP addresses a browser cannot reach
            // (and unauthenticated, RFC 5355 §3.3).
            use_announced_registrars: o.use_announced_registrars.unwrap_or(false),
            trace: o.trace.unwrap_or(true),
            ..Config::default()
        };
        if let Some(s) = o.seed {
            cfg.seed = s as u64;
        }
        if let Some(ms) = o.registrar_connect_timeout_ms {
            cfg.registrar_connect_timeout = Duration::from_secs_f64(ms / 1000.0);
        }
        if let Some(ms) = o.response_timeout_ms {
            cfg.response_timeout = Duration::from_secs_f64(ms / 1000.0);
        }
        if let Some(r) = o.hunt_rounds {
            cfg.hunt_rounds = (r as u32).max(1);
        }
        let inner = Rc::new(RefCell::new(Inner {
            core: Core::new(cfg),
            epoch_ms: now_ms(),
            sockets: HashMap::new(),
            requests: HashMap::new(),
            sessions: HashMap::new(),
            listeners: Vec::new(),
            timer: None,
            closures: HashMap::new(),
        }));
        Ok(PoolUser { inner })
    }

    /// Resolves a pool handle (RFC 5352 §3.5) to its pool elements.
    /// Rejects with an `Error` whose `code` is `no-such-pool`,
    /// `no-registrar-reachable`, `timeout`, `refused` or `no-usable-element`.
    pub fn resolve(&self, pool: &str) -> ResolvePromise {
        let inner = self.inner.clone();
        let handle = PoolHandle::from(pool);
        let promise = Promise::new(&mut |resolve, reject| {
            let mut i = inner.borrow_mut();
            let now = i.now();
            let id = i.core.resolve(handle.clone(), now);
            i.requests.insert(id, Pending { resolve, reject });
        });
        pump(&self.inner);
        promise.unchecked_into()
    }

    /// Opens a session to a pool (RFC 5352 §3.9): resolves once a pool
    /// element is connected; rejects with `session-failed` if none can be.
    /// `ppid` is the PPID of data sent without one (default 0).
    pub fn session(&self, pool: &str, ppid: Option<u32>) -> SessionPromise {
        let inner = self.inner.clone();
        let handle = PoolHandle::from(pool);
        let promise = Promise::new(&mut |resolve, reject| {
            let mut i = inner.borrow_mut();
            let now = i.now();
            let sid = i.core.open_session(handle.clone(), ppid.unwrap_or(0), now);
            i.sessions.insert(
                sid,
                SessionSlot {
                    opened: Some(Pending { resolve, reject }),
                    listeners: Vec::new(),
                },
            );
        });
        pump(&self.inner);
        promise.unchecked_into()
    }

    /// Adds a listener: `registrar-change`, `report-suppressed`, `trace`,
    /// `error`.
    #[wasm_bindgen(skip_typescript)]
    pub fn on(&self, event: PuEventName, listener: Listener) {
        if let (Some(name), Ok(f)) = (JsValue::from(event).as_string(), listener.dyn_into()) {
            self.inner.borrow_mut().listeners.push((name, f));
        }
    }

    /// The endpoint of the current home registrar (gateway URL), if any.
    #[wasm_bindgen(getter, js_name = homeRegistrar)]
    pub fn home_registrar(&self) -> Option<String> {
        self.inner
            .borrow()
            .core
            .home_registrar()
            .map(str::to_string)
    }

    /// Closes every channel; pending promises reject with `closed`.
    pub fn close(&self) {
        let (sockets, reqs, sessions) = {
            let mut i = self.inner.borrow_mut();
            if let Some((_, t)) = i.timer.take() {
                clear_timeout(t);
            }
            for ws in i.sockets.values() {
                clear_handlers(ws);
            }
            let callbacks: Vec<Callback> = i.closures.drain().flat_map(|(_, c)| c).collect();
            bury(Some(callbacks));
            (
                i.sockets.drain().map(|(_, s)| s).collect::<Vec<_>>(),
                i.requests.drain().map(|(_, p)| p).collect::<Vec<_>>(),
                i.sessions.drain().map(|(_, s)| s).collect::<Vec<_>>(),
            )
        };
        for s in sockets {
            let _ = s.close();
        }
        let err = js_error("closed", "pool user closed");
        for p in reqs {
            let _ = p.reject.call1(&JsValue::NULL, &err);
        }
        for s in sessions {
            if let Some(p) = s.opened {
                let _ = p.reject.call1(&JsValue::NULL, &err);
            }
        }
    }
}

/// A session with a pool; fails over between pool elements by itself.
#[wasm_bindgen]
pub struct Session {
    inner: Shared,
    id: SessionId,
}

#[wasm_bindgen]
impl Session {
    /// Sends application data (queued while failing over).
    pub fn send(&self, bytes: &[u8], ppid: Option<u32>) -> Result<(), JsValue> {
        {
            let mut i = self.inner.borrow_mut();
            let now = i.now();
            i.core
                .send(self.id, ppid, bytes.to_vec(), now)
                .map_err(|e| js_error(session_error_code(&e), &e.to_string()))?;
        }
        pump(&self.inner);
        Ok(())
    }

    /// Adds a listener: `data`, `failover`, `close`.
    #[wasm_bindgen(skip_typescript)]
    pub fn on(&self, event: SessionEventName, listener: Listener) {
        if let (Some(name), Ok(f)) = (JsValue::from(event).as_string(), listener.dyn_into()) {
            if let Some(s) = self.inner.borrow_mut().sessions.get_mut(&self.id) {
                s.listeners.push((name, f));
            }
        }
    }

    /// The connected pool element's identifier, if connected.
    #[wasm_bindgen(getter)]
    pub fn element(&self) -> Option<String> {
        self.inner
            .borrow()
            .core
            .session_element(self.id)
            .map(|pe| pe.id.to_string())
    }

    /// Ends the session.
    pub fn close(&self) -> Result<(), JsValue> {
        {
            let mut i = self.inner.borrow_mut();
            let now = i.now();
            i.core
                .close_session(self.id, now)
                .map_err(|e| js_error(session_error_code(&e), &e.to_string()))?;
        }
        pump(&self.inner);
        Ok(())
    }
}

fn session_error_code(e: &client_core::pool_user::SessionError) -> &'static str {
    use client_core::pool_user::SessionError::*;
    match e {
        UnknownSession(_) => "session-closed",
        QueueFull(_) => "queue-full",
        NotConnected(_) => "session-failed",
    }
}

fn set_timeout(f: &Function, ms: f64) -> i32 {
    let st = Reflect::get(&js_sys::global(), &"setTimeout".into())
        .ok()
        .and_then(|v| v.dyn_into::<Function>().ok());
    st.and_then(|st| st.call2(&JsValue::NULL, f, &ms.into()).ok())
        .and_then(|v| v.as_f64())
        .map(|v| v as i32)
        .unwrap_or(-1)
}

fn clear_timeout(id: i32) {
    if let Some(ct) = Reflect::get(&js_sys::global(), &"clearTimeout".into())
        .ok()
        .and_then(|v| v.dyn_into::<Function>().ok())
    {
        let _ = ct.call1(&JsValue::NULL, &id.into());
    }
}

/// Drives the core until it has nothing more to say, then arms one timer
/// for its next deadline.
fn pump(shared: &Shared) {
    loop {
        let mut out: Vec<Out> = Vec::new();
        let mut actions = Vec::new();
        let mut progressed = false;
        {
            let mut guard = shared.borrow_mut();
            let i = &mut *guard;
            while let Some(a) = i.core.poll_action() {
                actions.push(a);
            }
            while let Some(t) = i.core.poll_transmit() {
                progressed = true;
                // One ASAP message per binary frame (PPID implied, 11).
                if let Some(ws) = i.sockets.get(&t.channel) {
                    let _ = ws.send_with_u8_array(&t.bytes);
                }
            }
            let at = now_ms() - i.epoch_ms;
            while let Some(e) = i.core.poll_event() {
                progressed = true;
                dispatch(shared, i, e, at, &mut out);
            }
        }
        progressed |= !actions.is_empty();
        for a in actions {
            perform(shared, a, &mut out);
        }
        for o in out {
            match o {
                Out::Call(f, v) => {
                    let _ = f.call1(&JsValue::NULL, &v);
                }
            }
        }
        if !progressed {
            break;
        }
    }
    arm_timer(shared);
}

fn arm_timer(shared: &Shared) {
    let mut i = shared.borrow_mut();
    let Some(deadline) = i.core.poll_timeout() else {
        if let Some((_, t)) = i.timer.take() {
            clear_timeout(t);
        }
        return;
    };
    let at = i.epoch_ms + deadline.as_secs_f64() * 1000.0;
    if let Some((armed, _)) = i.timer {
        if armed == at {
            return;
        }
    }
    if let Some((_, t)) = i.timer.take() {
        clear_timeout(t);
    }
    let weak = Rc::downgrade(shared);
    let cb = Closure::once_into_js(move || {
        if let Some(s) = weak.upgrade() {
            {
                let mut i = s.borrow_mut();
                i.timer = None;
                let now = i.now();
                i.core.handle_timeout(now);
            }
            pump(&s);
        }
    });
    // +1 ms: setTimeout may fire a little early against performance.now().
    let id = set_timeout(cb.unchecked_ref(), (at - now_ms()).max(0.0) + 1.0);
    i.timer = Some((at, id));
}

fn listeners_for(list: &[(String, Function)], name: &str) -> Vec<Function> {
    list.iter()
        .filter(|(n, _)| n == name)
        .map(|(_, f)| f.clone())
        .collect()
}

fn emit(list: &[(String, Function)], name: &str, v: JsValue, out: &mut Vec<Out>) {
    for f in listeners_for(list, name) {
        out.push(Out::Call(f, v.clone()));
    }
}

fn dispatch(shared: &Shared, i: &mut Inner, e: Event, at_ms: f64, out: &mut Vec<Out>) {
    match e {
        Event::Resolved {
            request, elements, ..
        } => {
            if let Some(p) = i.requests.remove(&request) {
                let arr = Array::new();
                for pe in &elements {
                    arr.push(&to_js(&ElementDto::from(pe)));
                }
                out.push(Out::Call(p.resolve, arr.into()));
            }
        }
        Event::ResolveFailed { request, error, .. } => {
            if let Some(p) = i.requests.remove(&request) {
                out.push(Out::Call(
                    p.reject,
                    js_error(dto::resolve_error_code(&error), &error.to_string()),
                ));
            }
        }
        Event::RegistrarChanged { from, to } => {
            let v = to_js(&dto::RegistrarChangeDto {
                from: Some(from),
                to,
            });
            emit(&i.listeners, "registrar-change", v, out);
        }
        Event::RegistrarUp { endpoint, .. } => {
            let v = to_js(&dto::RegistrarChangeDto {
                from: None,
                to: endpoint,
            });
            emit(&i.listeners, "registrar-change", v, out);
        }
        Event::ReportSuppressed {
            pool_handle,
            element,
            limit,
        } => {
            let v = to_js(&dto::ReportSuppressedDto {
                pool_handle: dto::handle_text(&pool_handle),
                element: element.to_string(),
                limit: dto::report_limit(limit),
            });
            emit(&i.listeners, "report-suppressed", v, out);
        }
        Event::SessionUp { session, .. } => {
            if let Some(slot) = i.sessions.get_mut(&session) {
                if let Some(p) = slot.opened.take() {
                    let s = Session {
                        inner: shared.clone(),
                        id: session,
                    };
                    out.push(Out::Call(p.resolve, s.into()));
                }
            }
        }
        Event::SessionWaiting { session, error, .. } => {
            let opening = i.sessions.get(&session).is_some_and(|s| s.opened.is_some());
            if opening {
                // Nobody holds this session yet: stop its retries rather
                // than leave it churning in the background.
                let slot = i.sessions.remove(&session);
                let now = i.now();
                let _ = i.core.close_session(session, now);
                if let Some(p) = slot.and_then(|s| s.opened) {
                    out.push(Out::Call(
                        p.reject,
                        js_error(
                            "session-failed",
                            &format!("session could not start: {error}"),
                        ),
                    ));
                }
            }
        }
        Event::SessionData {
            session,
            ppid,
            bytes,
        } => {
            if let Some(slot) = i.sessions.get(&session) {
                let v = js_sys::Object::new();
                let _ = Reflect::set(&v, &"ppid".into(), &ppid.into());
                let _ = Reflect::set(&v, &"bytes".into(), &Uint8Array::from(&bytes[..]).into());
                emit(&slot.listeners, "data", v.into(), out);
            }
        }
        Event::Failover(n) => {
            if let Some(slot) = i.sessions.get(&n.session) {
                let v = to_js(&FailoverDto {
                    old_element: n.old_element.to_string(),
                    new_element: n.new_element.to_string(),
                    reason: dto::failover_reason(&n.reason),
                    failed_elements: n.failed_elements.iter().map(|e| e.to_string()).collect(),
                    cookie_replayed: n.cookie_replayed,
                    security_changed: n.security_changed,
                    old_security: (&n.old_security).into(),
                    new_security: (&n.new_security).into(),
                });
                emit(&slot.listeners, "failover", v, out);
            }
        }
        Event::SessionClosed { session, reason } => {
            if let Some(slot) = i.sessions.remove(&session) {
                let v = js_sys::Object::new();
                let _ = Reflect::set(&v, &"reason".into(), &format!("{reason:?}").into());
                emit(&slot.listeners, "close", v.into(), out);
            }
        }
        Event::Error { error, .. } => {
            emit(&i.listeners, "error", js_error("protocol", &error), out);
        }
        Event::MessageSent { channel, message } => {
            let v = to_js(&TraceDto::new("sent", channel.0, at_ms, &message));
            emit(&i.listeners, "trace", v, out);
        }
        Event::MessageReceived { channel, message } => {
            let v = to_js(&TraceDto::new("received", channel.0, at_ms, &message));
            emit(&i.listeners, "trace", v, out);
        }
        _ => {}
    }
}

fn perform(shared: &Shared, a: Action, out: &mut Vec<Out>) {
    match a {
        Action::ConnectRegistrar { channel, endpoint } => open_socket(shared, channel, &endpoint),
        Action::ConnectPoolElement {
            channel, element, ..
        } => {
            let mut i = shared.borrow_mut();
            let now = i.now();
            emit(
                &i.listeners,
                "error",
                js_error(
                    "no-element-transport",
                    &format!(
                        "pool element {} needs the gateway session framing, not available yet",
                        element.id
                    ),
                ),
                out,
            );
            i.core
                .handle_closed(channel, CloseReason::ConnectFailed, now);
        }
        Action::Close { channel } => {
            let mut i = shared.borrow_mut();
            bury(i.closures.remove(&channel));
            if let Some(ws) = i.sockets.remove(&channel) {
                clear_handlers(&ws);
                let _ = ws.close();
            }
        }
    }
}

/// Drops a channel's callbacks after the current JS task: one of them may
/// be running right now (a close or message handler that ended the
/// channel), and dropping a running closure is an error.
fn bury(callbacks: Option<Vec<Callback>>) {
    if let Some(cbs) = callbacks {
        wasm_bindgen_futures::spawn_local(async move { drop(cbs) });
    }
}

fn clear_handlers(ws: &WebSocket) {
    ws.set_onopen(None);
    ws.set_onmessage(None);
    ws.set_onclose(None);
    ws.set_onerror(None);
}

fn open_socket(shared: &Shared, channel: ChannelId, url: &str) {
    let ws = match WebSocket::new(url) {
        Ok(ws) => Rc::new(ws),
        Err(_) => {
            let mut i = shared.borrow_mut();
            let now = i.now();
            i.core
                .handle_closed(channel, CloseReason::ConnectFailed, now);
            return;
        }
    };
    ws.set_binary_type(BinaryType::Arraybuffer);
    let tls = url.starts_with("wss://");
    let opened = Rc::new(std::cell::Cell::new(false));

    let w = Rc::downgrade(shared);
    let op = opened.clone();
    let onopen = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        op.set(true);
        if let Some(s) = w.upgrade() {
            {
                let mut i = s.borrow_mut();
                let now = i.now();
                let sec = PathSecurity {
                    transport: "websocket".into(),
                    tls,
                    authenticated_peer: None,
                    via_gateway: true,
                };
                i.core.handle_connected(channel, sec, now);
            }
            pump(&s);
        }
    });
    let w = Rc::downgrade(shared);
    let onmessage = Closure::<dyn FnMut(JsValue)>::new(move |ev: JsValue| {
        let Some(s) = w.upgrade() else { return };
        // Not `dyn_into::<MessageEvent>`: Node's `ws` has its own event
        // class, so read `data` structurally.
        let data = ev
            .dyn_ref::<MessageEvent>()
            .map(|e| e.data())
            .unwrap_or_else(|| Reflect::get(&ev, &"data".into()).unwrap_or(JsValue::NULL));
        {
            let mut i = s.borrow_mut();
            let now = i.now();
            if data.is_instance_of::<js_sys::ArrayBuffer>() {
                let bytes = Uint8Array::new(&data).to_vec();
                i.core
                    .handle_received(channel, consts::PPID_ASAP, &bytes, now);
            } else {
                // A text frame is not ASAP: treat as a broken channel.
                i.core.handle_closed(channel, CloseReason::Aborted, now);
            }
        }
        pump(&s);
    });
    let w = Rc::downgrade(shared);
    let op = opened.clone();
    let onclose = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        let Some(s) = w.upgrade() else { return };
        {
            let mut i = s.borrow_mut();
            let Some(ws) = i.sockets.remove(&channel) else {
                return;
            };
            clear_handlers(&ws);
            bury(i.closures.remove(&channel));
            let now = i.now();
            // A browser does not say why a handshake failed (an untrusted
            // certificate looks like any refused connection).
            let reason = if op.get() {
                CloseReason::Aborted
            } else {
                CloseReason::ConnectFailed
            };
            i.core.handle_closed(channel, reason, now);
        }
        pump(&s);
    });
    // The close event that follows an error does the work; a handler must
    // exist all the same (Node's `ws` throws an unhandled `error` otherwise).
    let onerror = Closure::<dyn FnMut(JsValue)>::new(|_| {});
    ws.set_onerror(Some(onerror.as_ref().unchecked_ref()));
    ws.set_onopen(Some(onopen.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    ws.set_onclose(Some(onclose.as_ref().unchecked_ref()));
    let mut i = shared.borrow_mut();
    i.sockets.insert(channel, ws);
    i.closures
        .insert(channel, vec![onopen, onmessage, onclose, onerror]);
}
