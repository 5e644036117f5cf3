//! Ground truth, from one run of each guest variant (scenarios and the benchmark guests' -short variants)
//! under the patched QEMU with the plugin, with its command line from the manifest. That one run records a
//! trace with the translation cache checked against QEMU on every access (`tlb=verify`) and, at the same
//! time, runs the online model (`model=online,report=`). From it:
//! - the guest completes with its PASS line and the translation cache agrees with QEMU;
//! - the offline analysis reports exactly the hazards the manifest lists (class, line, observer PC, cause
//!   PC), in each model mode; corrected twins report none;
//! - the online model's report equals the offline one (speculative mode, the plugin's default).

mod support;

use cohtrace_analyzer::analysis::analyze;
use cohtrace_analyzer::model::{Mode, ModelConfig};
use cohtrace_analyzer::report;
use cohtrace_analyzer::trace::TraceFile;
use std::collections::BTreeSet;

type Key = (String, u64, u64, u64);

#[test]
fn every_variant_completes_reports_exactly_its_manifest_and_online_equals_offline() {
    let Some(env) = support::env() else { return };
    let dir = support::tempdir("scenarios");
    let mut failures = Vec::new();
    let (mut checked, mut online_checked) = (0, 0);
    for (path, m) in support::all_manifests() {
        let bench = path.parent().is_some_and(|d| d.ends_with("bench"));
        for v in &m.variant {
            if bench && !v.name.ends_with("-short") {
                continue; // the full-size benchmarks take seconds each: scripts/bench runs them
            }
            let elf = env.guests.join(format!("{}.elf", v.name));
            let trace = dir.join(format!("{}.ctrace", v.name));
            let online = dir.join(format!("{}.json", v.name));
            let opts = format!(
                ",out={},tlb=verify,model=online,report={}",
                trace.display(),
                online.display(),
            );
            let run = support::run_variant(&env, &v.name, &opts);
            if !run.stderr.contains("tlb=verify: 0 translation cache mismatches") {
                failures.push(format!("{}: translation cache disagrees with QEMU:\n{}", v.name, run.stderr));
            }
            let pass = format!("cohtrace-guest: {}: PASS", v.name);
            if run.status != Some(0) || !run.stdout.contains(&pass) {
                failures.push(format!("{}: guest did not complete: status {:?}\n{}{}", v.name, run.status, run.stdout, run.stderr));
                continue;
            }
            let syms = support::symbols(&elf);
            let t = TraceFile::open(&trace).unwrap();
            assert!(t.damage.is_none() && t.end.is_some(), "{}: trace not complete", v.name);
            for mode in [Mode::Speculative, Mode::Precise] {
                let expected: BTreeSet<Key> = v
                    .hazard
                    .iter()
                    .filter(|h| h.modes.as_ref().is_none_or(|ms| ms.iter().any(|x| x == mode.name())))
                    .map(|h| {
                        (
                            h.class.clone(),
                            support::resolve(&syms, &h.line) & !63,
                            support::resolve(&syms, &h.observer),
                            support::resolve(&syms, &h.cause),
                        )
                    })
                    .collect();
                let a = analyze(&t, ModelConfig { mode, ..Default::default() }, |_| {});
                let got: BTreeSet<Key> = a
                    .log
                    .hazards()
                    .iter()
                    .map(|h| (h.class.name().to_string(), h.line_pa, h.observer.pc, h.cause.pc))
                    .collect();
                if got != expected {
                    failures.push(format!(
                        "{} ({}) [{}]: expected {:x?}, got {:x?}",
                        v.name,
                        path.file_name().unwrap().to_string_lossy(),
                        mode.name(),
                        expected,
                        got
                    ));
                }
                checked += 1;
                if mode == Mode::Speculative {
                    let offline = report::json::render(a.log.hazards());
                    match std::fs::read_to_string(&online) {
                        Ok(on) if same_hazards(&on, &offline) => online_checked += 1,
                        Ok(on) => failures.push(format!("{}: online report differs from offline:\n{on}\n{offline}", v.name)),
                        Err(e) => failures.push(format!("{}: no online report {}: {e}", v.name, online.display())),
                    }
                }
            }
        }
    }
    assert!(checked >= 70, "only {checked} variant/mode pairs checked");
    assert!(failures.is_empty(), "{} scenario mismatches:\n{}", failures.len(), failures.join("\n"));
    eprintln!("{checked} variant/mode verdicts and {online_checked} online reports checked");
}

/// The same (class, observer PC, cause PC, count) set in two JSON reports.
fn same_hazards(a: &str, b: &str) -> bool {
    let key = |s: &str| -> Option<Vec<(String, String, String, String)>> {
        let v: serde_json::Value = serde_json::from_str(s).ok()?;
        let mut k: Vec<_> = v
            .as_array()?
            .iter()
            .map(|h| (h["class"].to_string(), h["observer"]["pc"].to_string(), h["cause"]["pc"].to_string(), h["count"].to_string()))
            .collect();
        k.sort();
        Some(k)
    };
    key(a).is_some_and(|ka| Some(ka) == key(b))
}
