//! `rserpool scenario …`: the RFC 5355 scenario catalogue
//! (crate `rserpool-scenarios`; `docs/scenarios.md`).

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use rserpool_scenarios::{docs, Catalogue, RunRecord};

use crate::{CliError, ExitStatus};

#[derive(Debug, Subcommand)]
pub enum ScenarioCommand {
    /// List every scenario: id, RFC 5355 section, class, title.
    List,
    /// Show one scenario in full.
    Show {
        /// Scenario id (see `rserpool scenario list`).
        id: String,
    },
    /// Run a scenario against the running lab (`rserpool lab up`):
    /// progress on stderr, the run record on stdout (--json) or in --out.
    Run(RunArgs),
    /// Print docs/scenarios.md: a card per scenario, with the figures of
    /// the run records in DIR.
    Docs {
        /// Directory of run records (`*.json`, schema rserpool-run/2).
        #[arg(long, default_value = "docs/runs")]
        runs: PathBuf,
    },
    /// Run every staged scenario (or the ids given) against the running
    /// lab with every defence off, then once with each defence on, and
    /// write each run record to DIR as `ID-off-seedN.json` /
    /// `ID-DEFENCE-seedN.json` (the records `scenario docs` reads). Every
    /// run is recorded, failed verdicts too; the status is 1 if any run
    /// failed or did not finish.
    Record(RecordArgs),
}

#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// Scenario ids; none: every staged scenario of the catalogue.
    pub ids: Vec<String>,
    /// Where the run records go.
    #[arg(long, default_value = "docs/runs")]
    pub dir: PathBuf,
    /// Seed of every run.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Scale every phase's duration.
    #[arg(long, default_value_t = 0.5)]
    pub phase_scale: f64,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Scenario id (see `rserpool scenario list`).
    pub id: String,
    /// Switch a defence: NAME=on|off (repeatable).
    #[arg(long = "defence")]
    pub defences: Vec<String>,
    /// Override an attacker parameter: NAME=VALUE, within its range.
    #[arg(long = "param")]
    pub params: Vec<String>,
    /// Seed of the attacker and workload.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Scale every phase's duration (0.5: half as long).
    #[arg(long, default_value_t = 1.0)]
    pub phase_scale: f64,
    /// Write the run record here (with --compare: NAME.off.EXT and
    /// NAME.on.EXT beside it, one per run).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run twice from the same seed, with this defence off then on, and
    /// print the difference of the expectation's metric.
    #[arg(long)]
    pub compare: Option<String>,
    /// Capture the run's ASAP/ENRP traffic inside the lab into this pcap
    /// file (at most 16 MB; with --compare: NAME.off.EXT and NAME.on.EXT).
    /// Opens in Wireshark and with `rserpool decode --pcap`.
    #[arg(long)]
    pub pcap: Option<PathBuf>,
}

/// Where `--out PATH` (or `--pcap PATH`) writes: PATH itself, or with
/// `--compare` one file per run beside it, `NAME.off.EXT` (defence off)
/// and `NAME.on.EXT`.
fn out_paths(path: &std::path::Path, compare: bool) -> Vec<PathBuf> {
    if !compare {
        return vec![path.to_path_buf()];
    }
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let ext = path
        .extension()
        .map_or(String::new(), |e| format!(".{}", e.to_string_lossy()));
    ["off", "on"]
        .iter()
        .map(|v| path.with_file_name(format!("{stem}.{v}{ext}")))
        .collect()
}

fn io(e: std::io::Error) -> CliError {
    CliError::new(ExitStatus::Failure, e.into())
}

