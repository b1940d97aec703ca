//! The scenario catalogue: every threat of RFC 5355 §2.1–2.17 that the lab
//! can stage against live RSPLIB 3.4.4, the handle-resolution flood of the
//! papers that measured RSerPool under attack, and the project's
//! robustness probes. Pure data and validation: no I/O.
//!
//! The shape (`rserpool scenario list --json`, `GET /api/scenarios`) is
//! documented in `docs/scenarios.md` (generated from this module) and
//! `docs/run-record.md`.

use serde::{Deserialize, Serialize};

/// Schema tag of the serialised catalogue.
pub const SCHEMA: &str = "rserpool-catalogue/1";

/// The whole catalogue as served to the CLI and the lab page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalogue {
    pub schema: String,
    pub scenarios: Vec<Scenario>,
}

/// What a scenario is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// An RFC 5355 threat staged in the lab.
    Threat,
    /// Malformed or hostile input a component must survive (the probes).
    Robustness,
    /// Load rather than a protocol weakness (handle-resolution flood).
    Load,
    /// A threat the lab cannot stage; `not_staged_reason` says why.
    NotStaged,
}

/// One scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    pub id: String,
    /// RFC 5355 section ("2.13"), or `None` outside the RFC's list.
    pub section: Option<String>,
    pub class: Class,
    pub title: String,
    /// What the attacker does.
    pub threat: String,
    /// What it does to the service.
    pub effect: String,
    /// What the RFC requires against it.
    pub requirement: String,
    /// What RSPLIB 3.4.4 implements or lacks.
    pub rsplib: String,
    pub not_staged_reason: Option<String>,
    pub topology: Topology,
    pub phases: Vec<Phase>,
    pub attacker: Option<Attacker>,
    pub workload: Option<Workload>,
    pub metrics: Vec<Metric>,
    pub defences: Vec<Defence>,
    pub expectation: Option<Expectation>,
    pub browser_part: Option<BrowserPart>,
    /// The shell command that reproduces the scenario by hand, where one
    /// exists outside the runner (the probes).
    pub command: Option<String>,
}

/// The lab a scenario needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topology {
    pub registrars: u32,
    pub pool_elements: u32,
    pub pool: String,
    /// Run on a registrar of its own (crash-prone attacks, or registrar
    /// options that must not affect other scenarios).
    pub isolated_registrar: bool,
    pub notes: String,
    /// Pool elements the run starts for itself through the lab agent
    /// (RSPLIB's `rspserver`, next to the lab's own) and stops after it:
    /// pools the lab's topology does not have (a CalcApp pool, a
    /// load-based one), so that no other scenario or test sees them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub run_pes: Vec<RunPes>,
}

/// `count` RSPLIB pool elements of `pool`, started for one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunPes {
    pub count: u32,
    /// rspserver's service flag without the dash (`calcapp`, `echo`).
    pub service: String,
    /// Index of the registrar they register at (0: registrar-1).
    pub registrar: u32,
    /// Further rspserver options (`-policy=LeastUsed`, `-capcookiemaxtime=0.2`).
    pub options: Vec<String>,
}

/// Name of a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseName {
    Baseline,
    Attack,
    Recovery,
}

impl PhaseName {
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseName::Baseline => "baseline",
            PhaseName::Attack => "attack",
            PhaseName::Recovery => "recovery",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase {
    pub name: PhaseName,
    pub duration_ms: u64,
}

/// The attacker: a `rserpool-actor attack <kind>` process in the lab.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attacker {
    /// The actor kind (`rserpool-actor attack KIND`).
    pub kind: String,
    /// What it aims at, in lab terms (`registrar-1 ASAP`, `pe-1`).
    pub target: String,
    pub params: Vec<Param>,
}

/// A numeric attacker parameter with the range the runner accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Param {
    pub name: String,
    pub value: f64,
    pub unit: String,
    pub min: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    /// `resolve-loop`, `echo-sessions` or `calcapp`.
    pub kind: String,
    pub description: String,
}

/// Which direction of a metric is harm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Worse {
    Lower,
    Higher,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub name: String,
    pub unit: String,
    pub description: String,
    pub worse: Worse,
}

/// Where a defence lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DefenceKind {
    /// A command-line option of RSPLIB's registrar (`-maxeurate=…`).
    RsplibOption,
    /// The project's pool user.
    PoolUser,
    /// The project's gateway.
    Gateway,
    /// A lab network allow-list standing in for the mutual
    /// authentication RSPLIB lacks. Not a defence RSPLIB offers.
    LabStandIn,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Defence {
    pub name: String,
    pub kind: DefenceKind,
    pub what: String,
    /// Whether it is on unless the run switches it.
    pub default: bool,
}

/// A comparison a measured figure is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">=")]
    Ge,
}

impl Op {
    pub fn holds(self, measured: f64, value: f64) -> bool {
        match self {
            Op::Le => measured <= value,
            Op::Ge => measured >= value,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Le => "<=",
            Op::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bound {
    pub op: Op,
    pub value: f64,
}

impl Bound {
    pub fn holds(&self, measured: f64) -> bool {
        self.op.holds(measured, self.value)
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.op.as_str(), self.value)
    }
}

/// The bound that holds with a defence on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WithDefence {
    pub defence: String,
    pub op: Op,
    pub value: f64,
    /// What of the phase the bound is held against: its worst interval
    /// (the default) or its mean, for a defence that lets a burst through
    /// by design (a token bucket) and is judged on what it does over the
    /// phase.
    #[serde(default, skip_serializing_if = "Over::is_worst")]
    pub over: Over,
}

/// Which summary of a phase a bound is held against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Over {
    /// The phase's worst interval (`summary` in the run record).
    #[default]
    Worst,
    /// The phase's mean over its intervals (`means` in the run record).
    Mean,
}

impl Over {
    pub fn is_worst(&self) -> bool {
        *self == Over::Worst
    }
}

/// What a run must measure: the phase summary of one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Expectation {
    /// Harm beyond `without` with every defence off; within `with` when
    /// that defence is on.
    Compare {
        metric: String,
        phase: PhaseName,
        without: Bound,
        with: WithDefence,
        /// Further defences, each with its own bound (a scenario can be
        /// defended by an RSPLIB option and by the project's gateway).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        also: Vec<WithDefence>,
    },
    /// Nothing defends with RSPLIB: the harm is observed (the bound holds
    /// with every defence off) and the card says so.
    ObservedOnly {
        observed_only: bool,
        why: String,
        metric: String,
        phase: PhaseName,
        harm: Bound,
    },
}

