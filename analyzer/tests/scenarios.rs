//! Ground truth, from one run of each guest variant (scenarios and the benchmark guests' -short variants)
//! under the patched QEMU with the plugin, with its command line from the manifest. That one run records a
//! trace with the translation cache checked against QEMU on every access (`tlb=verify`), the plugin's own
//! VMSAv8-64 walk checked against QEMU's on every data access (`walker=verify`) and, at the same time,
//! runs the online model (`model=online,report=`). From it:
//! - the guest completes with its PASS line, and the translation cache and the own walker agree with QEMU;
//! - the offline analysis reports exactly the hazards the manifest lists (class, line, observer PC, cause
//!   PC; a device side by its name), in each model mode and with devices judged coherent (the default:
//!   hazards marked `dma = "noncoherent"` must then be absent) and non-coherent (`--dma noncoherent`:
//!   all of them); corrected twins report none either way, and a variant without device DMA reports
//!   the same both ways;
//! - the online model's report equals the offline one (speculative mode, the plugin's default).

mod support;

use cohtrace_analyzer::analysis::analyze_with_policy;
use cohtrace_analyzer::model::{DmaPolicy, Mode, ModelConfig};
use cohtrace_analyzer::report;
use cohtrace_analyzer::trace::TraceFile;
use std::collections::BTreeSet;

type Key = (String, u64, String, String);

#[test]
fn every_variant_completes_reports_exactly_its_manifest_and_online_equals_offline() {
    let Some(env) = support::env() else { return };
    let dir = support::tempdir("scenarios");
    let mut failures = Vec::new();
    let (mut checked, mut online_checked, mut dma_online_checked) = (0, 0, 0);
    let mut walks_compared = 0u64;
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
                ",out={},tlb=verify,walker=verify,model=online,report={}",
                trace.display(),
                online.display(),
            );
            let run = support::run_variant(&env, &v.name, &opts);
            if !run.stderr.contains("tlb=verify: 0 translation cache mismatches") {
                failures.push(format!("{}: translation cache disagrees with QEMU:\n{}", v.name, run.stderr));
            }
            match walker_verify_counts(&run.stderr) {
                Some((compared, 0)) if compared > 0 => walks_compared += compared,
                _ => failures.push(format!("{}: the own walker disagrees with QEMU (or compared nothing):\n{}", v.name, run.stderr)),
            }
            let pass = format!("cohtrace-guest: {}: PASS", v.name);
            if run.status != Some(0) || !run.stdout.contains(&pass) {
                failures.push(format!("{}: guest did not complete: status {:?}\n{}{}", v.name, run.status, run.stdout, run.stderr));
                continue;
            }
            let syms = support::symbols(&elf);
            let t = TraceFile::open(&trace).unwrap();
            assert!(t.damage.is_none() && t.end.is_some(), "{}: trace not complete", v.name);
            // A variant with device DMA runs once more online with its devices judged non-coherent.
            let mut offline_noncoherent = None;
            for mode in [Mode::Speculative, Mode::Precise] {
                let mut offline = String::new();
                for noncoherent in [false, true] {
                    let expected: BTreeSet<Key> = v
                        .hazard
                        .iter()
                        .filter(|h| h.modes.as_ref().is_none_or(|ms| ms.iter().any(|x| x == mode.name())))
                        .filter(|h| noncoherent || h.dma.is_none())
                        .map(|h| {
                            (
                                h.class.clone(),
                                support::resolve(&syms, &h.line) & !63,
                                support::side_key(&syms, &h.observer),
                                support::side_key(&syms, &h.cause),
                            )
                        })
                        .collect();
                    let policy = DmaPolicy { noncoherent_all: noncoherent, noncoherent: Vec::new() };
                    let a = analyze_with_policy(&t, ModelConfig { mode, ..Default::default() }, &policy, 1, |_| {});
                    let got: BTreeSet<Key> = a
                        .log
                        .hazards()
                        .iter()
                        .map(|h| {
                            (h.class.name().to_string(), h.line_pa, support::reported_side_key(&h.observer), support::reported_side_key(&h.cause))
                        })
                        .collect();
                    if got != expected {
                        failures.push(format!(
                            "{} ({}) [{}, dma {}]: expected {:x?}, got {:x?}",
                            v.name,
                            path.file_name().unwrap().to_string_lossy(),
                            mode.name(),
                            if noncoherent { "noncoherent" } else { "coherent" },
                            expected,
                            got
                        ));
                    }
                    if !noncoherent {
                        offline = report::json::render(a.log.hazards());
                    } else if mode == Mode::Speculative && !a.devices.is_empty() {
                        offline_noncoherent = Some(report::json::render(a.log.hazards()));
                    }
                }
                checked += 1;
                if mode == Mode::Speculative {
                    match std::fs::read_to_string(&online) {
                        Ok(on) if same_hazards(&on, &offline) => online_checked += 1,
                        Ok(on) => failures.push(format!("{}: online report differs from offline:\n{on}\n{offline}", v.name)),
                        Err(e) => failures.push(format!("{}: no online report {}: {e}", v.name, online.display())),
                    }
                }
            }
            if let Some(offline) = offline_noncoherent {
                let online = dir.join(format!("{}-noncoherent.json", v.name));
                let opts = format!(",out=none,model=online,dma=noncoherent,report={}", online.display());
                let run = support::run_variant(&env, &v.name, &opts);
                match std::fs::read_to_string(&online) {
                    Ok(on) if run.status == Some(0) && same_hazards(&on, &offline) => dma_online_checked += 1,
                    Ok(on) => failures.push(format!("{}: online dma=noncoherent differs from offline:\n{on}\n{offline}\n{}", v.name, run.stderr)),
                    Err(e) => failures.push(format!("{}: no online dma=noncoherent report: {e}\n{}", v.name, run.stderr)),
                }
            }
        }
    }
    assert!(checked >= 70, "only {checked} variant/mode pairs checked");
    assert!(dma_online_checked >= 6, "only {dma_online_checked} online runs judged devices non-coherent");
    assert!(failures.is_empty(), "{} scenario mismatches:\n{}", failures.len(), failures.join("\n"));
    eprintln!("{checked} variant/mode verdicts (each judged with devices coherent and non-coherent), {online_checked} online reports and {dma_online_checked} online non-coherent reports checked; the own walker agreed with QEMU on {walks_compared} translations");
}

/// The same (class, observer PC or device, cause PC or device, count) set in two JSON reports.
fn same_hazards(a: &str, b: &str) -> bool {
    let key = |s: &str| -> Option<Vec<(String, String, String, String)>> {
        let v: serde_json::Value = serde_json::from_str(s).ok()?;
        let mut k: Vec<_> = v
            .as_array()?
            .iter()
            .map(|h| {
                let side = |s: &serde_json::Value| format!("{}{}", s["pc"], s["dma"]);
                (h["class"].to_string(), side(&h["observer"]), side(&h["cause"]), h["count"].to_string())
            })
            .collect();
        k.sort();
        Some(k)
    };
    key(a).is_some_and(|ka| Some(ka) == key(b))
}

/// `cohtrace: walker=verify: N translations compared, M disagreements, K skipped` -> (N, M).
fn walker_verify_counts(stderr: &str) -> Option<(u64, u64)> {
    let line = stderr.lines().find_map(|l| l.strip_prefix("cohtrace: walker=verify: ").filter(|r| r.contains(" compared, ")))?;
    let mut words = line.split_whitespace();
    let compared = words.next()?.parse().ok()?;
    let disagreements = words.nth(2)?.parse().ok()?;
    Some((compared, disagreements))
}
