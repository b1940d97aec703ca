//! A session in headless Chromium against the REAL lab: echo through an
//! RSPLIB PE, kill that PE inside the lab (through the loopback helper of
//! `wasm/js/live-browser-env.mjs`), observe the `failover` event and the
//! next echo from another PE. Run by scripts/test.d/60-live.sh, which
//! restores the topology afterwards.
#![cfg(target_arch = "wasm32")]

mod live_common;

use js_sys::Array;
use live_common::{gateways, get, kill_pe, options, sleep_ms, until};
use rserpool_wasm::{PoolUser, Session};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn session_echo_pe_killed_failover_and_next_echo_from_another_pe() {
    let gws = gateways();
    let pu = PoolUser::new(options(&gws).unchecked_into()).unwrap();
    let pes: Array = JsFuture::from(js_sys::Promise::from(JsValue::from(pu.resolve("EchoPool"))))
        .await
        .unwrap()
        .dyn_into()
        .unwrap();
    let s: Session = {
        let v = JsFuture::from(js_sys::Promise::from(JsValue::from(
            pu.session("EchoPool", Some(0)),
        )))
        .await
        .unwrap();
        <Session as wasm_bindgen::convert::TryFromJsValue>::try_from_js_value(v).unwrap()
    };
    let first = s.element().unwrap();

    let data: Rc<RefCell<Vec<String>>> = Rc::default();
    let failovers: Rc<RefCell<Vec<JsValue>>> = Rc::default();
    let d = data.clone();
    let on_data = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let bytes = js_sys::Uint8Array::new(&get(&e, "bytes")).to_vec();
        d.borrow_mut()
            .push(String::from_utf8_lossy(&bytes).into_owned());
    });
    let f = failovers.clone();
    let on_failover = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| f.borrow_mut().push(e));
    s.on(
        JsValue::from_str("data").unchecked_into(),
        on_data.as_ref().clone().unchecked_into(),
    );
    s.on(
        JsValue::from_str("failover").unchecked_into(),
        on_failover.as_ref().clone().unchecked_into(),
    );

    // RSPLIB's echo server sends the bytes back unchanged.
    s.send(b"hello", None).unwrap();
    until(&data, |d| d.iter().any(|m| m == "hello")).await;

    let pe = pes
        .iter()
        .find(|p| get(p, "identifier").as_string().as_deref() == Some(first.as_str()))
        .unwrap_or_else(|| panic!("session PE {first} not in the resolution"));
    kill_pe(get(&pe, "port").as_f64().unwrap() as u32).await;

    // The kill aborts the PE's SCTP association; data sent meanwhile also
    // makes the gateway notice. Either way the pool user fails over to
    // another PE (RFC 5352 §3.9-3.10).
    while failovers.borrow().is_empty() {
        let _ = s.send(b"ping", None);
        sleep_ms(250).await;
    }
    let fo = failovers.borrow()[0].clone();
    assert_eq!(failovers.borrow().len(), 1);
    assert_eq!(get(&fo, "oldElement").as_string().unwrap(), first);
    let new = get(&fo, "newElement").as_string().unwrap();
    assert_ne!(new, first);
    assert!(
        pes.iter()
            .any(|p| get(&p, "identifier").as_string().as_deref() == Some(new.as_str())),
        "new PE {new} not in the resolution"
    );
    assert_eq!(s.element().as_deref(), Some(new.as_str()));

    s.send(b"again", None).unwrap();
    until(&data, |d| d.iter().any(|m| m == "again")).await;
    assert_eq!(s.element().as_deref(), Some(new.as_str()));
    s.close().unwrap();
    pu.close();
}