impl Expectation {
    pub fn metric(&self) -> &str {
        match self {
            Expectation::Compare { metric, .. } | Expectation::ObservedOnly { metric, .. } => {
                metric
            }
        }
    }
    pub fn phase(&self) -> PhaseName {
        match self {
            Expectation::Compare { phase, .. } | Expectation::ObservedOnly { phase, .. } => *phase,
        }
    }

    /// Every defence this expectation bounds, with its bound (none for
    /// observed-only).
    pub fn with_defences(&self) -> Vec<&WithDefence> {
        match self {
            Expectation::Compare { with, also, .. } => {
                std::iter::once(with).chain(also.iter()).collect()
            }
            Expectation::ObservedOnly { .. } => Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BrowserRole {
    Victim,
    Attacker,
}

/// What the lab page's browser can play in the scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrowserPart {
    pub role: BrowserRole,
    pub what: String,
}

// ------------------------------------------------------------ errors

/// Why a scenario id, defence switch or parameter was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogueError {
    #[error("unknown scenario {id:?} (see `rserpool scenario list`)")]
    UnknownScenario { id: String },
    #[error("scenario {id} is not staged: {reason}")]
    NotStaged { id: String, reason: String },
    #[error("scenario {scenario} has no defence {name:?} (it has: {known})")]
    UnknownDefence {
        scenario: String,
        name: String,
        known: String,
    },
    #[error("scenario {scenario} has no parameter {name:?} (it has: {known})")]
    UnknownParam {
        scenario: String,
        name: String,
        known: String,
    },
    #[error("parameter {name} = {value} is out of range {min}..={max} {unit}")]
    ParamOutOfRange {
        name: String,
        value: f64,
        min: f64,
        max: f64,
        unit: String,
    },
    #[error("bad switch {text:?}: expected NAME=on|off")]
    BadSwitch { text: String },
    #[error("bad parameter {text:?}: expected NAME=NUMBER")]
    BadParam { text: String },
}

/// `NAME=on|off` as given to `--defence`.
pub fn parse_defence_switch(text: &str) -> Result<(String, bool), CatalogueError> {
    let bad = || CatalogueError::BadSwitch { text: text.into() };
    let (name, v) = text.split_once('=').ok_or_else(bad)?;
    let on = match v {
        "on" | "true" | "1" => true,
        "off" | "false" | "0" => false,
        _ => return Err(bad()),
    };
    if name.is_empty() {
        return Err(bad());
    }
    Ok((name.to_string(), on))
}

/// `NAME=NUMBER` as given to `--param`.
pub fn parse_param(text: &str) -> Result<(String, f64), CatalogueError> {
    let bad = || CatalogueError::BadParam { text: text.into() };
    let (name, v) = text.split_once('=').ok_or_else(bad)?;
    let value: f64 = v.trim().parse().map_err(|_| bad())?;
    if name.is_empty() || !value.is_finite() {
        return Err(bad());
    }
    Ok((name.to_string(), value))
}

impl Catalogue {
    /// The project's catalogue.
    pub fn builtin() -> Catalogue {
        Catalogue {
            schema: SCHEMA.into(),
            scenarios: builtin_scenarios(),
        }
    }

    /// The scenario `id`, whatever its class.
    pub fn get(&self, id: &str) -> Result<&Scenario, CatalogueError> {
        self.scenarios
            .iter()
            .find(|s| s.id == id)
            .ok_or_else(|| CatalogueError::UnknownScenario { id: id.into() })
    }

    /// The scenario `id`, refused if it cannot be run.
    pub fn runnable(&self, id: &str) -> Result<&Scenario, CatalogueError> {
        let s = self.get(id)?;
        match (&s.class, &s.not_staged_reason) {
            (Class::NotStaged, reason) => Err(CatalogueError::NotStaged {
                id: id.into(),
                reason: reason.clone().unwrap_or_default(),
            }),
            _ => Ok(s),
        }
    }
}

impl Scenario {
    pub fn defence(&self, name: &str) -> Result<&Defence, CatalogueError> {
        self.defences
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| CatalogueError::UnknownDefence {
                scenario: self.id.clone(),
                name: name.into(),
                known: names(self.defences.iter().map(|d| d.name.as_str())),
            })
    }

    /// Every defence's setting: its default, overridden by `switches`.
    pub fn defence_settings(
        &self,
        switches: &[(String, bool)],
    ) -> Result<Vec<(String, bool)>, CatalogueError> {
        let mut out: Vec<(String, bool)> = self
            .defences
            .iter()
            .map(|d| (d.name.clone(), d.default))
            .collect();
        for (name, on) in switches {
            self.defence(name)?;
            if let Some(slot) = out.iter_mut().find(|(n, _)| n == name) {
                slot.1 = *on;
            }
        }
        Ok(out)
    }

    /// Every attacker parameter's value: the catalogue's, overridden by
    /// `overrides`, each checked against its range.
    pub fn param_values(
        &self,
        overrides: &[(String, f64)],
    ) -> Result<Vec<(String, f64)>, CatalogueError> {
        let params: &[Param] = self.attacker.as_ref().map_or(&[], |a| &a.params);
        let mut out: Vec<(String, f64)> =
            params.iter().map(|p| (p.name.clone(), p.value)).collect();
        for (name, value) in overrides {
            let p = params.iter().find(|p| &p.name == name).ok_or_else(|| {
                CatalogueError::UnknownParam {
                    scenario: self.id.clone(),
                    name: name.clone(),
                    known: names(params.iter().map(|p| p.name.as_str())),
                }
            })?;
            if !(p.min..=p.max).contains(value) {
                return Err(CatalogueError::ParamOutOfRange {
                    name: name.clone(),
                    value: *value,
                    min: p.min,
                    max: p.max,
                    unit: p.unit.clone(),
                });
            }
            if let Some(slot) = out.iter_mut().find(|(n, _)| n == name) {
                slot.1 = *value;
            }
        }
        Ok(out)
    }

