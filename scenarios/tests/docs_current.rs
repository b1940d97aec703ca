//! `docs/scenarios.md` is generated: the committed file must equal what
//! `rserpool scenario docs` prints from the catalogue and `docs/runs/`.

use std::path::Path;

use rserpool_scenarios::{docs, Catalogue, RunRecord};

#[test]
fn committed_scenarios_md_equals_the_generated_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut runs: Vec<_> = std::fs::read_dir(root.join("docs/runs"))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_else(|_| Vec::new());
    runs.retain(|p| p.extension().is_some_and(|x| x == "json"));
    runs.sort();
    let records: Vec<RunRecord> = runs
        .iter()
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect();
    let want = docs::scenarios_md(&Catalogue::builtin(), &records);
    let have = std::fs::read_to_string(root.join("docs/scenarios.md")).unwrap_or_default();
    assert!(
        have == want,
        "docs/scenarios.md is stale: run `rserpool scenario docs > docs/scenarios.md`"
    );
}
