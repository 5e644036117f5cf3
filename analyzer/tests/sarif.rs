//! SARIF as code scanning takes it: every SARIF document these tests make is validated against the
//! official SARIF 2.1.0 schema (docs/schemas/, by analyzer/tests/check_sarif.py): the reports of every
//! recorded trace (traces/), in both model modes and, for traces with device DMA, with the devices judged
//! non-coherent; the fuzz seeds' and regressions' reports; reports with awkward source paths. Scenario 01's
//! report must point at the observer's and the cause's source lines, found here from the guest's source
//! and its manifest. And the checker must reject what is not SARIF.

mod support;

use cohtrace_analyzer::analysis::analyze_with_policy;
use cohtrace_analyzer::model::{DmaPolicy, Mode, ModelConfig};
use cohtrace_analyzer::report::{self, HazardClass, SourceLine};
use cohtrace_analyzer::trace::TraceFile;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cohtrace(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cohtrace")).args(args).output().unwrap()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}


/// `analyze --format sarif` of every recorded trace (with its guest's ELF when built, so source lines
/// appear), each mode, and non-coherent devices for the traces that have DMA: the results are the
/// committed JSON report's hazards, one rule per class, and every document is valid SARIF 2.1.0.
#[test]
fn every_recorded_trace_gives_valid_sarif_with_its_hazards() {
    let dir = support::tempdir("sarif-traces");
    let guests = support::guest_elfs();
    let mut files = Vec::new();
    let (mut dma, mut walks, mut located) = (0, 0, 0);
    for trace in support::recorded_traces() {
        let name = trace.file_stem().unwrap().to_str().unwrap().to_string();
        let has_dma = std::fs::read_dir(support::repo().join("traces"))
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_str().is_some_and(|f| f.starts_with(&format!("{name}.dma-noncoherent."))));
        let elf = guests.as_ref().map(|g| g.join(format!("{name}.elf"))).filter(|e| e.is_file());
        for (prefix, dma_args) in [("", &[][..]), ("dma-noncoherent.", &["--dma", "noncoherent"][..])] {
            if !prefix.is_empty() && !has_dma {
                continue;
            }
            for mode in ["speculative", "precise"] {
                let out = dir.join(format!("{name}.{prefix}{mode}.sarif"));
                let mut args = vec!["analyze", trace.to_str().unwrap(), "--format", "sarif", "--model", mode, "-o", out.to_str().unwrap()];
                args.extend(dma_args);
                if let Some(e) = &elf {
                    args.extend(["--elf", e.to_str().unwrap()]);
                }
                let run = cohtrace(&args);
                assert!(matches!(run.status.code(), Some(0 | 1)), "{args:?}: {}", String::from_utf8_lossy(&run.stderr));
                let sarif = read_json(&out);
                let expected = read_json(&trace.with_extension(format!("{prefix}{mode}.json")));
                let results = sarif["runs"][0]["results"].as_array().unwrap();
                let rules = sarif["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
                assert_eq!(rules.len(), HazardClass::ALL.len(), "one rule per class");
                assert_eq!(results.len(), expected.as_array().unwrap().len(), "{}", out.display());
                for (r, h) in results.iter().zip(expected.as_array().unwrap()) {
                    assert_eq!(r["ruleId"], h["class"], "{}", out.display());
                    assert_eq!(rules[r["ruleIndex"].as_u64().unwrap() as usize]["id"], h["class"]);
                    assert_eq!(r["properties"]["line_pa"], h["line_pa"]);
                    dma += (h["observer"]["kind"].as_str().unwrap().starts_with("dma") && !prefix.is_empty()) as usize;
                    walks += h["observer"]["kind"].as_str().unwrap().starts_with("walk") as usize;
                    located += r["locations"][0]["physicalLocation"]["region"]["startLine"].is_u64() as usize;
                }
                files.push(out);
            }
        }
    }
    assert!(files.len() >= 34, "only {} SARIF documents", files.len());
    assert!(dma >= 2, "device observers judged non-coherent: {dma}");
    assert!(walks >= 1, "a table walk's hazard (scenario 17): {walks}");
    if guests.is_some() {
        assert!(located >= 10, "source lines from the guests' DWARF: only {located}");
    }
    support::check_sarif(&files);
}

/// The fuzz seeds and regressions (synthetic traces with every record kind, several vCPUs, devices):
/// whatever they report, in each mode and DMA judgement, is valid SARIF.
#[test]
fn the_fuzz_inputs_give_valid_sarif() {
    let dir = support::tempdir("sarif-fuzz");
    let mut files = Vec::new();
    for sub in ["fuzz/seeds/trace", "fuzz/regressions/trace"] {
        let mut inputs: Vec<PathBuf> = std::fs::read_dir(support::repo().join(sub)).unwrap().flatten().map(|e| e.path()).collect();
        inputs.sort();
        for p in inputs {
            let Ok(t) = TraceFile::from_bytes(std::fs::read(&p).unwrap()) else { continue };
            for (i, (mode, noncoherent)) in [(Mode::Speculative, false), (Mode::Precise, true)].into_iter().enumerate() {
                let policy = DmaPolicy { noncoherent_all: noncoherent, noncoherent: Vec::new() };
                let a = analyze_with_policy(&t, ModelConfig { mode, ..Default::default() }, &policy, 1, |_| {});
                let out = dir.join(format!("{}.{i}.sarif", p.file_stem().unwrap().to_str().unwrap()));
                std::fs::write(&out, report::sarif::render(a.log.hazards())).unwrap();
                files.push(out);
            }
        }
    }
    assert!(files.len() >= 20, "only {} documents", files.len());
    support::check_sarif(&files);
}

/// Source paths a line table may hold (spaces, a colon, non-ASCII, `..`, relative, outside the root) are
/// URIs code scanning accepts.
#[test]
fn awkward_source_paths_give_valid_uris() {
    let t = TraceFile::open(&support::repo().join("traces/01-nc-write-wb-read.ctrace")).unwrap();
    let mut hazards = analyze_with_policy(&t, ModelConfig::default(), &DmaPolicy::default(), 1, |_| {}).log.into_hazards();
    assert_eq!(hazards.len(), 1);
    let mut h = hazards.remove(0);
    let dir = support::tempdir("sarif-paths");
    let mut files = Vec::new();
    for (i, file) in ["/src/root/a dir/x:y/é.S", "/src/root/guests/../guests/./b.S", "rel/c.S", "/elsewhere/[d]%.S"].into_iter().enumerate() {
        h.observer.source = Some(SourceLine { file: file.to_string(), line: 7 });
        h.observer.symbol = Some("sym[1]".to_string());
        for (j, root) in [None, Some(Path::new("/src/root"))].into_iter().enumerate() {
            let out = dir.join(format!("{i}.{j}.sarif"));
            std::fs::write(&out, report::sarif::render_with_root(std::slice::from_ref(&h), root)).unwrap();
            let v = read_json(&out);
            let loc = &v["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
            assert_eq!(loc["region"]["startLine"], 7);
            assert!(loc["address"]["absoluteAddress"].is_u64(), "the PC stays");
            if root.is_some() && file.starts_with("/src/root/") {
                assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%", "{file}");
            }
            files.push(out);
        }
    }
    support::check_sarif(&files);
}

/// The line of the first instruction after `label:`'s definition (`glabel label`) in a guest's source.
fn instruction_line_after_label(source: &str, label: &str) -> u32 {
    let lines: Vec<&str> = source.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.split_whitespace().collect::<Vec<_>>() == ["glabel", label])
        .unwrap_or_else(|| panic!("no `glabel {label}` in the source"));
    let next = (at + 1..lines.len())
        .find(|&i| {
            let t = lines[i].split("//").next().unwrap().trim();
            !t.is_empty() && !t.starts_with('.') && !t.ends_with(':') && !t.starts_with("glabel")
        })
        .unwrap();
    next as u32 + 1
}

/// Scenario 01's recorded trace with its guest's ELF (assembled with `as -g`): the SARIF result points at
/// the observer's load in guests/scenarios/01-nc-write-wb-read.S (relative to %SRCROOT%, the repository)
/// and its cause at the guest's store, the lines found in the source after the manifest's labels; the
/// JSON and text reports and `explain` say the same lines.
#[test]
fn scenario_01_points_at_its_source_lines() {
    let Some(guests) = support::guest_elfs() else { return };
    let repo = support::repo();
    let (_, manifest) = support::manifests().into_iter().find(|(_, m)| m.variant.iter().any(|v| v.name == "01-nc-write-wb-read")).unwrap();
    let expected = &manifest.variant.iter().find(|v| v.name == "01-nc-write-wb-read").unwrap().hazard[0];
    let source_rel = format!("guests/scenarios/{}", manifest.source);
    let source = std::fs::read_to_string(repo.join(&source_rel)).unwrap();
    let observer_line = instruction_line_after_label(&source, &expected.observer);
    let cause_line = instruction_line_after_label(&source, &expected.cause);
    assert_ne!(observer_line, cause_line);

    let trace = repo.join("traces/01-nc-write-wb-read.ctrace");
    let elf = guests.join("01-nc-write-wb-read.elf");
    let (trace, elf) = (trace.to_str().unwrap(), elf.to_str().unwrap());
    let dir = support::tempdir("sarif-01");
    let out = dir.join("01.sarif");
    let run = cohtrace(&["analyze", trace, "--elf", elf, "--format", "sarif", "--source-root", repo.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1), "{}", String::from_utf8_lossy(&run.stderr));
    let v = read_json(&out);
    let run0 = &v["runs"][0];
    let root_uri = run0["originalUriBaseIds"]["%SRCROOT%"]["uri"].as_str().unwrap();
    assert_eq!(root_uri, format!("file://{}/", repo.display()));
    let r = &run0["results"][0];
    assert_eq!(r["ruleId"], expected.class);
    for (loc, line, label) in [(&r["locations"][0], observer_line, &expected.observer), (&r["relatedLocations"][0], cause_line, &expected.cause)] {
        let p = &loc["physicalLocation"];
        assert_eq!(p["artifactLocation"]["uri"], source_rel.as_str(), "{loc}");
        assert_eq!(p["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert_eq!(p["region"]["startLine"], line, "{label}: {loc}");
        assert_eq!(loc["logicalLocations"][0]["name"], label.as_str());
    }
    support::check_sarif(&[out]);

    // The other reports: JSON's `source`, the text's file:line, explain's sides.
    let run = cohtrace(&["analyze", trace, "--elf", elf, "--format", "json"]);
    let j: Value = serde_json::from_slice(&run.stdout).unwrap();
    let file = repo.join(&source_rel).display().to_string();
    assert_eq!(j[0]["observer"]["source"], serde_json::json!({ "file": file, "line": observer_line }));
    assert_eq!(j[0]["cause"]["source"], serde_json::json!({ "file": file, "line": cause_line }));
    let text = String::from_utf8_lossy(&cohtrace(&["analyze", trace, "--elf", elf]).stdout).into_owned();
    assert!(text.contains(&format!("({}, {file}:{observer_line})", expected.observer)), "{text}");
    let text = String::from_utf8_lossy(&cohtrace(&["explain", trace, "--elf", elf]).stdout).into_owned();
    assert!(text.contains(&format!("({}, {file}:{cause_line})", expected.cause)), "{text}");
    // Without DWARF (a System.map's names only) no source, and JSON keeps its keys.
    let map = dir.join("System.map");
    std::fs::write(&map, format!("{:x} T el2_read\n", support::symbols(Path::new(elf))["el2_read"])).unwrap();
    let run = cohtrace(&["analyze", trace, "--symbols", map.to_str().unwrap(), "--format", "json"]);
    let j: Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(j[0]["observer"]["symbol"], "el2_read");
    assert!(j[0]["observer"].get("source").is_none());
}

/// The checker fails on what is not SARIF 2.1.0, naming each error's place: a level the schema lacks, a
/// relative helpUri (code scanning's upload wants an absolute URI), a URI with a space, a ruleIndex that
/// is another rule, a message link to no location, a missing required key.
#[test]
fn the_checker_rejects_invalid_sarif() {
    let Some(python) = support::pytools() else { return };
    let t = TraceFile::open(&support::repo().join("traces/01-nc-write-wb-read.ctrace")).unwrap();
    let mut hazards = analyze_with_policy(&t, ModelConfig::default(), &DmaPolicy::default(), 1, |_| {}).log.into_hazards();
    hazards[0].observer.source = Some(SourceLine { file: "/x/y.S".into(), line: 3 });
    let good: Value = serde_json::from_str(&report::sarif::render(&hazards)).unwrap();
    let dir = support::tempdir("sarif-bad");
    let check = |name: &str, doc: &Value| {
        let p = dir.join(name);
        std::fs::write(&p, serde_json::to_string(doc).unwrap()).unwrap();
        Command::new(&python).arg(support::repo().join("analyzer/tests/check_sarif.py")).arg(&p).output().unwrap()
    };
    assert!(check("good.sarif", &good).status.success());
    let mut cases: Vec<(&str, Value)> = Vec::new();
    let mut d = good.clone();
    d["runs"][0]["results"][0]["level"] = "fatal".into();
    cases.push(("/runs/0/results/0/level: 'fatal' is not one of", d));
    let mut d = good.clone();
    d["runs"][0]["tool"]["driver"]["rules"][1]["helpUri"] = "docs/model.md#dirty-bypass".into();
    cases.push(("/runs/0/tool/driver/rules/1/helpUri: 'docs/model.md#dirty-bypass' is not a 'uri'", d));
    let mut d = good.clone();
    d["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] = "file:///x/a b.S".into();
    cases.push(("/runs/0/results/0/locations/0/physicalLocation/artifactLocation/uri: 'file:///x/a b.S' is not a 'uri-reference'", d));
    let mut d = good.clone();
    d["runs"][0]["results"][0]["ruleIndex"] = 3.into();
    cases.push(("/runs/0/results/0/ruleIndex: ruleIndex 3 is rule 'stale-ifetch', not ruleId 'stale-read'", d));
    let mut d = good.clone();
    d["runs"][0]["results"][0]["relatedLocations"][0]["id"] = 5.into();
    cases.push(("/runs/0/results/0/message/text: the link to location 1 names no location", d));
    let mut d = good.clone();
    d["runs"][0].as_object_mut().unwrap().remove("tool");
    cases.push(("/runs/0: 'tool' is a required property", d));
    for (i, (want, doc)) in cases.into_iter().enumerate() {
        let out = check(&format!("bad{i}.sarif"), &doc);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "case {i} must fail: {err}");
        assert!(err.contains(want), "case {i}: wanted {want:?} in:\n{err}");
    }
}