    /// Phases with their durations scaled to `factor` (CI runs short
    /// phases), never below 500 ms.
    pub fn scaled_phases(&self, factor: f64) -> Vec<Phase> {
        self.phases
            .iter()
            .map(|p| Phase {
                name: p.name,
                duration_ms: ((p.duration_ms as f64 * factor) as u64).max(500),
            })
            .collect()
    }

    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }
}

fn names<'a>(it: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = it.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

// ------------------------------------------------------------ the entries

fn s(x: &str) -> String {
    x.to_string()
}

fn topo(registrars: u32, pool_elements: u32, isolated: bool, notes: &str) -> Topology {
    Topology {
        registrars,
        pool_elements,
        pool: s("EchoPool"),
        isolated_registrar: isolated,
        notes: s(notes),
        run_pes: vec![],
    }
}

fn phases(baseline: u64, attack: u64, recovery: u64) -> Vec<Phase> {
    vec![
        Phase {
            name: PhaseName::Baseline,
            duration_ms: baseline,
        },
        Phase {
            name: PhaseName::Attack,
            duration_ms: attack,
        },
        Phase {
            name: PhaseName::Recovery,
            duration_ms: recovery,
        },
    ]
}

fn param(name: &str, value: f64, unit: &str, min: f64, max: f64) -> Param {
    Param {
        name: s(name),
        value,
        unit: s(unit),
        min,
        max,
    }
}

/// Rate, count and duration: every attacker has these bounds.
fn bounded(rate: f64, count: f64) -> Vec<Param> {
    vec![
        param("rate", rate, "1/s", 1.0, 1000.0),
        param("count", count, "messages", 1.0, 100_000.0),
    ]
}

fn attacker(kind: &str, target: &str, params: Vec<Param>) -> Option<Attacker> {
    Some(Attacker {
        kind: s(kind),
        target: s(target),
        params,
    })
}

fn workload(kind: &str, description: &str) -> Option<Workload> {
    Some(Workload {
        kind: s(kind),
        description: s(description),
    })
}

fn metric(name: &str, unit: &str, worse: Worse, description: &str) -> Metric {
    Metric {
        name: s(name),
        unit: s(unit),
        description: s(description),
        worse,
    }
}

fn defence(name: &str, kind: DefenceKind, what: &str) -> Defence {
    Defence {
        name: s(name),
        kind,
        what: s(what),
        default: false,
    }
}

fn compare(metric: &str, without: Bound, defence: &str, with: Bound) -> Option<Expectation> {
    Some(Expectation::Compare {
        metric: s(metric),
        phase: PhaseName::Attack,
        without,
        with: WithDefence {
            defence: s(defence),
            op: with.op,
            value: with.value,
            over: Over::Worst,
        },
        also: Vec::new(),
    })
}

/// `e` with a further defence and its own bound on the worst interval.
fn also(e: Option<Expectation>, defence: &str, with: Bound) -> Option<Expectation> {
    also_over(e, defence, with, Over::Worst)
}

/// `e` with a further defence and its own bound on `over`.
fn also_over(
    e: Option<Expectation>,
    defence: &str,
    with: Bound,
    over: Over,
) -> Option<Expectation> {
    e.map(|mut e| {
        if let Expectation::Compare { also, .. } = &mut e {
            also.push(WithDefence {
                defence: s(defence),
                op: with.op,
                value: with.value,
                over,
            });
        }
        e
    })
}

fn observed(metric: &str, harm: Bound, why: &str) -> Option<Expectation> {
    Some(Expectation::ObservedOnly {
        observed_only: true,
        why: s(why),
        metric: s(metric),
        phase: PhaseName::Attack,
        harm,
    })
}

fn ge(value: f64) -> Bound {
    Bound { op: Op::Ge, value }
}

fn le(value: f64) -> Bound {
    Bound { op: Op::Le, value }
}

/// Metrics every run samples (workload and handlespace).
fn m_fake_pes() -> Metric {
    metric(
        "fake_pes",
        "PEs",
        Worse::Higher,
        "pool elements in the pool at the worst registrar that are not the lab's own (hsdump)",
    )
}
fn m_hit_fake() -> Metric {
    metric(
        "hit_fake_share",
        "share",
        Worse::Higher,
        "share of the workload's resolutions in the sample interval whose chosen PE is not one of the lab's",
    )
}
fn m_resolutions_failed() -> Metric {
    metric(
        "resolutions_failed",
        "1/interval",
        Worse::Higher,
        "resolutions of the workload that failed in the sample interval",
    )
}
fn m_healthy_pes() -> Metric {
    metric(
        "healthy_pes",
        "PEs",
        Worse::Lower,
        "the lab's own live PEs listed by the registrar that lists the fewest (hsdump)",
    )
}

fn allow_list_asap() -> Defence {
    defence(
        "registration-allow-list",
        DefenceKind::LabStandIn,
        "lab stand-in: the VM's packet filter lets only the lab's own PE addresses reach the registrars' ASAP port, standing in for the PE authentication RFC 5355 requires and RSPLIB lacks",
    )
}

fn allow_list_enrp() -> Defence {
    defence(
        "enrp-allow-list",
        DefenceKind::LabStandIn,
        "lab stand-in: the packet filter lets only the lab's registrars reach the ENRP port, standing in for the mutual ENRP authentication (TLS) RSPLIB lacks",
    )
}

/// A catalogue entry for a threat the lab cannot stage (the arguments are
/// the card's texts, in the order of the card).
#[allow(clippy::too_many_arguments)]
fn not_staged(
    id: &str,
    section: &str,
    title: &str,
    threat: &str,
    effect: &str,
    requirement: &str,
    rsplib: &str,
    reason: &str,
) -> Scenario {
    Scenario {
        id: s(id),
        section: Some(s(section)),
        class: Class::NotStaged,
        title: s(title),
        threat: s(threat),
        effect: s(effect),
        requirement: s(requirement),
        rsplib: s(rsplib),
        not_staged_reason: Some(s(reason)),
        topology: topo(0, 0, false, ""),
        phases: vec![],
        attacker: None,
        workload: None,
        metrics: vec![],
        defences: vec![],
        expectation: None,
        browser_part: None,
        command: None,
    }
}

