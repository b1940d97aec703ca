//! The lab environment: live RSPLIB registrars and pool elements on any
//! Linux host — natively where the kernel has SCTP, in a micro-VM
//! (qemu/TCG) where it does not — driven through a small agent.
//!
//! ```no_run
//! let lab = rserpool_lab::Lab::start(Default::default())?;
//! println!("registrars: {:?}", lab.addresses());
//! lab.kill_pe(1)?;
//! # anyhow::Ok(())
//! ```

pub mod agent;
pub mod ca;
pub mod csp;
mod host;
pub mod hsdump;
pub mod image;
pub mod proto;
pub mod spawn;
mod subscription;
pub mod topology;
pub mod vm;

pub use host::{
    build_guest_binaries, guest_init_script, kernel_has_sctp, request_agent, ExecOutput, Lab,
    LabOptions, LabPhase, Mode, Share,
};
pub use subscription::Subscription;
pub use topology::Topology;
