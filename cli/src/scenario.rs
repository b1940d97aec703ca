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
    /// Print docs/scenarios.md: a card per scenario, with the figures of
    /// the run records in DIR.
    Docs {
        /// Directory of run records (`*.json`, schema rserpool-run/1).
        #[arg(long, default_value = "docs/runs")]
        runs: PathBuf,
    },
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
        ScenarioCommand::Docs { runs } => {
            let records = read_records(runs)?;
            write!(out, "{}", docs::scenarios_md(&cat, &records)).map_err(io)?;
        }
    }
    out.flush().map_err(io)
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