const NO_AUTH: &str = "RSPLIB 3.4.4 has no TLS, DTLS or SCTP-AUTH: any host that reaches the ASAP port can register, and any host that reaches the ENRP port can send Handle Updates (only a message carrying the receiver's own server id is refused).";

fn builtin_scenarios() -> Vec<Scenario> {
    use DefenceKind::*;
    let resolve_loop = || {
        workload(
            "resolve-loop",
            "native pool users inside the lab resolving EchoPool at every registrar in turn, counting answered, failed and fake-PE resolutions",
        )
    };
    let echo = || {
        workload(
            "echo-sessions",
            "native pool users inside the lab holding echo sessions with the chosen PE, failing over when it stops answering",
        )
    };
    let base = |id: &str, section: Option<&str>, class: Class, title: &str| Scenario {
        id: s(id),
        section: section.map(s),
        class,
        title: s(title),
        threat: String::new(),
        effect: String::new(),
        requirement: String::new(),
        rsplib: String::new(),
        not_staged_reason: None,
        topology: topo(3, 4, false, ""),
        phases: phases(3000, 6000, 3000),
        attacker: None,
        workload: None,
        metrics: vec![],
        defences: vec![],
        expectation: None,
        browser_part: None,
        command: None,
    };
    vec![
        Scenario {
            threat: s("An attacker registers many pool elements that do not exist, each with a fresh identifier, at a high rate."),
            effect: s("The handlespace grows at every registrar through ENRP, and pool users are handed addresses where nothing answers."),
            requirement: s("Registrars must authenticate pool elements before accepting a registration (TLS, or IPsec)."),
            rsplib: s(NO_AUTH),
            topology: topo(3, 4, false, "fake PEs registered at registrar-1; the growth is read at every registrar"),
            attacker: attacker("reg-flood", "registrar-1 ASAP", bounded(50.0, 300.0)),
            workload: resolve_loop(),
            metrics: vec![m_fake_pes(), m_hit_fake(), m_healthy_pes()],
            defences: vec![allow_list_asap()],
            expectation: compare("fake_pes", ge(20.0), "registration-allow-list", le(0.0)),
            browser_part: Some(BrowserPart {
                role: BrowserRole::Victim,
                what: s("the page's pool user resolves through the gateway and is handed fake PEs"),
            }),
            ..base("rfc5355-2.1-reg-flood", Some("2.1"), Class::Threat, "Registration flood with non-existent pool elements")
        },
        Scenario {
            threat: s("An attacker registers pool elements whose addresses accept connections and ignore what is sent (black holes)."),
            effect: s("Pool users that pick a black hole wait for a timeout before failing over: sessions fail or are delayed."),
            requirement: s("Registrars must authenticate pool elements; pool users should fail over and report the element unreachable."),
            rsplib: s(NO_AUTH),
            attacker: attacker("reg-flood", "registrar-1 ASAP", bounded(20.0, 40.0)),
            workload: resolve_loop(),
            metrics: vec![m_hit_fake(), m_fake_pes(), m_resolutions_failed()],
            defences: vec![allow_list_asap()],
            expectation: compare("hit_fake_share", ge(0.2), "registration-allow-list", le(0.0)),
            ..base("rfc5355-2.2-black-hole", Some("2.2"), Class::Threat, "Flood of unauthorised pool elements that answer nothing")
        },
        Scenario {
            threat: s("An attacker registers a pool element under the addresses of a victim host, so that pool users connect to the victim."),
            effect: s("The victim receives connection attempts it never asked for (a reflection attack)."),
            requirement: s("A registrar must check that a registering element owns the addresses it registers."),
            rsplib: s("RSPLIB keeps only the registered addresses that are also peer addresses of the registering association (-minaddressscope). That stops a spoof from another host, not one from a host that shares an address with the victim: in the lab every process shares the VM's addresses, so the spoofed PEs are stored with the victim's addresses and port."),
            attacker: attacker("reg-spoof", "registrar-1 ASAP, the user transport (addresses and port) of a lab PE chosen by the seed", bounded(5.0, 20.0)),
            workload: resolve_loop(),
            metrics: vec![metric("spoofed_pes", "PEs", Worse::Higher, "PEs other than the victim that registrar-1 hands out with the victim's port and one of its addresses (the attacker resolves the pool every interval)"), m_fake_pes(), m_hit_fake()],
            defences: vec![],
            expectation: observed("spoofed_pes", ge(1.0), "the registrar's address check cannot tell an attacker that shares the victim's addresses; nothing else to switch with RSPLIB"),
            ..base("rfc5355-2.3-reg-spoof", Some("2.3"), Class::Threat, "Registration with a victim's addresses")
        },
        Scenario {
            threat: s("An unauthorised host registers a pool element that serves requests and records what it sees."),
            effect: s("A share of the pool users' sessions, and their data, go to the attacker."),
            requirement: s("Registrars must authorise pool elements for a pool."),
            rsplib: s(NO_AUTH),
            attacker: attacker("rogue-pe", "registrar-1 ASAP", bounded(1.0, 1.0)),
            workload: echo(),
            metrics: vec![metric("rogue_session_share", "share", Worse::Higher, "share of the workload's sessions in the interval served by the rogue PE"), m_fake_pes()],
            defences: vec![allow_list_asap()],
            expectation: compare("rogue_session_share", ge(0.05), "registration-allow-list", le(0.0)),
            ..base("rfc5355-2.4-rogue-pe", Some("2.4"), Class::Threat, "Unauthorised pool element joins a pool")
        },
        Scenario {
            threat: s("An attacker speaks ENRP to a registrar as if it were a registrar: Presence, then Handle Updates carrying fake pool elements."),
            effect: s("Every registrar that accepts the updates lists pool elements that do not exist."),
            requirement: s("ENRP servers must authenticate each other (TLS)."),
            rsplib: s(NO_AUTH),
            attacker: attacker("rogue-enrp", "registrar-1 ENRP", bounded(5.0, 20.0)),
            workload: resolve_loop(),
            metrics: vec![m_fake_pes(), m_hit_fake()],
            defences: vec![allow_list_enrp()],
            expectation: compare("fake_pes", ge(1.0), "enrp-allow-list", le(0.0)),
            ..base("rfc5355-2.5-rogue-enrp", Some("2.5"), Class::Threat, "Rogue ENRP server joins the registrar pool")
        },
        not_staged(
            "rfc5355-2.6-malicious-home-registrar", "2.6",
            "Registration at a malicious registrar",
            "A pool element registers with a registrar the attacker runs, which drops or alters the registration.",
            "The element is missing from, or wrong in, the handlespace every pool user sees.",
            "Pool elements must authenticate the registrar they register with.",
            "RSPLIB's pool elements accept any registrar they hear announced or are given.",
            "needs a rogue registrar that accepts and drops registrations; the lab's actors answer resolutions only (rogue-registrar), and RSPLIB's PEs cannot be pointed at it without changing the lab's PE command lines",
        ),
        Scenario {
            threat: s("A rogue registrar (or rogue gateway) answers handle resolutions with the attacker's own pool elements."),
            effect: s("Pool users that ask it land on the attacker's elements."),
            requirement: s("Pool users must authenticate the registrar that answers (TLS)."),
            rsplib: s("RSPLIB's pool user trusts any registrar it reaches; nothing is authenticated."),
            attacker: attacker("rogue-registrar", "the workload's registrar list", bounded(100.0, 10_000.0)),
            workload: resolve_loop(),
            metrics: vec![m_hit_fake(), m_resolutions_failed()],
            defences: vec![defence("pool-user-tls-gateway", PoolUser, "the project's pool user reaches registrars only through the gateway over wss:// with the lab CA pinned, so a rogue registrar cannot answer it")],
            expectation: compare("hit_fake_share", ge(0.2), "pool-user-tls-gateway", le(0.0)),
            browser_part: Some(BrowserPart { role: BrowserRole::Victim, what: s("the page's pool user is given the rogue gateway's URL") }),
            ..base("rfc5355-2.7-rogue-registrar", Some("2.7"), Class::Threat, "Malicious handle resolution")
        },
        Scenario {
            threat: s("An attacker replays a captured registration or deregistration from another association."),
            effect: s("A legitimate pool element is removed from the pool, or its registration changed."),
            requirement: s("Protect ASAP with TLS so messages cannot be replayed from elsewhere."),
            rsplib: s("No TLS. RSPLIB's registrar deletes a PE on a Deregistration from any association (it checks only the PE identifier), and moves a registration to the association it last arrived on, deleting the PE when that association ends; the victim stays away until its next re-registration (rspserver: every 30 s)."),
            attacker: attacker("replay", "registrar-1 ASAP, a lab PE chosen by the seed; the victim's Deregistration from the attacker's association", bounded(5.0, 5.0)),
            workload: resolve_loop(),
            metrics: vec![m_healthy_pes(), m_resolutions_failed()],
            defences: vec![],
            expectation: observed("healthy_pes", le(3.5), "no defence to switch with RSPLIB: a deregistration is not tied to the association that registered"),
            ..base("rfc5355-2.8-replay", Some("2.8"), Class::Threat, "Replay of a (de)registration")
        },
        not_staged(
            "rfc5355-2.9-failover-security", "2.9",
            "Security lost at failover",
            "After failover a pool user reaches the new element over a weaker path than before.",
            "The application believes it is still protected.",
            "The pool user must re-establish the same security with the new element, or tell the application.",
            "RSPLIB has no security on the pool user to element path, so there is none to lose.",
            "RSPLIB secures no pool user to element path, so there is no security to lose at failover; nothing to measure",
        ),
        not_staged(
            "rfc5355-2.10-integrity", "2.10",
            "Integrity of ASAP and ENRP",
            "An on-path attacker rewrites ASAP or ENRP messages (for example the PE list of a resolution).",
            "Pool users accept altered answers.",
            "Integrity protection (TLS) on every ASAP and ENRP path.",
            "No TLS in RSPLIB: see docs/findings.md.",
            "needs an on-path relay inside the VM; no actor provides one yet, and the finding (no integrity protection at all) holds without a run",
        ),
        not_staged(
            "rfc5355-2.11-confidentiality", "2.11",
            "Confidentiality of ASAP and ENRP",
            "An on-path attacker reads ASAP or ENRP traffic.",
            "Pool membership and addresses leak.",
            "Confidentiality (TLS) on every path.",
            "No TLS in RSPLIB: see docs/findings.md.",
            "needs an on-path observer; every ASAP/ENRP message in the lab is plaintext SCTP, which the run pcaps already show",
        ),
        Scenario {
            threat: s("An attacker sends forged Server Announces advertising a registrar it controls."),
            effect: s("Pool users and elements that listen to announces use the rogue registrar."),
            requirement: s("Accept only configured or authenticated registrars."),
            rsplib: s("RSPLIB's components listen to announces on the multicast group and use any registrar announced."),
            attacker: attacker("announce", "the announce multicast group inside the VM", bounded(2.0, 20.0)),
            workload: resolve_loop(),
            metrics: vec![m_hit_fake(), m_resolutions_failed()],
            defences: vec![],
            expectation: observed("hit_fake_share", le(0.0), "the project's pool user uses configured registrars only and never listens to announces; the run measures that it is not diverted"),
            ..base("rfc5355-2.12-announce", Some("2.12"), Class::Threat, "Server discovery spoofing")
        },
        Scenario {
            threat: s("A pool user reports healthy pool elements as unreachable, over and over."),
            effect: s("The registrar deletes healthy elements (after -maxbadpereports reports): service is lost."),
            requirement: s("Registrars must not act on unauthenticated or excessive reports."),
            rsplib: s("RSPLIB deletes a PE at the Nth report (-maxbadpereports, 3); -maxeurate (off by default) drops reports beyond a rate per pool user."),
            topology: topo(3, 4, true, "registrar-1 restarted with the defence's options; reports go to it"),
            attacker: attacker("eu-flood", "registrar-1 ASAP, every lab PE", bounded(20.0, 200.0)),
            workload: resolve_loop(),
            metrics: vec![m_healthy_pes(), m_resolutions_failed()],
            defences: vec![
                defence("maxeurate", RsplibOption, "registrar started with -maxeurate=1: reports beyond 1/s per pool user are dropped uncounted"),
                defence("gateway-eu-limit", Gateway, "the registrars are reachable only through the project's gateway, as a deployment that puts them behind it configures: the attacker is a gateway client (wss://…/asap/1), and the gateway forwards a report only about a PE resolved on that session, once per PE per session per 60 s, at most 1/s per session, and 1 per PE per 60 s over all sessions (RSPLIB needs 3). Off: the attacker reaches registrar-1's SCTP port directly"),
            ],
            expectation: also(compare("healthy_pes", le(3.0), "maxeurate", ge(4.0)), "gateway-eu-limit", ge(4.0)),
            browser_part: Some(BrowserPart { role: BrowserRole::Attacker, what: s("the page sends Endpoint Unreachable through the gateway, which limits it") }),
            ..base("rfc5355-2.13-eu-flood", Some("2.13"), Class::Threat, "Endpoint Unreachable flood")
        },
        Scenario {
            threat: s("An attacker sends Endpoint Keep-Alives to a pool element at a rate, or with the home-registrar flag set."),
            effect: s("The element spends its time answering; with the flag, it takes the attacker for its home registrar, drops its real one and leaves the handlespace."),
            requirement: s("Pool elements must accept keep-alives only from authenticated registrars."),
            rsplib: s("RSPLIB's PE accepts a keep-alive with the home-registrar flag from any association on its ASAP endpoint: it aborts its association with its registrar (which deletes it and tells its peers) and acknowledges the attacker from then on. Without the flag it ignores the sender."),
            attacker: attacker("ka-flood", "a PE's ASAP endpoint, looked up in registrar-1's handle table over ENRP; home-registrar flag set", {
                let mut p = bounded(20.0, 200.0);
                p.push(param("home-flag", 1.0, "0/1", 0.0, 1.0));
                p
            }),
            workload: resolve_loop(),
            metrics: vec![
                m_healthy_pes(),
                metric("ka_answered", "1/interval", Worse::Higher, "keep-alives the target PE acknowledged to the attacker in the interval (as counted by the attacker)"),
                m_resolutions_failed(),
            ],
            defences: vec![],
            expectation: observed("healthy_pes", le(3.5), "no defence to switch with RSPLIB: its PE trusts the home-registrar flag from anyone who reaches its ASAP endpoint"),
            ..base("rfc5355-2.14-ka-flood", Some("2.14"), Class::Threat, "Endpoint Keep-Alive flood at a pool element")
        },
        not_staged(
            "rfc5355-2.15-enrp-database", "2.15",
            "Security of the registrars' database",
            "The handlespace a registrar holds is read or altered where it is stored.",
            "Pool membership leaks or is corrupted.",
            "Protect the registrar's storage and its ENRP exchanges.",
            "RSPLIB keeps the handlespace in memory only.",
            "concerns a registrar's storage, not anything sent on the network; the wire side is 2.5 and 2.10",
        ),
        Scenario {
            threat: s("A pool user alters the state cookie it echoes to the new element after failover."),
            effect: s("The element takes forged state for its own: CalcApp keeps a job's progress in the cookie, so a job claimed all but done is reported complete with none of the work done."),
            requirement: s("Cookies must be signed or encrypted by the element that issued them (application level)."),
            rsplib: s("RSPLIB's CalcApp element (rspserver -calcapp) sends the job's id, size and progress as a plain cookie and takes a cookie echo as it comes: it accepts the job from the echoed state, whoever sent it; ASAP passes cookies opaque."),
            topology: Topology {
                pool: s("CalcAppPool"),
                run_pes: vec![RunPes {
                    count: 3,
                    service: s("calcapp"),
                    registrar: 0,
                    options: vec![s("-capcookiemaxtime=0.2")],
                }],
                ..topo(3, 4, false, "3 RSPLIB CalcApp PEs (rspserver -calcapp, a cookie every 0.2 s) in CalcAppPool at registrar-1, started for the run and stopped after it; the lab's EchoPool is not touched")
            },
            attacker: attacker("cookie-tamper", "two of the CalcApp PEs (resolved at registrar-1): a job at one, the altered cookie echoed to another", bounded(2.0, 20.0)),
            workload: None,
            metrics: vec![
                metric("tampered_accepted", "cookies", Worse::Higher, "altered cookie echoes the new element accepted in the interval (its CalcApp Accept, as the attacker sees it)"),
                metric("forged_completes", "jobs", Worse::Higher, "jobs the new element reported complete at the forged progress in the interval, with work nobody did"),
            ],
            defences: vec![],
            expectation: observed("tampered_accepted", ge(1.0), "signing cookies is the application's job; RSPLIB's CalcApp does not, and there is nothing to switch"),
            ..base("rfc5355-2.16-cookie-tamper", Some("2.16"), Class::Threat, "Cookie tampering at failover")
        },
        Scenario {
            threat: s("An insider pool user always picks the same element instead of following the pool policy."),
            effect: s("Load is skewed onto one element: it carries the insider's sessions on top of its share of everyone else's."),
            requirement: s("Make the choice verifiable (for example a hash of a public nonce), or let elements refuse."),
            rsplib: s("Nothing checks a pool user's choice: any pool user may open a session with any element it was ever handed."),
            topology: topo(3, 4, false, "the insider resolves EchoPool once at registrar-1 and opens every session with the PE the seed picks"),
            attacker: attacker("biased-pu", "one lab PE chosen by the seed (resolved at registrar-1); a session per action, at most 64 held", bounded(20.0, 1000.0)),
            workload: workload("echo-sessions", "native pool users inside the lab holding echo sessions with the PEs the registrar picks (round robin), and sampling every PE's associations at the PEs' side"),
            metrics: vec![
                metric("busiest_pe_share", "share", Worse::Higher, "share of all pool users' associations with the pool's PEs held by the busiest PE (the kernel's SCTP association table inside the lab, the PEs' side)"),
                metric("pe_associations", "associations", Worse::Higher, "associations the pool's PEs hold in all"),
                metric("load_skew", "share", Worse::Higher, "the workload's own sessions: the busiest PE's share of those started in the interval"),
            ],
            defences: vec![],
            expectation: observed("busiest_pe_share", ge(0.85), "no defence with RSPLIB: nothing verifies a pool user's choice"),
            ..base("rfc5355-2.17-biased-pu", Some("2.17"), Class::Threat, "Insider: biased pool user")
        },
        Scenario {
            threat: s("An insider pool element of a load-based pool advertises load 0 whatever its real load."),
            effect: s("The registrar's Least Used choice hands it the pool users' jobs: it draws the traffic (and could drop or read it)."),
            requirement: s("Cross-check what elements advertise (for example against the load pool users see)."),
            rsplib: s("Registrars take the advertised policy value as given. An honest RSPLIB CalcApp PE re-registers whenever its load moves by 1 %; nothing notices a PE that never does."),
            topology: Topology {
                pool: s("LeastUsedPool"),
                run_pes: vec![RunPes {
                    count: 3,
                    service: s("calcapp"),
                    registrar: 0,
                    options: vec![s("-policy=LeastUsed"), s("-capmaxjobs=10")],
                }],
                ..topo(3, 4, false, "3 RSPLIB CalcApp PEs with policy Least Used (load = jobs ÷ 10) in LeastUsedPool at registrar-1, started for the run and stopped after it; the lab's EchoPool is not touched")
            },
            attacker: attacker("lying-pe", "registrar-1 ASAP: one PE in LeastUsedPool, Least Used at load 0, serving CalcApp", bounded(1.0, 1.0)),
            workload: workload("calcapp", "native CalcApp pool users inside the lab: 8 jobs of 10^6 calculations per second, each to the PE registrar-1 picks by the pool's policy"),
            metrics: vec![
                metric("liar_share", "share", Worse::Higher, "share of the workload's jobs in the interval sent to the lying PE (a PE not of the run's own)"),
                metric("jobs_started", "jobs", Worse::Lower, "jobs the workload sent in the interval"),
                metric("handling_speed", "calculations/s", Worse::Lower, "median handling speed of the jobs completed in the interval"),
                metric("liar_jobs_held", "jobs", Worse::Higher, "jobs the lying PE held at once (its real load; it advertises 0)"),
            ],
            defences: vec![],
            expectation: observed("liar_share", ge(0.3), "no defence with RSPLIB: the registrar takes the advertised load as given"),
            ..base("rfc5355-2.17-lying-pe", Some("2.17"), Class::Threat, "Insider: pool element lies about its load")
        },
        Scenario {
            threat: s("A pool user sends handle resolutions as fast as it can (the attack studied by Dreibholz et al.)."),
            effect: s("The registrar's time goes to the attacker; legitimate resolutions slow down."),
            requirement: s("Not an RFC 5355 threat of its own; registrars should limit resolutions per user."),
            rsplib: s("-maxhrrate (off by default): beyond the rate, resolutions are answered as an unknown pool (no PEs)."),
            topology: topo(3, 4, true, "registrar-1 restarted with the defence's options; the flood goes to it"),
            attacker: attacker("hr-flood", "registrar-1 ASAP", bounded(200.0, 5000.0)),
            workload: resolve_loop(),
            metrics: vec![
                metric("attacker_answered_share", "share", Worse::Higher, "share of the attacker's resolutions in the interval answered with PEs"),
                m_resolutions_failed(),
            ],
            defences: vec![
                defence("maxhrrate", RsplibOption, "registrar started with -maxhrrate=10: beyond 10/s per pool user and pool, resolutions are refused"),
                defence("gateway-hr-limit", Gateway, "the registrars are reachable only through the project's gateway, as a deployment that puts them behind it configures: the attacker is a gateway client (wss://…/asap/1), and the gateway forwards at most 10 resolutions/s per session after a burst of 20, refusing the rest (rate-limited). At 200/s that is at most 22 of the first 250 ms's 50 answered, about 1 in 20 after. Off: the attacker reaches registrar-1's SCTP port directly"),
            ],
            // The gateway's bucket lets its burst through in the attack's
            // first interval (about 22 of 50), so it is judged on the
            // attack phase's mean; the attack lasts long enough for that
            // mean to hold many intervals (under TCG a sample takes about
            // 550 ms and the attacker through the gateway starts about
            // 0.7 s late: a 3 s attack held two samples, one the burst).
            phases: phases(3000, 12000, 3000),
            expectation: also_over(compare("attacker_answered_share", ge(0.9), "maxhrrate", le(0.5)), "gateway-hr-limit", le(0.25), Over::Mean),
            ..base("hr-flood", None, Class::Load, "Handle-resolution flood")
        },
        Scenario {
            threat: s("Crafted malformed ASAP messages sent to a registrar (bad lengths, unknown parameters and types, wrong PPIDs)."),
            effect: s("A registrar that crashes or stops answering takes the pool down."),
            requirement: s("RFC 5351/5354 error handling: answer with the right ASAP Error cause, keep serving."),
            rsplib: s("Answers each with the documented ASAP Error or drops it; an ENRP PPID on the ASAP port aborts the association; keeps serving."),
            topology: topo(1, 1, false, "any lab"),
            phases: vec![],
            metrics: vec![metric("answers_after", "resolutions", Worse::Lower, "resolutions answered after the probes")],
            expectation: observed("answers_after", ge(1.0), "robustness: the registrar keeps answering"),
            command: Some(s("rserpool probe malformed --registrar sctp://10.1.0.11:3863")),
            ..base("probe-malformed", None, Class::Robustness, "Malformed ASAP messages")
        },
        Scenario {
            threat: s("Endpoint Unreachable reports about one PE, raw on one association or through the pool user's own limits."),
            effect: s("Raw reports delete the PE at the -maxbadpereports-th report; the pool user's limits send one."),
            requirement: s("RFC 5355 §2.13: limit reports."),
            rsplib: s("-maxbadpereports=3 by default; the count lasts the registration."),
            topology: topo(1, 1, false, "any lab"),
            phases: vec![],
            metrics: vec![metric("pe_listed", "PEs", Worse::Lower, "whether the reported PE is still listed after the reports")],
            defences: vec![defence("pool-user-eu-limit", PoolUser, "reports go through the project's pool user, which sends one per PE per interval")],
            expectation: compare("pe_listed", le(0.0), "pool-user-eu-limit", ge(1.0)),
            command: Some(s("rserpool probe unreachable --registrar sctp://10.1.0.11:3863 --pe PE_ID --count 5 [--raw]")),
            ..base("probe-unreachable", None, Class::Robustness, "Endpoint Unreachable through the pool user's limits or raw")
        },
        Scenario {
            threat: s("One pool user resolves a pool over and over."),
            effect: s("Measures registrar hunt and failover timing; every resolution should be answered."),
            requirement: s("RFC 5351: the pool user hunts for a registrar and fails over."),
            rsplib: s("Answers every resolution when -maxhrrate is off (the default)."),
            topology: topo(1, 1, false, "any lab"),
            phases: vec![],
            metrics: vec![metric("resolutions_failed", "resolutions", Worse::Higher, "resolutions not answered")],
            expectation: observed("resolutions_failed", le(0.0), "robustness: every resolution is answered"),
            command: Some(s("rserpool probe resolve-loop --registrar sctp://10.1.0.11:3863 --count 50")),
            ..base("probe-resolve-loop", None, Class::Robustness, "Resolution loop")
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_rfc5355_section_is_staged_or_says_why_not() {
        let cat = Catalogue::builtin();
        for n in 1..=17 {
            let sec = format!("2.{n}");
            let entries: Vec<_> = cat
                .scenarios
                .iter()
                .filter(|s| s.section.as_deref() == Some(sec.as_str()))
                .collect();
            assert!(!entries.is_empty(), "§{sec} has no entry");
            for e in entries {
                match e.class {
                    Class::NotStaged => assert!(
                        e.not_staged_reason.as_deref().is_some_and(|r| r.len() > 20),
                        "{} is not staged without a reason",
                        e.id
                    ),
                    _ => {
                        assert!(e.not_staged_reason.is_none(), "{}", e.id);
                        assert!(e.attacker.is_some(), "{} has no attacker", e.id);
                        assert!(e.expectation.is_some(), "{} has no expectation", e.id);
                    }
                }
            }
        }
        assert!(cat.get("hr-flood").is_ok());
        for probe in ["probe-malformed", "probe-unreachable", "probe-resolve-loop"] {
            assert_eq!(cat.get(probe).unwrap().class, Class::Robustness);
        }
    }

    #[test]
    fn ids_are_unique() {
        let cat = Catalogue::builtin();
        let mut seen = HashSet::new();
        for s in &cat.scenarios {
            assert!(seen.insert(&s.id), "duplicate id {}", s.id);
        }
    }

    #[test]
    fn expectations_name_a_metric_and_a_defence_of_their_scenario() {
        for s in Catalogue::builtin().scenarios {
            let Some(e) = &s.expectation else { continue };
            assert!(s.metric(e.metric()).is_some(), "{}: {}", s.id, e.metric());
            for with in e.with_defences() {
                assert!(s.defence(&with.defence).is_ok(), "{}", s.id);
            }
            if !s.phases.is_empty() {
                assert!(s.phases.iter().any(|p| p.name == e.phase()), "{}", s.id);
            }
            if let Some(a) = &s.attacker {
                for p in &a.params {
                    assert!(p.min <= p.value && p.value <= p.max, "{} {}", s.id, p.name);
                }
            }
        }
    }

    #[test]
    fn stand_ins_are_labelled_as_such() {
        for s in Catalogue::builtin().scenarios {
            for d in &s.defences {
                if d.kind == DefenceKind::LabStandIn {
                    assert!(d.what.starts_with("lab stand-in:"), "{} {}", s.id, d.name);
                }
            }
        }
    }

    #[test]
    fn unknown_ids_defences_and_params_are_refused_with_typed_errors() {
        let cat = Catalogue::builtin();
        assert!(matches!(
            cat.runnable("rfc5355-9.9-nope"),
            Err(CatalogueError::UnknownScenario { .. })
        ));
        assert!(matches!(
            cat.runnable("rfc5355-2.15-enrp-database"),
            Err(CatalogueError::NotStaged { .. })
        ));
        let eu = cat.runnable("rfc5355-2.13-eu-flood").unwrap();
        let err = eu.defence_settings(&[("tls".into(), true)]).unwrap_err();
        assert!(err.to_string().contains("maxeurate"), "{err}");
        let settings = eu.defence_settings(&[("maxeurate".into(), true)]).unwrap();
        assert!(settings.contains(&("maxeurate".into(), true)));
        assert!(settings.contains(&("gateway-eu-limit".into(), false)));
        assert!(matches!(
            eu.param_values(&[("rate".into(), 5000.0)]),
            Err(CatalogueError::ParamOutOfRange { .. })
        ));
        assert!(matches!(
            eu.param_values(&[("speed".into(), 5.0)]),
            Err(CatalogueError::UnknownParam { .. })
        ));
        let v = eu.param_values(&[("rate".into(), 10.0)]).unwrap();
        assert!(v.contains(&("rate".into(), 10.0)));
    }

    #[test]
    fn switches_and_params_parse_or_say_what_is_wrong() {
        assert_eq!(
            parse_defence_switch("maxeurate=on").unwrap(),
            ("maxeurate".into(), true)
        );
        assert_eq!(parse_defence_switch("x=off").unwrap(), ("x".into(), false));
        for bad in ["maxeurate", "=on", "x=maybe"] {
            assert!(matches!(
                parse_defence_switch(bad),
                Err(CatalogueError::BadSwitch { .. })
            ));
        }
        assert_eq!(parse_param("rate=2.5").unwrap(), ("rate".into(), 2.5));
        for bad in ["rate", "rate=x", "rate=NaN", "=3"] {
            assert!(matches!(
                parse_param(bad),
                Err(CatalogueError::BadParam { .. })
            ));
        }
    }

    #[test]
    fn json_has_the_contract_shape_and_reads_back() {
        let cat = Catalogue::builtin();
        let v = serde_json::to_value(&cat).unwrap();
        assert_eq!(v["schema"], SCHEMA);
        let eu = v["scenarios"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == "rfc5355-2.13-eu-flood")
            .unwrap();
        assert_eq!(eu["class"], "threat");
        assert_eq!(eu["section"], "2.13");
        assert_eq!(eu["phases"][1]["name"], "attack");
        assert_eq!(eu["expectation"]["without"]["op"], "<=");
        assert_eq!(eu["expectation"]["with"]["defence"], "maxeurate");
        assert_eq!(eu["defences"][0]["kind"], "rsplib-option");
        let back: Catalogue = serde_json::from_value(v).unwrap();
        assert_eq!(back, cat);
    }
}
