//! Attackers and workloads of the RFC 5355 scenario catalogue, run inside
//! the lab next to live RSPLIB (see `README.md` for the command line and
//! its hard bounds).
//!
//! Every actor is a paced loop over [`bounds::Bounds`] (rate, count,
//! duration, clamped to hard caps), deterministic from its seed
//! ([`schedule`]), printing one JSON object per line ([`output`]) and
//! stopping by itself or on SIGINT/SIGTERM ([`stop`]).

pub mod attack;
pub mod bounds;
pub mod calcapp;
pub mod messages;
pub mod net;
pub mod output;
pub mod pe_load;
pub mod schedule;
pub mod stop;
pub mod workload;
