//! Workloads: our pool user (client-core's `PoolUser` over SCTP) doing
//! what an application does, sampled every `--sample-ms`.

pub mod calcapp;
pub mod echo_sessions;
pub mod resolve_loop;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use client_core::pool_user::Config;

use crate::bounds::{self, Bounds};
use crate::messages::parse_pe_id;
use crate::net::parse_target;
use crate::output::Output;
use crate::schedule::{stream, stream_seed};

/// Options every workload takes (contract 3).
#[derive(Clone, Debug, clap::Args)]
pub struct Common {
    /// Registrar ASAP endpoint IP:PORT, in order of preference; repeat.
    #[arg(long = "registrar", value_name = "IP:PORT", value_parser = parse_target, required_unless_present = "registrar_urls")]
    pub registrars: Vec<SocketAddr>,
    #[arg(long, value_name = "HANDLE", default_value = "EchoPool")]
    pub pool: String,
    /// Run length in milliseconds (≤ 120000).
    #[arg(long = "duration-ms", value_name = "MS", default_value_t = 10_000)]
    pub duration_ms: u64,
    /// Interval of the sample lines (≥ 50).
    #[arg(long = "sample-ms", value_name = "MS", default_value_t = 250)]
    pub sample_ms: u64,
    /// Seed of the pool user's choices.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// PE identifiers that count as fake (an attacker's); repeat or
    /// separate with commas.
    #[arg(long = "fake-ids", value_name = "ID,…", value_delimiter = ',', value_parser = parse_pe_id)]
    pub fake_ids: Vec<u32>,
    /// The registered (legitimate) PEs: any other PE reached counts as fake.
    #[arg(long = "legit-ids", value_name = "ID,…", value_delimiter = ',', value_parser = parse_pe_id)]
    pub legit_ids: Vec<u32>,
    /// Further registrars as URLs (`wss://HOST:PORT/asap/N` through the
    /// gateway, or `sctp://IP:PORT`), after the --registrar ones; repeat.
    #[arg(long = "registrar-url", value_name = "URL")]
    pub registrar_urls: Vec<String>,
    /// Trust only this CA for `wss://` registrars (the lab CA,
    /// `/share/certs/ca.pem` in the VM): a registrar or gateway whose
    /// certificate it did not issue is not used.
    #[arg(long, value_name = "PEM")]
    pub ca: Option<std::path::PathBuf>,
}

/// Which PEs are an attacker's.
#[derive(Clone, Debug, Default)]
pub struct FakeSet {
    fake: BTreeSet<u32>,
    legit: BTreeSet<u32>,
}

impl FakeSet {
    pub fn new(fake: &[u32], legit: &[u32]) -> Self {
        FakeSet {
            fake: fake.iter().copied().collect(),
            legit: legit.iter().copied().collect(),
        }
    }

    /// In `--fake-ids`, or outside a given `--legit-ids`.
    pub fn is_fake(&self, id: u32) -> bool {
        self.fake.contains(&id) || (!self.legit.is_empty() && !self.legit.contains(&id))
    }
}

/// What PEs one sample interval's sessions or jobs started on, and how
/// many of them were fake (an attacker's).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Starts {
    /// Starts on each PE.
    pub per_pe: BTreeMap<u32, u64>,
    pub fake: u64,
}

impl Starts {
    pub fn on(&mut self, pe: u32, fakes: &FakeSet) {
        *self.per_pe.entry(pe).or_default() += 1;
        if fakes.is_fake(pe) {
            self.fake += 1;
        }
    }

    pub fn total(&self) -> u64 {
        self.per_pe.values().sum()
    }

    /// The fake PEs' share of the starts (0 without any).
    pub fn fake_share(&self) -> f64 {
        match self.total() {
            0 => 0.0,
            n => self.fake as f64 / n as f64,
        }
    }

    /// The busiest PE's share of the starts (0 without any).
    pub fn busiest_share(&self) -> f64 {
        match (self.total(), self.per_pe.values().max()) {
            (n, Some(max)) if n > 0 => *max as f64 / n as f64,
            _ => 0.0,
        }
    }

    pub fn pes_used(&self) -> usize {
        self.per_pe.len()
    }
}

