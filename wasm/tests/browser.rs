//! The binding in headless Chromium (wasm-bindgen-test), against the
//! loopback stand-in gateway started by scripts/test.d/50-wasm.sh
//! (`wasm/js/fake-gateway.mjs`), whose URLs arrive at compile time.
#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Reflect};
use rserpool_wasm::PoolUser;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const GATEWAY: &str = match option_env!("RSERPOOL_TEST_GATEWAY") {
    Some(u) => u,
    None => "",
};
const UNTRUSTED: &str = match option_env!("RSERPOOL_TEST_UNTRUSTED") {
    Some(u) => u,
    None => "",
};

fn options(gateways: &[&str]) -> JsValue {
    assert!(
        !GATEWAY.is_empty() && !UNTRUSTED.is_empty(),
        "run through scripts/test.d/50-wasm.sh (needs the fake gateway URLs)"
    );
    let o = js_sys::Object::new();
    let list = Array::new();
    for g in gateways {
        list.push(&JsValue::from_str(g));
    }
    Reflect::set(&o, &"gateways".into(), &list).unwrap();
    o.into()
}

fn get(v: &JsValue, k: &str) -> JsValue {
    Reflect::get(v, &k.into()).unwrap()
}

#[wasm_bindgen_test]
async fn resolve_echo_pool_in_the_browser() {
    let pu = PoolUser::new(options(&[GATEWAY]).unchecked_into()).unwrap();
    let v = JsFuture::from(js_sys::Promise::from(JsValue::from(pu.resolve("EchoPool"))))
        .await
        .unwrap();
    let arr: Array = v.dyn_into().unwrap();
    // RSPLIB's captured answer: three echo PEs.
    assert_eq!(arr.length(), 3);
    let pe = arr.get(0);
    assert_eq!(get(&pe, "identifier").as_string().unwrap(), "0x0e000003");
    assert_eq!(get(&pe, "homeRegistrar").as_string().unwrap(), "0x10000002");
    pu.close();
}

#[wasm_bindgen_test]
async fn untrusted_first_gateway_is_skipped() {
    // The browser refuses the self-signed certificate in the handshake; the
    // pool user hunts on to the second URL (RFC 5352 §3.4).
    let pu = PoolUser::new(options(&[UNTRUSTED, GATEWAY]).unchecked_into()).unwrap();
    let v = JsFuture::from(js_sys::Promise::from(JsValue::from(pu.resolve("EchoPool"))))
        .await
        .unwrap();
    assert_eq!(Array::from(&v).length(), 3);
    assert_eq!(pu.home_registrar().as_deref(), Some(GATEWAY));
    pu.close();
}

#[wasm_bindgen_test]
async fn unknown_pool_rejects_with_a_coded_error() {
    let pu = PoolUser::new(options(&[GATEWAY]).unchecked_into()).unwrap();
    let err = JsFuture::from(js_sys::Promise::from(JsValue::from(
        pu.resolve("NoSuchPool"),
    )))
    .await
    .unwrap_err();
    assert!(err.is_instance_of::<js_sys::Error>());
    assert_eq!(get(&err, "code").as_string().unwrap(), "no-such-pool");
    pu.close();
}

#[wasm_bindgen_test]
async fn untrusted_gateway_alone_is_refused() {
    // The same stand-in answers any client that completes the handshake, so
    // this failing shows Chromium refused the certificate: the skip above
    // is not just a race won by the good gateway.
    let pu = PoolUser::new(options(&[UNTRUSTED]).unchecked_into()).unwrap();
    let err = JsFuture::from(js_sys::Promise::from(JsValue::from(pu.resolve("EchoPool"))))
        .await
        .unwrap_err();
    assert_eq!(
        get(&err, "code").as_string().unwrap(),
        "no-registrar-reachable"
    );
    pu.close();
}

/// Resolves when `cell` holds a value; polled from a `setTimeout` loop so
/// the test awaits events without timing assertions.
async fn until(cell: &std::rc::Rc<std::cell::RefCell<Vec<JsValue>>>, n: usize) {
    while cell.borrow().len() < n {
        let p = js_sys::Promise::new(&mut |r, _| {
            let g = js_sys::global();
            let st: js_sys::Function = Reflect::get(&g, &"setTimeout".into())
                .unwrap()
                .unchecked_into();
            st.call2(&JsValue::NULL, &r, &JsValue::from(5)).unwrap();
        });
        JsFuture::from(p).await.unwrap();
    }
}

#[wasm_bindgen_test]
async fn session_echo_failover_and_next_echo_in_the_browser() {
    use std::cell::RefCell;
    use std::rc::Rc;
    use wasm_bindgen::closure::Closure;
    let pu = PoolUser::new(options(&[GATEWAY]).unchecked_into()).unwrap();
    let s: rserpool_wasm::Session = {
        let v = JsFuture::from(js_sys::Promise::from(JsValue::from(
            pu.session("EchoPool", Some(0)),
        )))
        .await
        .unwrap();
        // The promise resolves with the exported `Session` object.
        <rserpool_wasm::Session as wasm_bindgen::convert::TryFromJsValue>::try_from_js_value(v)
            .unwrap()
    };
    let first = s.element().unwrap();
    let data = Rc::new(RefCell::new(Vec::new()));
    let failovers = Rc::new(RefCell::new(Vec::new()));
    let d = data.clone();
    let on_data = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let bytes = js_sys::Uint8Array::from(get(&e, "bytes")).to_vec();
        d.borrow_mut()
            .push(JsValue::from_str(&String::from_utf8_lossy(&bytes)));
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
    s.send(b"hello", None).unwrap();
    until(&data, 1).await;
    assert_eq!(
        data.borrow()[0].as_string().unwrap(),
        format!("{first}:hello")
    );
    // The stand-in gateway aborts this PE's association and marks it dead.
    s.send(b"kill", None).unwrap();
    until(&failovers, 1).await;
    let fo = failovers.borrow()[0].clone();
    assert_eq!(get(&fo, "oldElement").as_string().unwrap(), first);
    let new = get(&fo, "newElement").as_string().unwrap();
    assert_ne!(new, first);
    assert_eq!(get(&fo, "cookieReplayed").as_bool(), Some(true));
    s.send(b"again", None).unwrap();
    until(&data, 2).await;
    assert_eq!(
        data.borrow()[1].as_string().unwrap(),
        format!("{new}:again")
    );
    pu.close();
}
