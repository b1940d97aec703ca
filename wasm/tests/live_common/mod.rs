//! Shared by the live browser tests: the lab's gateway URLs, a gateway the
//! browser does not trust, and the loopback helper that kills PEs, all from
//! `wasm/js/live-browser-env.mjs` via scripts/test.d/60-live.sh at compile
//! time (a test page has no environment).
#![allow(dead_code)]

use js_sys::{Array, Function, Promise, Reflect};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

const GATEWAYS: &str = match option_env!("RSERPOOL_LIVE_GATEWAYS") {
    Some(u) => u,
    None => "",
};
pub const ROGUE: &str = match option_env!("RSERPOOL_LIVE_ROGUE") {
    Some(u) => u,
    None => "",
};
const HELPER: &str = match option_env!("RSERPOOL_LIVE_HELPER") {
    Some(u) => u,
    None => "",
};

/// The lab gateway's URLs, one per RSPLIB registrar.
pub fn gateways() -> Vec<&'static str> {
    let g: Vec<&str> = GATEWAYS.split(',').filter(|s| !s.is_empty()).collect();
    assert!(
        g.len() >= 2 && !ROGUE.is_empty() && !HELPER.is_empty(),
        "run through scripts/test.d/60-live.sh (needs the lab's gateway URLs)"
    );
    g
}

/// `{ gateways: [...], trace: false }`.
pub fn options(gateways: &[&str]) -> JsValue {
    let o = js_sys::Object::new();
    let list = Array::new();
    for g in gateways {
        list.push(&JsValue::from_str(g));
    }
    Reflect::set(&o, &"gateways".into(), &list).unwrap();
    Reflect::set(&o, &"trace".into(), &JsValue::FALSE).unwrap();
    o.into()
}

pub fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &k.into()).unwrap()
}

fn global_fn(name: &str) -> Function {
    Reflect::get(&js_sys::global(), &name.into())
        .unwrap()
        .unchecked_into()
}

pub async fn sleep_ms(ms: u32) {
    let p = Promise::new(&mut |r, _| {
        global_fn("setTimeout")
            .call2(&JsValue::NULL, &r, &JsValue::from(ms))
            .unwrap();
    });
    JsFuture::from(p).await.unwrap();
}

/// Waits until `pred` holds for what the listeners collected; the test
/// runner's timeout bounds it (no timed assertions).
pub async fn until<T>(cell: &Rc<RefCell<Vec<T>>>, pred: impl Fn(&[T]) -> bool) {
    while !pred(&cell.borrow()) {
        sleep_ms(5).await;
    }
}

/// SIGKILLs the RSPLIB PE listening on SCTP `port` inside the lab, through
/// the loopback helper (`GET /kill-pe?port=N`).
pub async fn kill_pe(port: u32) {
    let url = format!("{HELPER}/kill-pe?port={port}");
    let resp = JsFuture::from(Promise::from(
        global_fn("fetch")
            .call1(&JsValue::NULL, &url.as_str().into())
            .unwrap(),
    ))
    .await
    .expect("kill helper unreachable");
    let text: Function = get(&resp, "text").unchecked_into();
    let body = JsFuture::from(Promise::from(text.call0(&resp).unwrap()))
        .await
        .unwrap()
        .as_string()
        .unwrap_or_default();
    assert_eq!(get(&resp, "status").as_f64(), Some(200.0), "{body}");
}
