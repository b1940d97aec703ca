//! The binding in headless Chromium against the REAL lab: our gateway in the
//! lab VM and live RSPLIB registrars and echo PEs behind it. Built and run
//! by scripts/test.d/60-live.sh (URLs at compile time, see `live_common`);
//! Chromium trusts exactly the lab gateway's key. These tests change
//! nothing in the lab; the PE kill is in `browser_live_failover.rs`.
#![cfg(target_arch = "wasm32")]

mod live_common;

use js_sys::Array;
use live_common::{gateways, get, options, ROGUE};
use rserpool_wasm::PoolUser;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

async fn resolve(pu: &PoolUser, pool: &str) -> Result<JsValue, JsValue> {
    JsFuture::from(js_sys::Promise::from(JsValue::from(pu.resolve(pool)))).await
}

/// The lab topology: 4 echo PEs registered with RSPLIB registrars
/// 0x10000001..3 (lab/topology/default.toml).
fn assert_echo_pool(v: &JsValue, at: &str) {
    let arr: Array = v.clone().dyn_into().unwrap();
    assert_eq!(arr.length(), 4, "{at}");
    for pe in arr.iter() {
        let id = get(&pe, "identifier").as_string().unwrap();
        assert!(id.len() == 10 && id.starts_with("0x"), "{id}");
        let home = get(&pe, "homeRegistrar").as_string().unwrap();
        assert!(
            ["0x10000001", "0x10000002", "0x10000003"].contains(&home.as_str()),
            "{home}"
        );
        assert_eq!(get(&pe, "transport").as_string().unwrap(), "sctp");
        assert!(get(&pe, "port").as_f64().unwrap() > 0.0);
        assert!(Array::from(&get(&pe, "addresses")).length() > 0);
    }
}

#[wasm_bindgen_test]
async fn resolves_echo_pool_at_every_registrar_through_the_gateway() {
    for g in gateways() {
        let pu = PoolUser::new(options(&[g]).unchecked_into()).unwrap();
        let v = resolve(&pu, "EchoPool").await.unwrap();
        assert_echo_pool(&v, g);
        assert_eq!(pu.home_registrar().as_deref(), Some(g));
        pu.close();
    }
}

#[wasm_bindgen_test]
async fn untrusted_first_gateway_is_skipped_and_the_second_used() {
    // Chromium refuses the rogue gateway's certificate (another CA, key not
    // in the trusted list) in the TLS handshake; the pool user hunts on to
    // the next registrar URL (RFC 5352 §3.4).
    let g = gateways()[0];
    let pu = PoolUser::new(options(&[ROGUE, g]).unchecked_into()).unwrap();
    let v = resolve(&pu, "EchoPool").await.unwrap();
    assert_echo_pool(&v, g);
    assert_eq!(pu.home_registrar().as_deref(), Some(g));
    pu.close();
}

#[wasm_bindgen_test]
async fn untrusted_gateway_alone_is_refused() {
    // The rogue gateway is a working gateway: failing here shows the
    // browser refused its certificate, so the skip above is not a race.
    let pu = PoolUser::new(options(&[ROGUE]).unchecked_into()).unwrap();
    let err = resolve(&pu, "EchoPool").await.unwrap_err();
    assert!(err.is_instance_of::<js_sys::Error>());
    assert_eq!(
        get(&err, "code").as_string().unwrap(),
        "no-registrar-reachable"
    );
    pu.close();
}

#[wasm_bindgen_test]
async fn unknown_pool_is_rejected_by_rsplib_with_a_coded_error() {
    let pu = PoolUser::new(options(&[gateways()[0]]).unchecked_into()).unwrap();
    let err = resolve(&pu, "NoSuchPool").await.unwrap_err();
    assert!(err.is_instance_of::<js_sys::Error>());
    assert_eq!(get(&err, "code").as_string().unwrap(), "no-such-pool");
    pu.close();
}
