//! Ground truth: every scenario variant under the patched QEMU with the plugin must report exactly the
//! hazards its manifest lists (class, line, observer PC, cause PC), in each model mode; corrected twins
//! must report none.

mod support;

use cohtrace_analyzer::analysis::analyze;
use cohtrace_analyzer::model::{Mode, ModelConfig};
use cohtrace_analyzer::trace::TraceFile;
use std::collections::BTreeSet;

#[test]
fn every_scenario_reports_exactly_its_manifest() {
    let Some(env) = support::env() else { return };
    let dir = support::tempdir("scenarios");
    let mut failures = Vec::new();
    let mut checked = 0;
    for (path, m) in support::manifests() {
        for v in &m.variant {
            let elf = env.guests.join(format!("{}.elf", v.name));
            let trace = dir.join(format!("{}.ctrace", v.name));
            // tlb=verify: the plugin's translation cache is checked against QEMU on every access.
            let opts = format!(",out={},tlb=verify{}", trace.display(), support::zva_opt(&m.qemu_args));
            let run = support::run_guest(&env, &elf, &m.qemu_args, &opts);
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
                let expected: BTreeSet<(String, u64, u64, u64)> = v
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
                let got: BTreeSet<(String, u64, u64, u64)> = a
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
            }
        }
    }
    assert!(checked >= 48, "only {checked} variant/mode pairs checked");
    assert!(failures.is_empty(), "{} scenario mismatches:\n{}", failures.len(), failures.join("\n"));
}
