//! `cohtrace export --perfetto OUT TRACE` on the recorded traces (every hazard class, walk and DMA sides,
//! two vCPUs) and on a synthetic one for set/way maintenance, checked with Perfetto's own trace schema by
//! analyzer/tests/check_perfetto.py (the `perfetto` package's generated classes, scripts/setup-pytools):
//! the file parses, slices pair up, flows have both ends. This test then holds the checker's summary
//! against the hazards the committed JSON reports expect: a track per hazard line with its hazard's
//! lane, the flow from the cause's instant to the observer's (their tracks, PCs and kinds), and a window
//! of a stale or dirty copy (or memory behind) around the observer.

mod support;

use cohtrace_analyzer::event::{Access, AccessKind, CacheOp, Event, Maintenance};
use cohtrace_analyzer::memtype::MemType;
use cohtrace_analyzer::trace::{Geometry, Header, Record, TraceWriter};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cohtrace(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cohtrace")).args(args).output().unwrap()
}

/// The guest ELF of a recorded trace's variant, when the guests are built (scripts/build-guests).
fn guest_elf(variant: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("COHTRACE_GUESTS").map(PathBuf::from).unwrap_or_else(|| support::repo().join("target/guests"));
    Some(dir.join(format!("{variant}.elf"))).filter(|p| p.is_file())
}

