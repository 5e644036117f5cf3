//! The plugin's stock-API mode (plugin/src/stock.rs) on a QEMU built from the same source without
//! qemu-patches/ (`scripts/setup-qemu --stock`; scripts/test.d/slow-stock sets COHTRACE_STOCK_QEMU). Every
//! scenario variant must complete in stock mode and report exactly its manifest's hazards, except those
//! marked `stock_miss` (what only the patches let the plugin see, with the reason), which must be absent
//! (a variant marked `stock_miss` as a whole is skipped, with its reason printed):
//! in both model modes, with devices judged coherent (stock mode sees no DMA, so non-coherent judgement
//! can add nothing).

mod support;

use cohtrace_analyzer::analysis::analyze_with_policy;
use cohtrace_analyzer::model::{DmaPolicy, Mode, ModelConfig};
use cohtrace_analyzer::trace::TraceFile;
use std::collections::BTreeSet;

type Key = (String, u64, String, String);

#[test]
fn every_variant_in_stock_mode_reports_its_manifest_but_the_expected_misses() {
    let Some(stock) = std::env::var_os("COHTRACE_STOCK_QEMU") else {
        eprintln!("note: stock-mode test skipped (scripts/test.d/slow-stock sets COHTRACE_STOCK_QEMU)");
        return;
    };
    let Some(mut env) = support::env() else { return };
    env.qemu = stock.into();
    let dir = support::tempdir("stock");
    let mut failures = Vec::new();
    let (mut checked, mut misses) = (0, BTreeSet::new());
    for (path, m) in support::all_manifests() {
        let bench = path.parent().is_some_and(|d| d.ends_with("bench"));
        for v in &m.variant {
            if bench && !v.name.ends_with("-short") {
                continue;
            }
            if let Some(why) = &v.stock_miss {
                misses.insert(format!("{} (the whole variant): {why}", v.name));
                continue;
            }
            let elf = env.guests.join(format!("{}.elf", v.name));
            let trace = dir.join(format!("{}.ctrace", v.name));
            let run = support::run_variant(&env, &v.name, &format!(",out={}", trace.display()));
            let pass = format!("cohtrace-guest: {}: PASS", v.name);
            if run.status != Some(0) || !run.stdout.contains(&pass) || !run.stderr.contains("cohtrace: stock mode") {
                failures.push(format!("{}: did not complete in stock mode: status {:?}\n{}{}", v.name, run.status, run.stdout, run.stderr));
                continue;
            }
            if run.stderr.contains("had no memory type") {
                failures.push(format!("{}: the own walk left accesses untyped:\n{}", v.name, run.stderr));
            }
            let syms = support::symbols(&elf);
            let t = TraceFile::open(&trace).unwrap();
            for mode in [Mode::Speculative, Mode::Precise] {
                let mut expected = BTreeSet::new();
                for h in &v.hazard {
                    if h.modes.as_ref().is_some_and(|ms| !ms.iter().any(|x| x == mode.name())) || h.dma.is_some() {
                        continue;
                    }
                    if let Some(why) = &h.stock_miss {
                        misses.insert(format!("{} ({}): {why}", v.name, h.class));
                        continue;
                    }
                    expected.insert((
                        h.class.clone(),
                        support::resolve(&syms, &h.line) & !63,
                        support::side_key(&syms, &h.observer),
                        support::side_key(&syms, &h.cause),
                    ));
                }
                let a = analyze_with_policy(&t, ModelConfig { mode, ..Default::default() }, &DmaPolicy::default(), 1, |_| {});
                let got: BTreeSet<Key> = a
                    .log
                    .hazards()
                    .iter()
                    .map(|h| (h.class.name().to_string(), h.line_pa, support::reported_side_key(&h.observer), support::reported_side_key(&h.cause)))
                    .collect();
                if got != expected {
                    failures.push(format!("{} [{}]: expected {:x?}, got {:x?}", v.name, mode.name(), expected, got));
                }
                checked += 1;
            }
            let _ = std::fs::remove_file(&trace);
        }
    }
    assert!(checked >= 70, "only {checked} variant/mode pairs checked");
    assert!(failures.is_empty(), "{} stock-mode mismatches:\n{}", failures.len(), failures.join("\n"));
    eprintln!("stock mode: {checked} variant/mode verdicts checked; expected misses:\n  {}", misses.into_iter().collect::<Vec<_>>().join("\n  "));
}
