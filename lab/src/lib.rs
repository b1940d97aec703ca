//! The lab environment: live RSPLIB registrars and pool elements on any
//! Linux host — natively where the kernel has SCTP, in a micro-VM
//! (qemu/TCG) where it does not.

pub mod image;
pub mod vm;