/// The run's bounds and the pool user's configuration.
pub struct Setup {
    pub out: Output,
    pub duration: Duration,
    pub sample: Duration,
    pub config: Config,
    pub fakes: FakeSet,
    /// TLS for `wss://` registrars (`--ca`), else the system's roots.
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Common {
    /// Every registrar endpoint, in order: the `--registrar` addresses as
    /// `sctp://`, then the `--registrar-url` ones.
    pub fn endpoints(&self) -> Vec<String> {
        self.registrars
            .iter()
            .map(|r| format!("sctp://{r}"))
            .chain(self.registrar_urls.iter().cloned())
            .collect()
    }

    pub fn setup(&self) -> anyhow::Result<Setup> {
        let out = Output::new();
        let (b, mut notes) = Bounds::clamp(1.0, 1, self.duration_ms);
        let endpoints = self.endpoints();
        let n = bounds::clamp_usize(
            "registrars",
            endpoints.len(),
            bounds::MAX_TARGETS,
            &mut notes,
        );
        let sample = self.sample_ms.max(bounds::MIN_SAMPLE_MS);
        if sample != self.sample_ms {
            notes.push(bounds::Clamped {
                what: "sample_ms",
                asked: self.sample_ms.to_string(),
                used: sample.to_string(),
            });
        }
        for note in notes {
            out.event(
                "clamped",
                serde_json::json!({"what": note.what, "asked": note.asked, "used": note.used}),
            );
        }
        let config = Config {
            registrars: endpoints[..n].to_vec(),
            use_announced_registrars: false,
            trace: false,
            // Every resolution asks the registrar (RSPLIB's tools: stale
            // cache 0), for one PE: the registrar's policy picks it.
            resolve_items: 1,
            seed: stream_seed(self.seed, stream::POOL_USER),
            ..Config::default()
        };
        let tls = match &self.ca {
            Some(ca) => Some(
                rserpool_client::tls::client_config(Some(ca))
                    .map_err(|e| anyhow::anyhow!("--ca {}: {e}", ca.display()))?,
            ),
            None => None,
        };
        Ok(Setup {
            out,
            duration: b.duration,
            sample: Duration::from_millis(sample),
            config,
            fakes: FakeSet::new(&self.fake_ids, &self.legit_ids),
            tls,
        })
    }
}

/// Median of `v` (0 when empty), in the unit given.
pub fn p50(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_pes_are_the_listed_ones_or_those_outside_the_legitimate_set() {
        let f = FakeSet::new(&[7], &[]);
        assert!(f.is_fake(7));
        assert!(!f.is_fake(8));
        let f = FakeSet::new(&[], &[1, 2]);
        assert!(!f.is_fake(1));
        assert!(f.is_fake(3));
        assert!(!FakeSet::default().is_fake(3));
    }

    #[test]
    fn registrar_addresses_come_first_then_the_urls() {
        use clap::Parser;
        #[derive(Parser)]
        struct W {
            #[command(flatten)]
            c: Common,
        }
        let w = W::try_parse_from([
            "w",
            "--registrar",
            "10.9.0.1:3863",
            "--registrar",
            "10.1.0.1:3863",
            "--registrar-url",
            "wss://10.0.2.15:8443/asap/1",
        ])
        .unwrap();
        assert_eq!(
            w.c.endpoints(),
            [
                "sctp://10.9.0.1:3863",
                "sctp://10.1.0.1:3863",
                "wss://10.0.2.15:8443/asap/1"
            ]
        );
        let s = w.c.setup().unwrap();
        assert_eq!(s.config.registrars, w.c.endpoints());
        assert!(s.tls.is_none());
        // URLs alone are enough; neither is an error.
        assert!(W::try_parse_from(["w", "--registrar-url", "wss://h:1/asap/1"]).is_ok());
        assert!(W::try_parse_from(["w"]).is_err());
        let bad =
            W::try_parse_from(["w", "--registrar-url", "x", "--ca", "/nonexistent.pem"]).unwrap();
        assert!(bad.c.setup().is_err(), "an unreadable CA is an error");
    }

    #[test]
    fn medians_of_samples() {
        assert_eq!(p50(&mut []), 0.0);
        assert_eq!(p50(&mut [3.0, 1.0, 2.0]), 2.0);
    }
}