/// `rserpool scenario …`.
pub fn run(cmd: &ScenarioCommand, as_json: bool, out: &mut dyn Write) -> Result<(), CliError> {
    let cat = Catalogue::builtin();
    match cmd {
        ScenarioCommand::List => {
            if as_json {
                let v = serde_json::to_string(&cat)
                    .map_err(|e| CliError::from(anyhow::Error::from(e)))?;
                writeln!(out, "{v}").map_err(io)?;
            } else {
                for s in &cat.scenarios {
                    writeln!(
                        out,
                        "{:<38} {:<6} {:<10} {}",
                        s.id,
                        s.section.as_deref().unwrap_or("-"),
                        serde_json::to_value(s.class)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_string))
                            .unwrap_or_default(),
                        s.title
                    )
                    .map_err(io)?;
                }
            }
        }
        ScenarioCommand::Show { id } => {
            let s = cat
                .get(id)
                .map_err(|e| CliError::new(ExitStatus::Usage, e.into()))?;
            if as_json {
                let v =
                    serde_json::to_string(s).map_err(|e| CliError::from(anyhow::Error::from(e)))?;
                writeln!(out, "{v}").map_err(io)?;
            } else {
                let one = Catalogue {
                    schema: cat.schema.clone(),
                    scenarios: vec![s.clone()],
                };
                let md = docs::scenarios_md(&one, &[]);
                // The card only: skip the page heading and index.
                let card = md
                    .find(&format!("## {}", s.id))
                    .map_or(md.as_str(), |i| &md[i..]);
                write!(out, "{card}").map_err(io)?;
            }
        }
        ScenarioCommand::Run(a) => return run_scenario(&cat, a, as_json, out),
        ScenarioCommand::Record(a) => return record(&cat, a, out),
        ScenarioCommand::Docs { runs } => {
            let records = read_records(runs)?;
            write!(out, "{}", docs::scenarios_md(&cat, &records)).map_err(io)?;
        }
    }
    out.flush().map_err(io)
}

fn usage(e: impl Into<anyhow::Error>) -> CliError {
    CliError::new(ExitStatus::Usage, e.into())
}

