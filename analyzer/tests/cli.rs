//! The `cohtrace` command line and the plugin as a user meets them: record, analyze (exit codes, JSON
//! schema, SARIF validated against the official schema), damaged traces, bad plugin options, `--elf
//! FILE@BIAS`.

mod support;

use std::path::Path;
use std::process::{Command, Output};

fn cohtrace(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cohtrace")).args(args).output().unwrap()
}

fn record(env: &support::Env, name: &str, trace: &Path) {
    let mut args: Vec<String> = ["record", "--out"].iter().map(|s| s.to_string()).collect();
    args.push(trace.display().to_string());
    args.extend(["--qemu".into(), env.qemu.display().to_string(), "--plugin".into(), env.plugin.display().to_string(), "--".into()]);
    args.extend(support::command(env, name));
    let out = Command::new(env!("CARGO_BIN_EXE_cohtrace")).args(&args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("trace written to"));
}

#[test]
fn record_then_analyze_reports_with_exit_status_and_json_schema() {
    let Some(env) = support::env() else { return };
    let dir = support::tempdir("cli");
    let bug = dir.join("bug.ctrace");
    let fixed = dir.join("fixed.ctrace");
    record(&env, "01-nc-write-wb-read", &bug);
    record(&env, "01-nc-write-wb-read-fixed", &fixed);
    let elf = env.guests.join("01-nc-write-wb-read.elf");

    let out = cohtrace(&["analyze", bug.to_str().unwrap(), "--format", "json", "--elf", elf.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "hazards -> exit 1");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let h = &v.as_array().unwrap()[0];
    assert_eq!(h["class"], "stale-read");
    for key in ["line_pa", "observer", "cause", "missing", "count"] {
        assert!(!h[key].is_null(), "missing key {key}");
    }
    for side in ["observer", "cause"] {
        for key in ["vcpu", "el", "vmid", "asid", "pc", "va", "mem_type", "symbol"] {
            assert!(h[side].get(key).is_some(), "{side} lacks {key}");
        }
    }
    assert_eq!(h["observer"]["symbol"], "el2_read");
    assert_eq!(h["cause"]["symbol"], "el1_write");
    assert_eq!(h["cause"]["mem_type"], "Normal-NC");
    assert_eq!(h["cause"]["vmid"], 1);
    assert_eq!(h["observer"]["el"], 2);

    let out = cohtrace(&["analyze", fixed.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "no hazards -> exit 0");
    let sarif = dir.join("bug.sarif");
    let out = cohtrace(&["analyze", bug.to_str().unwrap(), "--format", "sarif", "--elf", elf.to_str().unwrap()]);
    std::fs::write(&sarif, &out.stdout).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], "2.1.0");
    assert_eq!(v["runs"][0]["results"][0]["ruleId"], "stale-read");
    support::check_sarif(&[sarif]);

    let out = cohtrace(&["stats", bug.to_str().unwrap()]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("bytes/event") && s.contains("Normal-NC") && s.contains("complete    yes"), "{s}");
    let out = cohtrace(&["dump", bug.to_str().unwrap(), "--limit", "5"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5);
}

#[test]
fn damaged_traces_are_read_up_to_the_damage_and_say_where() {
    let Some(env) = support::env() else { return };
    let dir = support::tempdir("damage");
    let trace = dir.join("t.ctrace");
    // Small buffers: many chunks, so a cut or a flipped byte lands after some whole ones.
    let run = support::run_variant(&env, "01-nc-write-wb-read", &format!(",out={},buffer=64", trace.display()));
    assert_eq!(run.status, Some(0));
    let bytes = std::fs::read(&trace).unwrap();
    let t = cohtrace_analyzer::trace::TraceFile::open(&trace).unwrap();
    assert!(t.chunks.len() > 10);
    let cut_chunk = t.chunks.len() / 2;
    let cut_at = t.chunks[cut_chunk].offset as usize + 30;

    let cut = dir.join("cut.ctrace");
    std::fs::write(&cut, &bytes[..cut_at]).unwrap();
    let out = cohtrace(&["analyze", cut.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    let want = format!("chunk {cut_chunk} at byte offset {}", t.chunks[cut_chunk].offset);
    assert!(err.contains(&want) && err.contains("truncated"), "{err}");
    assert!(matches!(out.status.code(), Some(0) | Some(1)), "a damaged trace is still analysed");

    let flipped = dir.join("flipped.ctrace");
    let mut b = bytes.clone();
    b[t.chunks[3].offset as usize + 40] ^= 0x01;
    std::fs::write(&flipped, &b).unwrap();
    let out = cohtrace(&["stats", flipped.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("chunk 3 at byte offset {}", t.chunks[3].offset)) && err.contains("checksum"), "{err}");
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("chunks      3\n"), "three whole chunks before the damage:\n{s}");

    let out = cohtrace(&["analyze", dir.join("missing.ctrace").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.ctrace"));
}

#[test]
fn bad_plugin_options_stop_qemu_at_start_naming_the_option() {
    let Some(env) = support::env() else { return };
    for (opts, key) in [(",bogus=1", "bogus"), (",line=100", "line"), (",model=online,on_hazard=boom", "on_hazard")] {
        let run = support::run_variant(&env, "01-nc-write-wb-read", opts);
        assert_ne!(run.status, Some(0), "{opts}: QEMU must not run");
        assert!(!run.stdout.contains("PASS"), "{opts}: the guest must not run");
        assert!(run.stderr.contains(&format!("'{key}'")), "{opts}: {}", run.stderr);
    }
    let run = support::run_variant(&env, "01-nc-write-wb-read", ",out=/nonexistent-dir/t.ctrace");
    assert_ne!(run.status, Some(0));
    assert!(run.stderr.contains("'out'"), "{}", run.stderr);
}

/// A trace with a device: vCPU 0 writes a buffer through its Write-Back mapping and never cleans it; the
/// device stream's virtio-blk reads it. Written with the library (no QEMU needed).
fn dma_trace(path: &Path) {
    use cohtrace_analyzer::event::{Access, AccessKind, Dma, DmaPath, Event};
    use cohtrace_analyzer::memtype::MemType;
    use cohtrace_analyzer::trace::codes::DEVICE_STREAM;
    use cohtrace_analyzer::trace::{Geometry, Header, Record, TraceWriter};
    let mut w = TraceWriter::new(Vec::new(), &Header::new(Geometry::default(), vec![])).unwrap();
    let st = Event::Access(Access { vcpu: 0, pc: 0x4010_0000, va: 0x4020_0000, pa: 0x4020_0000, size: 8, kind: AccessKind::Store, mem: MemType::NORMAL_WB, mmio: false });
    w.write_chunk(0, 0, &Record::from_event(&st, 1)).unwrap();
    let mut dev = Record::device_name_parts(3, "virtio-blk@a003e00");
    dev.extend(Record::from_event(&Event::Dma(Dma { device: 3, pa: 0x4020_0000, len: 512, write: false, path: DmaPath::Map }), 0));
    w.write_chunk(DEVICE_STREAM, 1, &dev).unwrap();
    std::fs::write(path, w.finish(0).unwrap().0).unwrap();
}

#[test]
fn analyze_judges_devices_as_told_and_refuses_a_device_the_trace_never_saw() {
    let dir = support::tempdir("cli-dma");
    let t = dir.join("dma.ctrace");
    dma_trace(&t);
    let t = t.to_str().unwrap();
    // Coherent by default: the device snoops the dirty line.
    assert_eq!(cohtrace(&["analyze", t]).status.code(), Some(0));
    for args in [&["--dma", "noncoherent"][..], &["--dma-noncoherent", "virtio-blk@a003e00"]] {
        let out = cohtrace(&[&["analyze", t, "--format", "json"][..], args].concat());
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let h = &v[0];
        assert_eq!(h["class"], "dirty-bypass");
        assert_eq!(h["observer"]["kind"], "dma-read");
        assert_eq!(h["observer"]["access"], "DMA read of 512 bytes by virtio-blk@a003e00");
        assert_eq!(h["observer"]["dma"]["device"], "virtio-blk@a003e00");
        assert_eq!(h["observer"]["dma"]["path"], "map");
        assert_eq!(h["observer"]["dma"]["coherent"], false);
        assert!(h["observer"]["pc"].is_null() && h["observer"]["vcpu"].is_null());
        assert!(h["cause"].get("dma").is_none());
        assert!(h["missing"].as_str().unwrap().contains("dma_sync_*_for_device"));
    }
    let out = cohtrace(&["analyze", t, "--dma", "noncoherent"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("observer  DMA read of 512 bytes by virtio-blk@a003e00 (map path)"));
    let out = cohtrace(&["analyze", t, "--dma-noncoherent", "virtio-blk"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "no report for a refused run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--dma-noncoherent virtio-blk: no such device") && err.contains("the devices it shows: virtio-blk@a003e00"), "{err}");
    assert_eq!(cohtrace(&["analyze", t, "--dma", "sometimes"]).status.code(), Some(2));
    let out = cohtrace(&["stats", t]);
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("vcpus       [0]") && s.contains("device stream ") && s.contains(" bytes (DMA no vCPU performed)") && s.contains("virtio-blk@a003e00"), "{s}");
    let out = cohtrace(&["dump", t]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("dev3 dma-read  pa=0x40200000 len=512 path=map"));
}

/// `cohtrace diff` on a scenario and its corrected twin (recorded traces, so no QEMU is needed), and on the
/// JSON reports of both: the bug is new one way, fixed the other, unchanged against itself; a JSON report
/// and a trace of the same run compare equal; a device side matches by its name.
#[test]
fn diff_tells_new_fixed_and_unchanged_hazards_with_its_exit_status() {
    let traces = support::repo().join("traces");
    let p = |f: &str| traces.join(f).display().to_string();
    let (bug, fixed) = (p("01-nc-write-wb-read.ctrace"), p("01-nc-write-wb-read-fixed.ctrace"));
    let json = |out: &Output| -> serde_json::Value { serde_json::from_slice(&out.stdout).unwrap() };

    let out = cohtrace(&["diff", &fixed, &bug, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1), "a new hazard -> exit 1: {}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert_eq!(v["summary"], serde_json::json!({"new": 1, "fixed": 0, "unchanged": 0}));
    assert_eq!(v["new_hazards"][0]["class"], "stale-read");

    let out = cohtrace(&["diff", &bug, &fixed, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "only a fix -> exit 0");
    assert_eq!(json(&out)["summary"], serde_json::json!({"new": 0, "fixed": 1, "unchanged": 0}));

    // The committed JSON report of the same trace: the same hazard, unchanged.
    let out = cohtrace(&["diff", &p("01-nc-write-wb-read.speculative.json"), &bug]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("unchanged  stale-read: ") && text.contains("0 new, 0 fixed, 1 unchanged"), "{text}");

    // Device sides (scenario 27, judged non-coherent) match by device.
    let desc = p("27-fwcfg-desc.ctrace");
    let out = cohtrace(&["diff", &p("27-fwcfg-desc.dma-noncoherent.speculative.json"), &desc, "--dma", "noncoherent", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["summary"]["unchanged"], 2, "{v}");
    assert_eq!(v["unchanged_hazards"][0]["observer"]["dma"]["device"], "fw_cfg_mem@9020000");
    let out = cohtrace(&["diff", &p("27-fwcfg-desc.speculative.json"), &desc, "--dma", "noncoherent"]);
    assert_eq!(out.status.code(), Some(1), "judged non-coherent, the descriptor bugs are new against the coherent report");

    // Errors: exit 2, and no verdict.
    let out = cohtrace(&["diff", "/nonexistent.json", &bug]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty() && String::from_utf8_lossy(&out.stderr).contains("/nonexistent.json"));
}

/// `cohtrace explain` on scenario 01's recorded trace: the stale-read's line from the allocation of EL2's
/// copy to its read, with the cause and the observer marked and the model's state after each event.
#[test]
fn explain_tells_a_hazard_as_its_line_history() {
    let trace = support::repo().join("traces/01-nc-write-wb-read.ctrace").display().to_string();
    let out = cohtrace(&["explain", &trace]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("==cohtrace== hazard 1: stale-read on line 0x40112000"), "{text}");
    let events: Vec<&str> = lines.iter().copied().filter(|l| l.contains("vCPU 0 ")).collect();
    assert_eq!(events.len(), 3, "allocation, cause, observer:\n{text}");
    assert!(events[0].contains("load") && events[0].contains("Normal-WB"), "{text}");
    assert!(events[1].contains("> vCPU 0 store") && events[1].contains("Normal-NC"), "the cause is marked:\n{text}");
    assert!(events[2].contains("< vCPU 0 load"), "the observer is marked:\n{text}");
    assert!(text.contains("-> memory v1, PE cache v0 (clean), beyond PoU -, I-cache -; newest v1"), "the stale copy:\n{text}");
    let out = cohtrace(&["explain", &trace, "--hazard", "2"]);
    assert_eq!(out.status.code(), Some(2), "there is no hazard 2");
    let out = cohtrace(&["explain", &trace, "--line", "0x40112000", "--limit", "1"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("the last 1 shown"));
}

/// A user's usual command line: no `-nic none`, so virt's default virtio NIC wants its option ROM
/// (efi-virtio.rom, from Debian's ipxe-qemu: scripts/setup-qemu puts it in the patched QEMU's data
/// directory). And when QEMU cannot start, `record` says there is no trace instead of claiming one.
#[test]
fn record_takes_a_users_usual_command_line_and_says_when_qemu_did_not_start() {
    let Some(env) = support::env() else { return };
    let dir = support::tempdir("cli-usual");
    let trace = dir.join("t.ctrace");
    let mut args: Vec<String> = support::command(&env, "01-nc-write-wb-read");
    let nic = args.iter().position(|a| a == "-nic").expect("the manifest says -nic none");
    args.drain(nic..nic + 2);
    let out = Command::new(env!("CARGO_BIN_EXE_cohtrace"))
        .args(["record", "--out", trace.to_str().unwrap(), "--qemu", env.qemu.to_str().unwrap(), "--plugin", env.plugin.to_str().unwrap(), "--"])
        .args(&args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(!err.contains("romfile"), "{err}");
    assert!(err.contains(&format!("trace written to {}", trace.display())), "{err}");
    let out = cohtrace(&["analyze", trace.to_str().unwrap(), "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["class"], "stale-read", "the same verdict with the NIC there");

    let missing = dir.join("never.ctrace");
    let out = Command::new(env!("CARGO_BIN_EXE_cohtrace"))
        .args(["record", "--out", missing.to_str().unwrap(), "--qemu", env.qemu.to_str().unwrap(), "--plugin", env.plugin.to_str().unwrap(), "--"])
        .args(["-M", "no-such-board", "-nographic"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(!missing.exists());
    assert!(!err.contains("trace written"), "a failure must not claim a trace: {err}");
    assert!(err.contains("no trace written: QEMU exited with status"), "{err}");
}

/// `--elf FILE@BIAS` (issue 13, 6b): scenario 01's objects linked again at 0 (its linker script with the
/// image's base 0x40100000 made 0), as test suites that link at 0 and run elsewhere are. On the recorded
/// trace, `--elf zero.elf@BIAS`, with BIAS the distance between the two links' `_start`, names the
/// hazard's sides (the manifest's labels) and source lines as the ELF linked where it ran does; so does
/// `--elf zero.elf` alone, the bias inferred from the trace's fetches; a wrong bias names nothing; a
/// malformed one is refused; diff and explain take it too.
#[test]
fn an_elf_linked_at_0_names_the_hazard_with_its_bias() {
    let Some(guests) = support::guest_elfs() else { return };
    let ld = "aarch64-linux-gnu-ld";
    if Command::new(ld).arg("--version").output().is_err() {
        assert!(!std::env::var("COHTRACE_REQUIRE_QEMU").is_ok_and(|v| v == "1"), "{ld} missing");
        eprintln!("note: {ld} missing (scripts/build-guests installs binutils-aarch64-linux-gnu): test skipped");
        return;
    }
    let repo = support::repo();
    let dir = support::tempdir("elf-bias");
    let script = std::fs::read_to_string(repo.join("guests/common/guest.ld")).unwrap();
    let zero_script = script.replace(". = 0x40100000;", ". = 0;");
    assert_ne!(zero_script, script, "guest.ld no longer sets the base with `. = 0x40100000;`");
    std::fs::write(dir.join("zero.ld"), zero_script).unwrap();
    let obj = guests.join("obj");
    let zero = dir.join("zero.elf");
    let out = Command::new(ld)
        .args(["-nostdlib", "-static", "--no-warn-rwx-segments", "-T"])
        .arg(dir.join("zero.ld"))
        .arg("-o")
        .arg(&zero)
        .args(["prelude.o", "01-nc-write-wb-read.o", "01-nc-write-wb-read.name.o"].map(|o| obj.join(o)))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let real = guests.join("01-nc-write-wb-read.elf");
    let (real_syms, zero_syms) = (support::symbols(&real), support::symbols(&zero));
    assert_eq!(zero_syms["_start"], 0, "linked at 0");
    let bias = real_syms["_start"] - zero_syms["_start"];
    assert_eq!(real_syms["el2_read"] - zero_syms["el2_read"], bias);

    let trace = repo.join("traces/01-nc-write-wb-read.ctrace").display().to_string();
    let json = |elf: &str| -> (serde_json::Value, String) {
        let out = cohtrace(&["analyze", &trace, "--format", "json", "--elf", elf]);
        assert_eq!(out.status.code(), Some(1), "{elf}: {}", String::from_utf8_lossy(&out.stderr));
        (serde_json::from_slice(&out.stdout).unwrap(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (want, _) = json(real.to_str().unwrap());
    assert_eq!(want[0]["observer"]["symbol"], "el2_read");
    assert_eq!(want[0]["cause"]["symbol"], "el1_write");
    assert!(want[0]["observer"]["source"]["line"].is_u64(), "the real ELF has DWARF lines: {}", want[0]);
    for arg in [format!("{}@{bias:#x}", zero.display()), format!("{}@{bias}", zero.display())] {
        let (got, _) = json(&arg);
        assert_eq!(got, want, "{arg}: the same report as the ELF linked where it ran");
    }
    let (got, err) = json(zero.to_str().unwrap());
    assert_eq!(got, want, "the bias inferred from the trace");
    assert!(err.contains(&format!("is linked at 0; the trace fetched its code at bias {bias:#x}")), "{err}");
    let (got, _) = json(&format!("{}@0", zero.display()));
    assert!(got[0]["observer"]["symbol"].is_null() && got[0]["observer"].get("source").is_none(), "bias 0: {}", got[0]);

    for bad in ["@0x4010zz", "@", "@forty"] {
        let out = cohtrace(&["analyze", &trace, "--elf", &format!("{}{bad}", zero.display())]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("FILE@BIAS needs a bias after the '@'"), "{bad}: {err}");
    }
    let biased = format!("{}@{bias:#x}", zero.display());
    let out = cohtrace(&["explain", &trace, "--elf", &biased]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("(el2_read, ") && text.contains("01-nc-write-wb-read.S:"), "{text}");
    let out = cohtrace(&["diff", &trace, &trace, "--elf", &biased, "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["unchanged_hazards"][0]["observer"]["symbol"], "el2_read");
}
