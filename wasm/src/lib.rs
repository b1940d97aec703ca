//! Browser and Node binding of the sans-IO pool user
//! (`client_core::pool_user::PoolUser`). The pool user decides everything
//! (registrar hunt RFC 5352 §3.4, resolution §3.5, failover §3.9-3.10);
//! this crate only moves bytes between it and WebSockets, feeds it time
//! (`performance.now()`) and timers (`setTimeout`), and turns its events
//! into promises and JS events.
//!
//! Transport: the gateway subprotocol `rserpool.asap.v1`
//! (docs/gateway-protocol.md), spoken by client-core's sans-IO gateway
//! link (`client_core::gateway_link::GatewayLinks`), as in the native
//! client: the link turns the pool user's actions into WebSockets to open,
//! frames to send and sockets to close, and the frames and closes this
//! binding reports into the pool user's inputs. What a gateway notice
//! means is decided there, once; here a link problem only becomes an
//! `error` event (docs/architecture.md, "Drivers are thin").

mod dto;

// SAFETY: this module is built without threads (no atomics target
// feature), the one condition of `TalckWasm::new_global`.
#[cfg(target_family = "wasm")]
#[global_allocator]
static ALLOCATOR: talc::TalckWasm = unsafe { talc::TalckWasm::new_global() };

use std::cell::RefCell;
// A sorted-Vec map, as in client-core: these tables hold a handful of
// entries, and hashbrown would add ~13 KB of code to the browser download.
use litemap::LiteMap as Map;
use std::rc::Rc;
use std::time::Duration;

use client_core::gateway_link::{GatewayLinks, LinkOutput, LinkProblem};
use client_core::pool_user::{
    Action, ChannelId, CloseReason, Config, Event, PoolUser as Core, RequestId, SessionId,
};
use client_core::wire::PoolHandle;
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
  /**
   * The gateway's token, when it requires one (docs/gateway.md, "Token").
   * Sent the way a browser can: as the WebSocket subprotocol value
   * `rserpool.token.<base64url>` offered beside `rserpool.asap.v1`.
   */
  token?: string;
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

/** Why a session left its pool element. */
export type FailoverReason = "channel-closed" | "connect-timeout" | "reported-by-application";

/** How a channel ended. */
export type ChannelCloseReason = "closed" | "aborted" | "connect-failed" | "authentication-failed";

/** RFC 5355 §2.9: what changed under a session. */
export interface FailoverEvent {
  oldElement: string;
  newElement: string;
  reason: FailoverReason;
  /** For `channel-closed`: how the channel to the old element ended; otherwise null. */
  closeReason: ChannelCloseReason | null;
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
/** Why a session ended. */
export type SessionCloseReason = "by-application";

export interface CloseEvent { reason: SessionCloseReason; }

export type PoolUserErrorCode =
  | "bad-options" | "no-such-pool" | "no-usable-element" | "no-registrar-reachable"
  | "timeout" | "refused" | "session-failed" | "session-closed" | "queue-full"
  | "protocol" | "no-element-transport" | "gateway-notice" | "closed";

/** Errors thrown or emitted: a standard `Error` with a stable `code`. */
export interface PoolUserError extends Error {
  code: PoolUserErrorCode;
  /** For `gateway-notice`: the gateway's notice slug, e.g. "rate-limited". */
  notice?: string;
}

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
    token: Option<String>,
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
                            "gateway \"{g}\" is not a ws:// or wss:// URL"
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
            "token" => {
                let t = val
                    .as_string()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| bad_option("token must be a non-empty string"))?;
                o.token = Some(t);
            }
            _ => return Err(bad_option(&format!("unknown option \"{key}\""))),
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

/// Milliseconds to a `Duration`, saturating: the float-to-int cast maps
/// negatives and NaN to 0 and huge values (`responseTimeoutMs: 1e300`) to
/// the maximum, where `Duration::from_secs_f64` would panic (and its checks
/// and messages would ship in the download).
fn ms_to_duration(ms: f64) -> Duration {
    Duration::from_nanos((ms * 1e6) as u64)
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
    /// The gateway links (client-core): what to open, send and close.
    links: GatewayLinks,
    /// Registrar channel → the WebSocket of its gateway link.
    sockets: Map<ChannelId, Socket>,
    requests: Map<RequestId, Pending>,
    sessions: Map<SessionId, SessionSlot>,
    listeners: Vec<(String, Function)>,
    timer: Option<(f64, i32)>,
}