/// Runs the checker on `file`, requiring `tracks`; its JSON summary.
fn check(python: &Path, file: &Path, tracks: &[String]) -> Value {
    let mut cmd = Command::new(python);
    cmd.arg(support::repo().join("analyzer/tests/check_perfetto.py")).arg(file);
    for t in tracks {
        cmd.arg("--track").arg(t);
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "check_perfetto.py {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// The track a hazard's side's instant must be on.
fn side_track(side: &Value) -> String {
    match side["dma"]["device"].as_str() {
        Some(d) => format!("device {d}"),
        None => format!("vCPU {}", side["vcpu"]),
    }
}

/// The instant categories a side's kind (JSON report) may have.
fn categories(kind: &str) -> &'static [&'static str] {
    match kind {
        "load" | "store" => &["access", "bulk"],
        "fetch" => &["fetch"],
        "maintenance" => &["maintenance"],
        "walk" | "walk-update" => &["walk"],
        "dma-read" | "dma-write" => &["dma"],
        other => panic!("unknown side kind {other}"),
    }
}

/// Exports `trace` (judged with `args`) and checks it against `expected` (the JSON report of the same
/// judgement); with `elf`, also that the events are named by their symbols. Returns the summary.
fn export_and_check(python: &Path, dir: &Path, trace: &Path, args: &[&str], expected: &[Value], elf: Option<&Path>) -> Value {
    let name = trace.file_stem().unwrap().to_string_lossy().to_string();
    let out_file = dir.join(format!("{name}{}.pftrace", args.join("")));
    let mut cmd: Vec<&str> = vec!["export", "--perfetto", out_file.to_str().unwrap(), trace.to_str().unwrap()];
    cmd.extend(args);
    if let Some(e) = elf {
        cmd.extend(["--elf", e.to_str().unwrap()]);
    }
    let out = cohtrace(&cmd);
    assert_eq!(out.status.code(), Some(0), "{name}: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("wrote {}", out_file.display())));

    // The line tracks, named by their hazards' classes.
    let mut lines: Vec<(String, Vec<&str>)> = Vec::new();
    for h in expected {
        let pa = s(&h["line_pa"]).to_string();
        match lines.iter_mut().find(|(l, _)| *l == pa) {
            Some((_, classes)) => classes.push(s(&h["class"])),
            None => lines.push((pa, vec![s(&h["class"])])),
        }
    }
    let line_tracks: Vec<String> = lines
        .iter()
        .map(|(pa, classes)| {
            let mut c = classes.clone();
            c.sort();
            c.dedup();
            format!("line {pa} ({})", c.join(", "))
        })
        .collect();
    let v = check(python, &out_file, &line_tracks);
    let tracks = v["tracks"].as_array().unwrap();
    let track = |name: &str| tracks.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("{name}: no track {name}: {v}"));
    let lanes = tracks.iter().filter(|t| t["parent"].is_null() && s(&t["name"]).starts_with("line ")).count();
    assert_eq!(lanes, lines.len(), "{name}: a track per hazard line, no more: {v}");
    let flows = v["flows"].as_array().unwrap();
    assert_eq!(flows.len(), expected.len(), "{name}: a flow per hazard: {v}");
    let instants = v["instants"].as_array().unwrap();

    for (i, h) in expected.iter().enumerate() {
        let n = i + 1;
        let class = s(&h["class"]);
        let line_track = line_tracks[lines.iter().position(|(pa, _)| pa == s(&h["line_pa"])).unwrap()].as_str();
        let line_uuid = &track(line_track)["uuid"];
        let lane = track(&format!("hazard {n}: {class}"));
        assert_eq!(&lane["parent"], line_uuid, "{name}: hazard {n}'s lane is under its line");

        // The flow: the cause's instant and the observer's, on their vCPU's or device's track.
        let flow = flows.iter().find(|f| f["id"] == n).unwrap_or_else(|| panic!("{name}: no flow {n}: {v}"));
        let at = |end: &Value| {
            instants
                .iter()
                .find(|e| e["track"] == end["track"] && e["ts"] == end["ts"] && e["name"] == end["name"])
                .unwrap_or_else(|| panic!("{name}: flow {n} ends on no instant: {end}"))
        };
        let (from, to) = (at(&flow["from"]), at(&flow["to"]));
        let role = format!("hazard {n} ({class})");
        let has = |e: &Value, r: &str| e["annotations"][r].as_str().is_some_and(|of| of.split(", ").any(|x| x == role));
        let (cause, observer) = if has(from, "cause of") { (from, to) } else { (to, from) };
        assert!(has(cause, "cause of"), "{name}: flow {n} starts or ends at the cause: {flow}");
        assert!(has(observer, "observer of"), "{name}: flow {n} ends or starts at the observer: {flow}");
        assert!(from["ts"].as_u64() <= to["ts"].as_u64(), "{name}: flow {n} runs forward in time");
        for (side, inst) in [(&h["cause"], cause), (&h["observer"], observer)] {
            assert_eq!(inst["track"], side_track(side).as_str(), "{name}: hazard {n}'s side on its actor's track");
            let kind = s(&side["kind"]);
            let cat = s(&inst["categories"][0]);
            assert!(categories(kind).contains(&cat), "{name}: a {kind} side drawn as {cat}");
            if !side["pc"].is_null() {
                assert_eq!(inst["annotations"]["pc"], side["pc"], "{name}: hazard {n}'s {kind} side's PC");
            }
            if let Some(d) = side["dma"]["len"].as_u64() {
                assert!(s(&inst["name"]).contains(&format!(" {d} B")), "{name}: {}", inst["name"]);
            }
        }
        // The hazard's window ends at the observer.
        let observed = observer["ts"].as_u64().unwrap();
        let lane_name = format!("hazard {n}: {class}");
        let hazard_slice = v["slices"].as_array().unwrap().iter().find(|sl| sl["track"] == lane_name.as_str()).unwrap();
        assert_eq!((hazard_slice["name"].as_str(), hazard_slice["end"].as_u64()), (Some(class), Some(observed)), "{name}");
        assert!(hazard_slice["begin"].as_u64().unwrap() <= cause["ts"].as_u64().unwrap().min(observed), "{name}: from the cause or before");
        assert_eq!(hazard_slice["annotations"]["missing"], h["missing"], "{name}");

        // What the observer met: a window of the line's state around it.
        let state_lanes: Vec<&str> =
            tracks.iter().filter(|t| &t["parent"] == line_uuid && !s(&t["name"]).starts_with("hazard ")).map(|t| s(&t["name"])).collect();
        let around = |lanes: &[&str], word: &str| {
            v["slices"].as_array().unwrap().iter().any(|sl| {
                lanes.contains(&s(&sl["track"]))
                    && state_lanes.contains(&s(&sl["track"]))
                    && s(&sl["name"]).contains(word)
                    && sl["begin"].as_u64().unwrap() <= observed
                    && observed <= sl["end"].as_u64().unwrap()
            })
        };
        let caches = ["PE cache", "beyond PoU"];
        let met = match class {
            "stale-read" => around(&caches, "stale"),
            "dirty-bypass" => around(&caches, "dirty") && around(&["memory (PoC)"], "behind"),
            "lost-write" => around(&caches, "dirty"),
            "stale-ifetch" => around(&["I-cache"], "stale") || around(&["memory (PoC)"], "behind"),
            "set-way-maintenance" => around(&caches, "dirty") || around(&caches, "stale"),
            other => panic!("unknown class {other}"),
        };
        assert!(met, "{name}: hazard {n} ({class}) at {observed}: no window of its line's state around it: {}", v["slices"]);
    }
    // Every instant is on a vCPU's or a device's track and says what it did to which line.
    for e in instants {
        assert!(s(&e["track"]).starts_with("vCPU ") || s(&e["track"]).starts_with("device "), "{e}");
        assert!(e["annotations"].as_object().unwrap().keys().any(|k| k.starts_with("line 0x") && k.ends_with(" after")), "{e}");
    }
    if elf.is_some() {
        for e in instants.iter().filter(|e| !e["annotations"]["pc"].is_null()) {
            let sym = e["annotations"]["symbol"].as_str().unwrap_or_else(|| panic!("{name}: an event with a PC and no symbol: {e}"));
            assert!(s(&e["name"]).ends_with(&format!(" at {sym}")), "{name}: named by its symbol: {e}");
        }
    }
    v
}

/// The committed report of a recorded trace (speculative mode, the default).
fn expected(report: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(support::repo().join("traces").join(report)).unwrap();
    serde_json::from_str::<Value>(&text).unwrap().as_array().unwrap().clone()
}

#[test]
fn every_hazard_class_exports_with_its_tracks_windows_and_flows() {
    let Some(python) = support::pytools() else { return };
    let dir = support::tempdir("perfetto");
    let traces = support::repo().join("traces");
    let mut classes = std::collections::BTreeSet::new();
    let mut kinds = std::collections::BTreeSet::new();
    let cases: &[(&str, &[&str], &str)] = &[
        ("01-nc-write-wb-read", &[], "01-nc-write-wb-read.speculative.json"),
        ("04-wb-write-nc-read", &[], "04-wb-write-nc-read.speculative.json"),
        ("07-nc-write-over-dirty", &[], "07-nc-write-over-dirty.speculative.json"),
        ("08-dc-ivac-dirty", &[], "08-dc-ivac-dirty.speculative.json"),
        ("09-stale-ifetch", &[], "09-stale-ifetch.speculative.json"),
        ("12-smp-nc-write", &[], "12-smp-nc-write.speculative.json"),
        ("17-mmu-off-table-write", &[], "17-mmu-off-table-write.speculative.json"),
        ("20-hw-access-flag", &[], "20-hw-access-flag.speculative.json"),
        ("21-mops-copy", &[], "21-mops-copy.speculative.json"),
        ("27-fwcfg-data", &["--dma", "noncoherent"], "27-fwcfg-data.dma-noncoherent.speculative.json"),
        ("27-fwcfg-desc", &["--dma", "noncoherent"], "27-fwcfg-desc.dma-noncoherent.speculative.json"),
        ("01-nc-write-wb-read", &["--model", "precise"], "01-nc-write-wb-read.precise.json"),
    ];
    let mut symbolized = 0;
    for (variant, args, report) in cases {
        let want = expected(report);
        assert!(!want.is_empty(), "{report}");
        let elf = guest_elf(variant);
        symbolized += elf.is_some() as usize;
        let v = export_and_check(&python, &dir, &traces.join(format!("{variant}.ctrace")), args, &want, elf.as_deref());
        for h in &want {
            classes.insert(s(&h["class"]).to_string());
            kinds.insert(s(&h["observer"]["kind"]).to_string());
            kinds.insert(s(&h["cause"]["kind"]).to_string());
        }
        if *variant == "12-smp-nc-write" {
            let names: Vec<&str> = v["tracks"].as_array().unwrap().iter().map(|t| s(&t["name"])).collect();
            assert!(names.contains(&"vCPU 0") && names.contains(&"vCPU 1"), "{names:?}");
        }
        if *variant == "01-nc-write-wb-read" && elf.is_some() {
            let flow = &v["flows"][0];
            assert_eq!((&flow["from"]["name"], &flow["to"]["name"]), (&"store Normal-NC at el1_write".into(), &"load Normal-WB at el2_read".into()));
        }
    }
    if symbolized == 0 {
        eprintln!("note: symbol names not checked (no guest ELFs: run scripts/build-guests)");
    }

    // Set/way maintenance has no recorded trace: a store through Write-Back, DC CISW, a Non-cacheable
    // read of the line.
    const L: u64 = 0x4020_0000;
    let acc = |pc, kind, mem| Event::Access(Access { vcpu: 0, pc, va: L, pa: L, size: 8, kind, mem, mmio: false });
    let events = [
        acc(0x10, AccessKind::Store, MemType::NORMAL_WB),
        Event::Maintenance(Maintenance { vcpu: 0, pc: 0x14, op: CacheOp::DcCisw, operand: 0, pa: None, mem: MemType::NORMAL_WB, len: 0 }),
        acc(0x20, AccessKind::Load, MemType::NORMAL_NC),
    ];
    let mut recs: Vec<Record> = events.iter().flat_map(|e| Record::from_event(e, 0)).collect();
    for (i, r) in recs.iter_mut().enumerate() {
        r.seq = i as u32;
    }
    let mut w = TraceWriter::new(Vec::new(), &Header::new(Geometry::default(), vec![])).unwrap();
    w.write_chunk(0, 0, &recs).unwrap();
    let set_way = dir.join("set-way.ctrace");
    std::fs::write(&set_way, w.finish(0).unwrap().0).unwrap();
    let out = cohtrace(&["analyze", set_way.to_str().unwrap(), "--format", "json"]);
    let want: Vec<Value> = serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone();
    assert_eq!(want.len(), 1);
    assert_eq!(want[0]["class"], "set-way-maintenance");
    let v = export_and_check(&python, &dir, &set_way, &[], &want, None);
    let dc = v["instants"].as_array().unwrap().iter().find(|e| e["name"] == "DC CISW at 0x14").expect("the set/way operation's instant");
    assert_eq!(dc["categories"][0], "maintenance");
    classes.insert("set-way-maintenance".into());

    let all: Vec<&str> = cohtrace_analyzer::report::HazardClass::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(classes.iter().map(String::as_str).collect::<Vec<_>>(), { let mut a = all.clone(); a.sort(); a }, "every class exported");
    for k in ["load", "store", "fetch", "maintenance", "walk", "walk-update", "dma-read", "dma-write"] {
        assert!(kinds.contains(k), "no exported hazard has a {k} side");
    }

    // No hazards: a valid file with the vCPU's track alone.
    let fixed = dir.join("fixed.pftrace");
    let out = cohtrace(&["export", "--perfetto", fixed.to_str().unwrap(), traces.join("01-nc-write-wb-read-fixed.ctrace").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no hazards"));
    let v = check(&python, &fixed, &["vCPU 0".to_string()]);
    assert_eq!(v["tracks"].as_array().unwrap().len(), 1, "{v}");
    assert!(v["slices"].as_array().unwrap().is_empty() && v["flows"].as_array().unwrap().is_empty() && v["instants"].as_array().unwrap().is_empty());
}

/// A missing trace or an OUT that cannot be written: exit 2, the path named, no file left behind.
#[test]
fn export_refuses_a_missing_trace_and_an_unwritable_output() {
    let dir = support::tempdir("perfetto-errors");
    let out_file = dir.join("never.pftrace");
    let out = cohtrace(&["export", "--perfetto", out_file.to_str().unwrap(), "/nonexistent/t.ctrace"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/t.ctrace"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!out_file.exists(), "nothing written for a missing trace");

    let trace = support::repo().join("traces/01-nc-write-wb-read.ctrace");
    let out = cohtrace(&["export", "--perfetto", "/nonexistent/dir/x.pftrace", trace.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("cohtrace: error: writing /nonexistent/dir/x.pftrace"), "{err}");
    assert!(out.stdout.is_empty());

    // A refused judgement (a device the trace never saw) leaves no half-written file.
    let desc = support::repo().join("traces/27-fwcfg-desc.ctrace");
    let out = cohtrace(&["export", "--perfetto", out_file.to_str().unwrap(), desc.to_str().unwrap(), "--dma-noncoherent", "nosuch"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such device"));
    assert!(!out_file.exists(), "the partial file is removed");

    let out = cohtrace(&["export", trace.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "--perfetto OUT is required");
}