fn run_scenario(
    cat: &Catalogue,
    a: &RunArgs,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    use rserpool_scenarios::catalogue::{parse_defence_switch, parse_param};
    let scenario = cat.runnable(&a.id).map_err(usage)?;
    let defences = a
        .defences
        .iter()
        .map(|d| parse_defence_switch(d))
        .collect::<Result<Vec<_>, _>>()
        .map_err(usage)?;
    let params = a
        .params
        .iter()
        .map(|p| parse_param(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(usage)?;
    scenario.defence_settings(&defences).map_err(usage)?;
    scenario.param_values(&params).map_err(usage)?;
    if let Some(c) = &a.compare {
        scenario.defence(c).map_err(usage)?;
    }
    if !(0.05..=10.0).contains(&a.phase_scale) {
        return Err(usage(anyhow::anyhow!(
            "--phase-scale must be within 0.05..=10"
        )));
    }
    let pcaps: Vec<Option<PathBuf>> = match &a.pcap {
        Some(p) => {
            // Refused before the run, not after it.
            if let Some(d) = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty() && !d.is_dir())
            {
                return Err(usage(anyhow::anyhow!(
                    "--pcap {}: there is no directory {}",
                    p.display(),
                    d.display()
                )));
            }
            out_paths(p, a.compare.is_some())
                .into_iter()
                .map(Some)
                .collect()
        }
        None => vec![None, None],
    };
    let lab = crate::lab::current_lab().map_err(CliError::from)?;
    let variants: Vec<Option<bool>> = match &a.compare {
        Some(_) => vec![Some(false), Some(true)],
        None => vec![None],
    };
    let mut records = Vec::new();
    for (v, pcap) in variants.into_iter().zip(pcaps) {
        let mut d = defences.clone();
        if let (Some(name), Some(on)) = (&a.compare, v) {
            d.retain(|(n, _)| n != name);
            d.push((name.clone(), on));
        }
        let rec = run_one(
            &lab,
            scenario,
            d,
            &a.params,
            params.clone(),
            a.seed,
            a.phase_scale,
            pcap.clone(),
        )?;
        if let Some(v) = &rec.verdict {
            eprintln!("verdict: {}", v.text);
        }
        if let (Some(path), Some(p)) = (&pcap, &rec.pcap) {
            eprintln!(
                "capture: {} ({} packets, {} bytes{})",
                path.display(),
                p.packets,
                p.bytes,
                p.truncated
                    .as_deref()
                    .map_or(String::new(), |t| format!(", cut short: {t}"))
            );
        }
        records.push(rec);
    }
    if let Some(path) = &a.out {
        for (rec, path) in records.iter().zip(out_paths(path, a.compare.is_some())) {
            let text = serde_json::to_string_pretty(rec)
                .map_err(|e| CliError::from(anyhow::Error::from(e)))?;
            std::fs::write(&path, text).map_err(io)?;
            eprintln!("run record: {}", path.display());
        }
    }
    if as_json {
        for r in &records {
            let v = serde_json::to_string(r).map_err(|e| CliError::from(anyhow::Error::from(e)))?;
            writeln!(out, "{v}").map_err(io)?;
        }
    } else {
        for r in &records {
            writeln!(
                out,
                "{}: {}",
                r.command,
                r.verdict.as_ref().map_or("no verdict", |v| v.text.as_str())
            )
            .map_err(io)?;
        }
    }
    if let (Some(_), [off, on]) = (&a.compare, records.as_slice()) {
        if let Some(e) = &scenario.expectation {
            let get = |r: &RunRecord| {
                r.summary
                    .get(&e.phase())
                    .and_then(|m| m.get(e.metric()))
                    .copied()
            };
            if let (Some(x), Some(y)) = (get(off), get(on)) {
                writeln!(
                    out,
                    "{} in {}: off {x:.3}, on {y:.3}, difference {:.3}",
                    e.metric(),
                    e.phase().as_str(),
                    y - x
                )
                .map_err(io)?;
            }
        }
    }
    if a.pcap.is_some() {
        if let Some(r) = records.iter().find(|r| r.pcap.is_none()) {
            let why = r
                .events
                .iter()
                .rev()
                .find_map(|e| e.detail.as_deref().filter(|d| d.starts_with("no capture")))
                .unwrap_or("no capture");
            return Err(CliError::new(
                ExitStatus::Failure,
                anyhow::anyhow!("the run was recorded but not captured: {why}"),
            ));
        }
    }
    if records
        .iter()
        .any(|r| r.verdict.as_ref().is_some_and(|v| !v.passed))
    {
        return Err(CliError::new(
            ExitStatus::Failure,
            anyhow::anyhow!("the measured outcome is not the catalogue's expectation"),
        ));
    }
    out.flush().map_err(io)
}

/// One run of `scenario` on `lab`, progress on stderr; its record's
/// command is the `rserpool scenario run` line that repeats it.
#[allow(clippy::too_many_arguments)]
fn run_one(
    lab: &rserpool_scenarios::LabHandle,
    scenario: &rserpool_scenarios::Scenario,
    defences: Vec<(String, bool)>,
    param_switches: &[String],
    params: Vec<(String, f64)>,
    seed: u64,
    phase_scale: f64,
    pcap: Option<PathBuf>,
) -> Result<RunRecord, CliError> {
    let mut command = format!("rserpool scenario run {} --seed {seed}", scenario.id);
    for (n, on) in &defences {
        command.push_str(&format!(
            " --defence {n}={}",
            if *on { "on" } else { "off" }
        ));
    }
    for p in param_switches {
        command.push_str(&format!(" --param {p}"));
    }
    if phase_scale != 1.0 {
        command.push_str(&format!(" --phase-scale {phase_scale}"));
    }
    let opts = rserpool_scenarios::RunOptions {
        seed,
        defences,
        params,
        phase_scale,
        command,
        pcap,
    };
    let stop = std::sync::atomic::AtomicBool::new(false);
    rserpool_scenarios::run(
        lab,
        scenario,
        &opts,
        |p| {
            let vals: Vec<String> = p
                .sample
                .values
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            eprintln!(
                "[{:>6} ms] {:<8} {}",
                p.elapsed_ms,
                p.phase.as_str(),
                vals.join(" ")
            );
        },
        &stop,
    )
    .map_err(CliError::from)
}

/// `rserpool scenario record`: every staged scenario off, then each
/// defence on; one record file per run.
fn record(cat: &Catalogue, a: &RecordArgs, out: &mut dyn Write) -> Result<(), CliError> {
    if !(0.05..=10.0).contains(&a.phase_scale) {
        return Err(usage(anyhow::anyhow!(
            "--phase-scale must be within 0.05..=10"
        )));
    }
    let scenarios: Vec<&rserpool_scenarios::Scenario> = if a.ids.is_empty() {
        cat.scenarios
            .iter()
            .filter(|s| cat.runnable(&s.id).is_ok() && !s.phases.is_empty())
            .collect()
    } else {
        a.ids
            .iter()
            .map(|id| cat.runnable(id).map_err(usage))
            .collect::<Result<_, _>>()?
    };
    let lab = crate::lab::current_lab().map_err(CliError::from)?;
    std::fs::create_dir_all(&a.dir).map_err(io)?;
    let mut failed = 0;
    for s in scenarios {
        let names: Vec<&str> = s.defences.iter().map(|d| d.name.as_str()).collect();
        let mut variants: Vec<Option<&str>> = vec![None];
        variants.extend(names.iter().map(|n| Some(*n)));
        for on in variants {
            let label = on.unwrap_or("off");
            if on.is_some_and(|n| !rserpool_scenarios::run::can_apply(n)) {
                writeln!(out, "{} {label}: not applied by the runner yet", s.id).map_err(io)?;
                failed += 1;
                continue;
            }
            let defences: Vec<(String, bool)> = names
                .iter()
                .map(|n| (n.to_string(), Some(*n) == on))
                .collect();
            match run_one(
                &lab,
                s,
                defences,
                &[],
                Vec::new(),
                a.seed,
                a.phase_scale,
                None,
            ) {
                Ok(rec) => {
                    let path = a.dir.join(format!("{}-{label}-seed{}.json", s.id, a.seed));
                    let text = serde_json::to_string_pretty(&rec)
                        .map_err(|e| CliError::from(anyhow::Error::from(e)))?;
                    std::fs::write(&path, text).map_err(io)?;
                    let v = rec.verdict.as_ref();
                    if !v.is_some_and(|v| v.passed) {
                        failed += 1;
                    }
                    writeln!(
                        out,
                        "{} {label}: {} ({})",
                        s.id,
                        v.map_or("no verdict", |v| v.text.as_str()),
                        path.display()
                    )
                    .map_err(io)?;
                }
                Err(e) => {
                    failed += 1;
                    writeln!(out, "{} {label}: run failed: {e}", s.id).map_err(io)?;
                }
            }
            out.flush().map_err(io)?;
        }
    }
    if failed > 0 {
        return Err(CliError::new(
            ExitStatus::Failure,
            anyhow::anyhow!("{failed} run(s) failed or were not applied"),
        ));
    }
    Ok(())
}

/// Every `*.json` run record in `dir`, sorted by file name; none if the
/// directory does not exist.
pub fn read_records(dir: &Path) -> Result<Vec<RunRecord>, CliError> {
    let bad = |e: anyhow::Error| CliError::new(ExitStatus::BadInput, e);
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(vec![]);
    };
    let mut paths: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .map_err(|e| bad(anyhow::anyhow!("{}: {e}", p.display())))?;
            serde_json::from_str(&text).map_err(|e| bad(anyhow::anyhow!("{}: {e}", p.display())))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_writes_one_record_per_run_beside_out() {
        let p = std::path::Path::new("/tmp/runs/eu.json");
        assert_eq!(
            out_paths(p, false),
            vec![PathBuf::from("/tmp/runs/eu.json")]
        );
        assert_eq!(
            out_paths(p, true),
            vec![
                PathBuf::from("/tmp/runs/eu.off.json"),
                PathBuf::from("/tmp/runs/eu.on.json")
            ]
        );
        assert_eq!(
            out_paths(std::path::Path::new("run"), true),
            vec![PathBuf::from("run.off"), PathBuf::from("run.on")]
        );
    }

    fn out(cmd: ScenarioCommand, json: bool) -> Result<String, CliError> {
        let mut buf = Vec::new();
        run(&cmd, json, &mut buf)?;
        Ok(String::from_utf8(buf).unwrap())
    }

    #[test]
    fn list_json_is_the_catalogue_and_show_refuses_unknown_ids() {
        let text = out(ScenarioCommand::List, true).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["schema"], "rserpool-catalogue/1");
        assert!(v["scenarios"].as_array().unwrap().len() >= 17);
        let card = out(
            ScenarioCommand::Show {
                id: "rfc5355-2.13-eu-flood".into(),
            },
            false,
        )
        .unwrap();
        assert!(card.starts_with("## rfc5355-2.13-eu-flood"), "{card}");
        assert!(card.contains("maxeurate"), "{card}");
        let err = out(ScenarioCommand::Show { id: "nope".into() }, false).unwrap_err();
        assert_eq!(err.status, ExitStatus::Usage);
        assert!(err.to_string().contains("unknown scenario"), "{err}");
    }
}
