//! The lab notices its own death (issue 10, item 7): when qemu dies under a
//! running lab, [`Lab::died`] says so and why, and qemu's stderr and the
//! serial console are kept in the run directory.

use std::time::{Duration, Instant};

use std::sync::Mutex;

use rserpool_lab::{Lab, LabOptions, LabPhase, Mode, Topology};

/// The start-up phases the lab announced (`rserpool lab up` prints them).
static PHASES: Mutex<Vec<LabPhase>> = Mutex::new(Vec::new());

fn record_phase(p: LabPhase) {
    PHASES.lock().unwrap_or_else(|e| e.into_inner()).push(p);
}

#[test]
fn a_lab_whose_vm_was_killed_says_it_died_and_keeps_qemus_stderr_and_console() {
    let topology = Topology::parse("[[registrar]]\nname = \"registrar-1\"\nid = 1\n").unwrap();
    let mut lab = Lab::start(LabOptions {
        topology,
        mode: Some(Mode::Vm),
        on_phase: Some(record_phase),
        ..LabOptions::default()
    })
    .expect("lab starts");
    assert_eq!(
        *PHASES.lock().unwrap(),
        [
            LabPhase::BuildingBinaries,
            LabPhase::BuildingImage,
            LabPhase::Starting,
            LabPhase::WaitingForPools
        ],
        "a VM lab announces every start-up phase, in order"
    );
    assert_eq!(lab.died(), None, "a running lab is not dead");
    let pid = lab.vm_pid().expect("qemu runs");
    // SAFETY: kill(2) on the qemu this lab started (and still owns).
    assert_eq!(
        unsafe { libc::kill(i32::try_from(pid).unwrap(), libc::SIGKILL) },
        0
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let why = loop {
        if let Some(why) = lab.died() {
            break why;
        }
        assert!(
            Instant::now() < deadline,
            "the lab did not notice qemu's death"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(why.contains("killed by signal 9"), "{why}");
    assert!(why.contains(&pid.to_string()), "{why}");
    let stderr = lab.qemu_stderr_path().expect("VM mode keeps qemu's stderr");
    assert!(stderr.starts_with(lab.run_dir()), "{}", stderr.display());
    assert!(stderr.exists(), "{}", stderr.display());
    let console = lab.run_dir().join("console.log");
    let text = std::fs::read_to_string(&console).unwrap();
    assert!(
        text.contains("LAB: agent listening"),
        "console kept:\n{text}"
    );
    assert!(
        why.contains("LAB:"),
        "the reason carries the console's tail: {why}"
    );
}
