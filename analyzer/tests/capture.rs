//! Capture robustness: a QEMU killed mid-run leaves a readable prefix; four vCPUs under MTTCG lose and
//! duplicate no events.

mod support;

use cohtrace_analyzer::analysis::analyze;
use cohtrace_analyzer::event::{AccessKind, Event};
use cohtrace_analyzer::model::{Mode, ModelConfig};
use cohtrace_analyzer::trace::TraceFile;
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn a_qemu_killed_with_sigkill_leaves_a_trace_readable_up_to_its_last_whole_chunk() {
    let Some(env) = support::env() else { return };
    let dir = support::tempdir("sigkill");
    let trace = dir.join("killed.ctrace");
    let elf = env.guests.join("bench-loop-hazard-first.elf");
    let mut child = Command::new(&env.qemu)
        .args(support::command(&env, "bench-loop-hazard-first"))
        .arg("-plugin")
        .arg(format!("{},out={}", env.plugin.display(), trace.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until a good number of chunks are on disk (the loop runs for many seconds under the plugin, and
    // then the guest powers off: the wait ends either way, with no clock in the test).
    while std::fs::metadata(&trace).map_or(0, |m| m.len()) < 8 << 20 {
        assert!(child.try_wait().unwrap().is_none(), "QEMU ended before it could be killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let t = TraceFile::open(&trace).unwrap();
    assert!(t.end.is_none(), "a killed capture has no end chunk");
    assert!(t.chunks.len() >= 100, "{} whole chunks", t.chunks.len());
    let syms = support::symbols(&elf);
    for mode in [Mode::Speculative, Mode::Precise] {
        let a = analyze(&t, ModelConfig { mode, ..Default::default() }, |_| {});
        let found: Vec<_> = a.log.hazards().iter().map(|h| (h.class.name(), h.observer.pc, h.cause.pc)).collect();
        assert_eq!(
            found,
            vec![("stale-read", support::resolve(&syms, "hf_read"), support::resolve(&syms, "hf_write"))],
            "the report on the prefix [{}]",
            mode.name()
        );
        assert!(a.stats.accesses > 1_000_000);
    }
}

#[test]
fn four_vcpus_under_mttcg_lose_and_duplicate_no_events() {
    let Some(env) = support::env() else { return };
    let dir = support::tempdir("smp4");
    let name = "14-smp4-hammer";
    let elf = env.guests.join(format!("{name}.elf"));
    let syms = support::symbols(&elf);
    let (ld, st) = (support::resolve(&syms, "hammer_ld"), support::resolve(&syms, "hammer_st"));
    for run in 0..3 {
        let trace = dir.join(format!("{run}.ctrace"));
        let r = support::run_variant(&env, name, &format!(",out={}", trace.display()));
        assert_eq!(r.status, Some(0), "{}", r.stderr);
        let counts: Vec<u64> = r
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("cohtrace-counts: "))
            .expect("the guest prints its counters")
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(counts.len(), 4);
        let t = TraceFile::open(&trace).unwrap();
        assert_eq!(t.vcpus(), vec![0, 1, 2, 3]);
        // Per vCPU: loads at hammer_ld and stores at hammer_st, exactly as many as the guest counted.
        let mut seen: HashMap<(u16, u64, bool), u64> = HashMap::new();
        let mut last_seq = None;
        let mut events = t.events();
        while let Some((vcpu, seq, r)) = events.next_record() {
            assert!(last_seq.is_none_or(|l| seq > l), "global order strictly increases: {seq} after {last_seq:?}");
            last_seq = Some(seq);
            if let Some(Event::Access(a)) = cohtrace_analyzer::trace::record::record_to_event(&r, &[], vcpu, t.geometry())
                && (a.pc == ld || a.pc == st)
            {
                *seen.entry((vcpu, a.pc, a.kind == AccessKind::Store)).or_default() += 1;
            }
        }
        for (v, n) in counts.iter().enumerate() {
            assert_eq!(seen.get(&(v as u16, ld, false)).copied().unwrap_or(0), *n, "vCPU {v} loads, run {run}");
            assert_eq!(seen.get(&(v as u16, st, true)).copied().unwrap_or(0), *n, "vCPU {v} stores, run {run}");
        }
        // Cross-vCPU hazards stay exact (the manifest's three stale-reads).
        let a = analyze(&t, ModelConfig::default(), |_| {});
        let mut got: Vec<_> = a.log.hazards().iter().map(|h| (h.observer.pc, h.cause.pc)).collect();
        got.sort();
        let mut want: Vec<_> = (1..=3)
            .map(|k| (support::resolve(&syms, &format!("cpu0_read{k}")), support::resolve(&syms, &format!("cpu{k}_write"))))
            .collect();
        want.sort();
        assert_eq!(got, want, "run {run}");
    }
}

/// Walk capture is on by default and `walks=off` leaves it out: the same guest (scenario 17) gives its
/// walk records and its walk hazard with the default, and neither with walks=off. Every walk of the
/// table-miss load is there: stage 1 levels 1 to 3, each followed by the stage-2 walk of the table's IPA.
#[test]
fn walks_are_recorded_by_default_and_walks_off_leaves_them_out() {
    use cohtrace_analyzer::event::WalkCause;
    let Some(env) = support::env() else { return };
    let dir = support::tempdir("walks");
    let name = "17-mmu-off-table-write";
    let syms = support::symbols(&env.guests.join(format!("{name}.elf")));
    let read_pc = support::resolve(&syms, "el1_walked_read");
    let mut seen = Vec::new();
    for walks in ["on", "off"] {
        let trace = dir.join(format!("{walks}.ctrace"));
        let run = support::run_variant(&env, name, &format!(",out={},walks={walks}", trace.display()));
        assert_eq!(run.status, Some(0), "{}", run.stderr);
        let t = TraceFile::open(&trace).unwrap();
        let mut events = t.events();
        let mut of_read = Vec::new();
        let mut walks_total = 0;
        for ev in events.by_ref() {
            if let Event::Walk(w) = ev {
                walks_total += 1;
                if w.pc == read_pc {
                    assert_eq!((w.cause, w.va, w.update), (WalkCause::Load, 0x4040_0000, false));
                    of_read.push((w.stage, w.level));
                }
            }
        }
        let hazards = analyze(&t, ModelConfig { mode: Mode::Precise, ..Default::default() }, |_| {}).log.len();
        seen.push((walks_total > 0, of_read, hazards));
    }
    let (on, off) = (&seen[0], &seen[1]);
    assert!(on.0 && on.2 == 1, "walks=on: {on:?}");
    // Stage 1 levels 1, 2, 3 of VA 0x40400000, each table's IPA translated by stage 2 (levels 1-3), then the
    // stage-2 walk of the output IPA: QEMU's order.
    let s1: Vec<i8> = on.1.iter().filter(|(s, _)| *s == 1).map(|(_, l)| *l).collect();
    assert_eq!(s1, vec![1, 2, 3], "{:?}", on.1);
    assert!(on.1.iter().any(|(s, _)| *s == 2), "no stage-2 walk for the stage-1 tables: {:?}", on.1);
    assert_eq!(off, &(false, vec![], 0), "walks=off");
}

/// Tracing must not change what the guest does: scenario 24's mismatched MTE load takes its tag-check
/// fault bare, under `cohtrace record`, and under QEMU's own mem plugin in callback mode (which, like any
/// plugin with memory callbacks, suppressed every tag check before qemu-patches/0005). The guest itself
/// fails when no fault comes.
#[test]
fn an_mte_tag_check_fault_is_taken_bare_and_under_tracing() {
    let Some(env) = support::env() else { return };
    let name = "24-mte-tag-check";
    let args = support::command(&env, name);
    let pass = format!("cohtrace-guest: {name}: PASS");
    let bare = Command::new(&env.qemu).args(&args).output().unwrap();
    assert!(String::from_utf8_lossy(&bare.stdout).contains(&pass), "bare: {}", String::from_utf8_lossy(&bare.stdout));

    let dir = support::tempdir("mte");
    let trace = dir.join("mte.ctrace");
    let recorded = Command::new(env!("CARGO_BIN_EXE_cohtrace"))
        .arg("record")
        .arg("--qemu")
        .arg(&env.qemu)
        .arg("--plugin")
        .arg(&env.plugin)
        .arg("-o")
        .arg(&trace)
        .arg("--")
        .args(&args)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&recorded.stdout);
    assert!(out.contains(&pass), "under cohtrace record: {out}{}", String::from_utf8_lossy(&recorded.stderr));
    assert!(TraceFile::open(&trace).unwrap().end.is_some());

    // scripts/setup-qemu installs QEMU's own plugins next to its binary.
    let mem = env.qemu.parent().and_then(|b| b.parent()).map(|p| p.join("plugins/libmem.so"));
    match mem.filter(|m| m.exists()) {
        Some(mem) => {
            let run = Command::new(&env.qemu).args(&args).arg("-plugin").arg(format!("{},callback=true", mem.display())).output().unwrap();
            let out = String::from_utf8_lossy(&run.stdout);
            assert!(out.contains(&pass), "under QEMU's mem plugin: {out}");
        }
        None => eprintln!("note: no libmem.so next to {} (not a scripts/setup-qemu build): that leg is skipped", env.qemu.display()),
    }
}

/// Every byte fw_cfg moves is one DMA record's: the 16-byte descriptor it reads, the 4-byte signature
/// and the 60 zero bytes that fill the rest of the 64-byte buffer, and the 4-byte status it writes back,
/// each at its own address, on the vCPU's thread (the transfer runs inside the kick) and nothing else.
#[test]
fn fw_cfg_dma_is_captured_byte_for_byte() {
    use cohtrace_analyzer::event::DmaPath;
    let Some(env) = support::env() else { return };
    let dir = support::tempdir("fwcfg");
    let name = "27-fwcfg-desc-fixed";
    let syms = support::symbols(&env.guests.join(format!("{name}.elf")));
    let trace = dir.join("fwcfg.ctrace");
    let run = support::run_variant(&env, name, &format!(",out={}", trace.display()));
    assert_eq!(run.status, Some(0), "{}{}", run.stdout, run.stderr);
    let t = TraceFile::open(&trace).unwrap();
    assert!(!t.has_device_stream(), "fw_cfg's DMA runs on the vCPU's thread, not in the device stream");
    let mut names = HashMap::new();
    let mut transfers = Vec::new();
    for ev in t.events() {
        match ev {
            Event::DeviceName(n) => names.entry(n.id).or_insert_with(String::new).push_str(
                std::str::from_utf8(&n.bytes).unwrap().trim_end_matches('\0'),
            ),
            Event::Dma(d) => transfers.push((d.device, d.write, d.pa, d.len, d.path)),
            _ => {}
        }
    }
    let desc = support::resolve(&syms, "dma_desc");
    let buf = support::resolve(&syms, "dma_buf");
    let id = transfers.first().map(|t| t.0).expect("no DMA recorded");
    assert_eq!(names.get(&id).map(String::as_str), Some("fw_cfg_mem@9020000"), "{names:?}");
    assert_eq!(
        transfers,
        vec![
            (id, false, desc, 16, DmaPath::Rw),
            (id, true, buf, 4, DmaPath::Rw),
            (id, true, buf + 4, 60, DmaPath::Rw),
            (id, true, desc, 4, DmaPath::Rw),
        ],
        "fw_cfg's transfers"
    );
}