impl Inner {
    fn now(&self) -> Duration {
        ms_to_duration(now_ms() - self.epoch_ms)
    }
}

/// The WebSocket of one gateway link (one registrar association plus the
/// pool-element sessions opened through it).
struct Socket {
    ws: WebSocket,
    /// Keeps the socket callbacks alive as long as the socket.
    callbacks: Vec<Callback>,
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
            cfg.registrar_connect_timeout = ms_to_duration(ms);
        }
        if let Some(ms) = o.response_timeout_ms {
            cfg.response_timeout = ms_to_duration(ms);
        }
        if let Some(r) = o.hunt_rounds {
            cfg.hunt_rounds = (r as u32).max(1);
        }
        let mut links = GatewayLinks::new();
        links.set_token(o.token.as_deref());
        let inner = Rc::new(RefCell::new(Inner {
            core: Core::new(cfg),
            epoch_ms: now_ms(),
            links,
            sockets: Map::new(),
            requests: Map::new(),
            sessions: Map::new(),
            listeners: Vec::new(),
            timer: None,
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
        // Taken out under the borrow, used after it: rejecting calls JS,
        // which may call back into the pool user.
        let (sockets, reqs, sessions) = {
            let mut i = self.inner.borrow_mut();
            if let Some((_, t)) = i.timer.take() {
                clear_timeout(t);
            }
            i.links.close_all();
            (
                std::mem::take(&mut i.sockets),
                std::mem::take(&mut i.requests),
                std::mem::take(&mut i.sessions),
            )
        };
        let err = js_error("closed", "pool user closed");
        let rejects = reqs.values().map(|p| &p.reject).chain(
            sessions
                .values()
                .filter_map(|s| s.opened.as_ref().map(|p| &p.reject)),
        );
        for s in sockets.values() {
            clear_handlers(&s.ws);
            let _ = s.ws.close();
        }
        for r in rejects {
            let _ = r.call1(&JsValue::NULL, &err);
        }
        // Callbacks outlive this task (one of them may be running now).
        bury(Some(
            sockets
                .into_tuple_vec()
                .into_iter()
                .flat_map(|(_, s)| s.callbacks)
                .collect(),
        ));
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
        let mut progressed = false;
        {
            let mut guard = shared.borrow_mut();
            let i = &mut *guard;
            // Transmits before actions: a message queued before its
            // channel's close still goes out.
            while let Some(t) = i.core.poll_transmit() {
                progressed = true;
                i.links.transmit(t);
            }
            while let Some(a) = i.core.poll_action() {
                progressed = true;
                let app_ppid = match &a {
                    Action::ConnectPoolElement { session, .. } => {
                        i.core.session_app_ppid(*session).unwrap_or(0)
                    }
                    _ => 0,
                };
                i.links.perform(a, app_ppid, i.core.home_registrar());
            }
            let at = now_ms() - i.epoch_ms;
            while let Some(e) = i.core.poll_event() {
                progressed = true;
                dispatch(shared, i, e, at, &mut out);
            }
            // After the events: what the links tell the pool user raises
            // events of its own, dispatched in the next round.
            while let Some(o) = i.links.poll() {
                progressed = true;
                link_output(shared, i, o, &mut out);
            }
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

fn emit(list: &[(String, Function)], name: &str, v: JsValue, out: &mut Vec<Out>) {
    for (n, f) in list {
        if n == name {
            out.push(Out::Call(f.clone(), v.clone()));
        }
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
                    reason: n.reason.as_str(),
                    close_reason: n.reason.close_reason().map(|c| c.as_str()),
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
                let _ = Reflect::set(&v, &"reason".into(), &JsValue::from_str(reason.as_str()));
                emit(&slot.listeners, "close", v.into(), out);
            }
        }
        Event::Error { error, .. } => {
            emit(
                &i.listeners,
                "error",
                js_error("protocol", &error.to_string()),
                out,
            );
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

/// Drops a channel's callbacks after the current JS task: one of them may
/// be running right now (a close or message handler that ended the
/// channel), and dropping a running closure is an error.
fn bury(callbacks: Option<Vec<Callback>>) {
    if let Some(cbs) = callbacks {
        // A zero-delay timer rather than a spawned future: the same "after
        // this task", without the futures executor in the download.
        let later = Closure::once_into_js(move || drop(cbs));
        set_timeout(later.unchecked_ref(), 0.0);
    }
}

thread_local! {
    /// A handler that ignores its event, created once and never dropped.
    static IGNORE: JsValue = Closure::<dyn FnMut(JsValue)>::new(|_: JsValue| {}).into_js_value();
}

fn clear_handlers(ws: &WebSocket) {
    ws.set_onopen(None);
    ws.set_onmessage(None);
    ws.set_onclose(None);
    // Not None: closing a socket that is still CONNECTING (a registrar hunt
    // that another gateway won) fires `error`, and Node's `ws` turns an
    // error nobody listens to into an uncaught exception.
    IGNORE.with(|f| ws.set_onerror(Some(f.unchecked_ref())));
}

/// Carries out one output of the gateway links: a socket operation, or an
/// input of the pool user, or an `error` event.
fn link_output(shared: &Shared, i: &mut Inner, o: LinkOutput, out: &mut Vec<Out>) {
    let now = i.now();
    match o {
        LinkOutput::Open {
            link,
            url,
            protocols,
        } => match open_socket(shared, link, &url, &protocols) {
            Some(s) => {
                i.sockets.insert(link, s);
            }
            None => i.links.handle_open_failed(link, CloseReason::ConnectFailed),
        },
        LinkOutput::Send { link, frame } => {
            if let Some(s) = i.sockets.get(&link) {
                let _ = s.ws.send_with_u8_array(&frame);
            }
        }
        LinkOutput::Close { link } => {
            if let Some(s) = forget_socket(i, link) {
                let _ = s.close();
            }
        }
        LinkOutput::Connected { channel, security } => {
            i.core.handle_connected(channel, security, now)
        }
        LinkOutput::Received {
            channel,
            ppid,
            payload,
        } => i.core.handle_received(channel, ppid, &payload, now),
        LinkOutput::Closed { channel, reason } => {
            // A registrar channel's socket has closed (or never opened).
            forget_socket(i, channel);
            i.core.handle_closed(channel, reason, now);
        }
        LinkOutput::Problem(p) => {
            let code = match &p {
                LinkProblem::NoElementTransport { .. } => "no-element-transport",
                LinkProblem::Refused { .. } => "gateway-notice",
                _ => "protocol",
            };
            let e = js_error(code, &p.to_string());
            if let LinkProblem::Refused { code, .. } = &p {
                let _ = Reflect::set(&e, &"notice".into(), &code.slug().into());
            }
            emit(&i.listeners, "error", e, out);
        }
    }
}

/// Drops the socket of `link` from the table and silences it; its
/// callbacks go after this task. Returns the socket to close, if any.
fn forget_socket(i: &mut Inner, link: ChannelId) -> Option<WebSocket> {
    let s = i.sockets.remove(&link)?;
    clear_handlers(&s.ws);
    bury(Some(s.callbacks));
    Some(s.ws)
}

/// Opens the WebSocket of a gateway link and wires its events to the links;
/// `None` if the browser refuses the URL at once.
fn open_socket(
    shared: &Shared,
    link: ChannelId,
    url: &str,
    protocols: &[String],
) -> Option<Socket> {
    let offered: Array = protocols.iter().map(|p| JsValue::from_str(p)).collect();
    let ws = WebSocket::new_with_str_sequence(url, &offered).ok()?;
    ws.set_binary_type(BinaryType::Arraybuffer);

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
            if data.is_instance_of::<js_sys::ArrayBuffer>() {
                let bytes = Uint8Array::new(&data).to_vec();
                i.links.handle_frame(link, &bytes);
            } else {
                i.links.handle_text_frame(link);
            }
        }
        pump(&s);
    });
    let w = Rc::downgrade(shared);
    let onclose = Closure::<dyn FnMut(JsValue)>::new(move |_| {
        let Some(s) = w.upgrade() else { return };
        // A browser does not say why a handshake failed (an untrusted
        // certificate looks like any refused connection): the link decides
        // from what the gateway said before.
        s.borrow_mut().links.handle_socket_closed(link);
        pump(&s);
    });
    // The close event that follows an error does the work; a handler must
    // exist all the same (Node's `ws` throws an unhandled `error` otherwise).
    let onerror = Closure::<dyn FnMut(JsValue)>::new(|_| {});
    ws.set_onerror(Some(onerror.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    ws.set_onclose(Some(onclose.as_ref().unchecked_ref()));
    Some(Socket {
        ws,
        callbacks: vec![onmessage, onclose, onerror],
    })
}
