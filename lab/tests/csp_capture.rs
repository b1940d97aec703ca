//! The Component Status decoder on reports captured live from RSPLIB 3.4.4
//! in the lab (the agent's collector, forwarded as received; topology of
//! tests/tests/lab_page.rs: registrars 0x20000001 and 0x20000002, CSP every
//! 500 ms). The layout is in docs/lab-page.md.

use rserpool_lab::csp::{decode, ComponentId, ComponentKind};

/// registrar-east, 4.6 s after boot: 7 ENRP associations (its peer and
/// the `hsdump` processes that asked it for its handlespace).
const REGISTRAR: &[&str] = &[
    "010001c8000002000100000020000001000000000045d78d0007a120286e6f6e65293a2031302e312e302e313a333836",
    "330000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "000000000000000000000000335b315d2050457320696e203220506f6f6c732c20372050656572730000000000000000",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000ffff0007",
    "0100000000000000ffffffffffffffff000000840000000c010000000e1942bbffffffffffffffff000000840000000c",
    "010000004722e3f4ffffffffffffffff000000840000000c01000000554df5f2ffffffffffffffff000000840000000c",
    "010000007ac4f91affffffffffffffff000000840000000c010000009cfdc210ffffffffffffffff000000840000000c",
    "01000000b9838d81ffffffffffffffff000000840000000c",
];

/// A PE of OtherPool at registrar-west: one ASAP association.
const POOL_ELEMENT: &[&str] = &[
    "0100013800000200020000004f48fdb80000000000173af10007a120286e6f6e65293a2031302e302e322e31353a3432",
    "3732352c2031302e312e302e312c2031302e312e302e322c20666563303a3a353035343a66663a666531323a33343536",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "000000000000000000000000302053657373696f6e730000000000000000000000000000000000000000000000000000",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000ffff0001",
    "010000000000000000000000001708d1000000840000000b",
];

fn bytes(hex: &[&str]) -> Vec<u8> {
    hex::decode(hex.concat()).expect("hex")
}

#[test]
fn a_registrar_report_lists_its_enrp_associations() {
    let d = bytes(REGISTRAR);
    assert_eq!(d.len(), 288 + 24 * 7);
    let r = decode(&d).expect("decodes");
    assert_eq!(r.sender, ComponentId(0x0100_0000_2000_0001));
    assert_eq!(r.sender.kind(), ComponentKind::Registrar);
    assert_eq!(r.sender.object(), 0x2000_0001);
    assert!(!r.final_report);
    assert_eq!(r.interval_us, 500_000);
    assert_eq!(r.sender_time_us, 0x45d78d);
    assert_eq!(r.location, "(none): 10.1.0.1:3863");
    assert_eq!(r.status, "3[1] PEs in 2 Pools, 7 Peers");
    assert_eq!(r.workload, None);
    assert_eq!(r.associations.len(), 7);
    for a in &r.associations {
        assert_eq!(a.receiver.kind(), ComponentKind::Registrar);
        assert_eq!((a.protocol, a.ppid), (132, 12), "SCTP, ENRP");
        assert_eq!(a.duration_us, None, "registrars send all ones: unknown");
    }
    assert_eq!(
        r.associations[1].receiver,
        ComponentId(0x0100_0000_0e19_42bb)
    );
}

#[test]
fn a_pool_element_report_lists_its_registrar_association() {
    let d = bytes(POOL_ELEMENT);
    assert_eq!(d.len(), 288 + 24);
    let r = decode(&d).expect("decodes");
    assert_eq!(r.sender.kind(), ComponentKind::Pe);
    assert_eq!(r.sender.object(), 0x4f48_fdb8);
    assert_eq!(
        r.location,
        "(none): 10.0.2.15:42725, 10.1.0.1, 10.1.0.2, fec0::5054:ff:fe12:3456"
    );
    assert_eq!(r.status, "0 Sessions");
    assert_eq!(r.workload, None);
    let [a] = &r.associations[..] else {
        panic!("one association: {:?}", r.associations)
    };
    // 1.5 s after it registered, RSPLIB 3.4.4 still names its registrar
    // with object 0 (later reports carry the registrar's identifier).
    assert_eq!(a.receiver, ComponentId(0x0100_0000_0000_0000));
    assert_eq!((a.protocol, a.ppid), (132, 11), "SCTP, ASAP");
    assert_eq!(a.duration_us, Some(0x1708d1));
}

#[test]
fn a_captured_report_cut_or_padded_is_refused() {
    let d = bytes(POOL_ELEMENT);
    assert!(decode(&d[..d.len() - 1]).is_err());
    let mut longer = d.clone();
    longer.extend_from_slice(&[0; 24]);
    assert!(decode(&longer).is_err(), "length field says 312");
}
