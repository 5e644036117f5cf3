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
    assert!(!err.contains("cohtrace: trace written"), "a failure must not claim a trace: {err}");
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

/// One line of an unfiltered `cohtrace dump`, read from its text alone (not with the filters' code): its
/// sequence number, stream, kind, PC, the bytes it touches and whether it touches every line.
struct Dumped {
    text: String,
    seq: u64,
    stream: String,
    kind: &'static str,
    pc: Option<u64>,
    bytes: Option<(u64, u64)>,
    every_line: bool,
}

fn hex_field(text: &str, key: &str) -> Option<u64> {
    let at = text.find(&format!(" {key}="))? + key.len() + 2;
    let v = text[at..].split([' ', ',', ')']).next()?;
    u64::from_str_radix(v.strip_prefix("0x")?, 16).ok()
}

fn dec_field(text: &str, key: &str) -> Option<u64> {
    let at = text.find(&format!(" {key}="))? + key.len() + 2;
    text[at..].split(' ').next()?.parse().ok()
}

fn parse_dump(stdout: &[u8]) -> Vec<Dumped> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|text| {
            let t: Vec<&str> = text.split_whitespace().collect();
            let (who, word) = (t[1], t[2]);
            let stream = match text.rsplit_once("(on ") {
                Some((_, thread)) => thread.split('\'').next().unwrap().to_string(),
                None if who.starts_with("dev") => "dev".to_string(),
                None => who.to_string(),
            };
            let mmio = text.ends_with(" mmio");
            let kind = match word {
                "load" | "store" if mmio => "mmio",
                "load" => "load",
                "store" => "store",
                "fetch" => "fetch",
                "walk" | "walk-update" => "walk",
                "msr" => "sysreg",
                "regime" => "regime",
                "marker" | "marker-arg" => "marker",
                "bulk-load" | "bulk-store" => "bulk",
                "pending-type" => "pending-type",
                "dma-read" | "dma-write" => "dma",
                "name" => "device-name",
                "DC" | "IC" | "TLBI" => "maintenance",
                other => panic!("unknown dump line kind {other}: {text}"),
            };
            let (line_size, pa) = (64u64, hex_field(text, "pa"));
            let bytes = match kind {
                "load" | "store" | "walk" => Some((pa.unwrap(), dec_field(text, "size").unwrap())),
                "bulk" | "dma" => Some((pa.unwrap(), dec_field(text, "len").unwrap())),
                "fetch" => Some((hex_field(text, "line").or(hex_field(text, "last-pa")).unwrap() & !(line_size - 1), line_size)),
                "maintenance" => pa.map(|pa| (pa & !(line_size - 1), line_size)),
                _ => None,
            };
            let every_line = kind == "maintenance" && pa.is_none() && ["DC ISW", "DC CSW", "DC CISW", "IC IALLU"].iter().any(|op| text.contains(op));
            Dumped { text: text.to_string(), seq: t[0].parse().unwrap(), stream, kind, pc: hex_field(text, "pc"), bytes, every_line }
        })
        .collect()
}

fn touches(d: &Dumped, line: u64) -> bool {
    d.every_line || d.bytes.is_some_and(|(pa, len)| pa < line + 64 && pa + len.max(1) > line)
}

/// `dump` with `filter` prints exactly the lines of the unfiltered dump that `want` selects, in order.
fn assert_dump_filter(trace: &str, all: &[Dumped], filter: &[&str], want: impl Fn(&Dumped) -> bool) -> usize {
    let out = cohtrace(&[&["dump", trace][..], filter].concat());
    assert_eq!(out.status.code(), Some(0), "{filter:?}: {}", String::from_utf8_lossy(&out.stderr));
    let got: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    let expected: Vec<String> = all.iter().filter(|d| want(d)).map(|d| d.text.clone()).collect();
    assert_eq!(got, expected, "{trace} {filter:?}");
    got.len()
}

const DUMP_KINDS: [&str; 13] =
    ["load", "store", "mmio", "fetch", "walk", "maintenance", "sysreg", "regime", "marker", "bulk", "pending-type", "dma", "device-name"];

/// `cohtrace dump`'s filters on the recorded traces: each selects exactly the lines of the unfiltered dump
/// that an independent reading of them says it should, alone and combined; bad values are refused.
#[test]
fn dump_filters_select_exactly_their_events() {
    let traces = support::repo().join("traces");
    let (mut kinds_seen, mut checks) = (std::collections::BTreeSet::new(), 0);
    for name in ["01-nc-write-wb-read", "09-stale-ifetch", "12-smp-nc-write", "20-hw-access-flag", "21-mops-copy", "26-pending-mair", "27-fwcfg-data"] {
        let trace = traces.join(format!("{name}.ctrace")).display().to_string();
        let out = cohtrace(&["dump", &trace]);
        assert_eq!(out.status.code(), Some(0));
        let all = parse_dump(&out.stdout);
        assert!(all.len() > 3000, "{name}: {} lines", all.len());
        // Each kind alone, and two at once.
        for kind in DUMP_KINDS {
            if assert_dump_filter(&trace, &all, &["--kind", kind], |d| d.kind == kind) > 0 {
                kinds_seen.insert(kind);
            }
        }
        assert_dump_filter(&trace, &all, &["--kind", "fetch", "--kind", "walk"], |d| d.kind == "fetch" || d.kind == "walk");
        // Lines: each hazard's, and the line of the first store, of the first walk (a table) and of the
        // first maintenance by address.
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(traces.join(format!("{name}.speculative.json"))).unwrap()).unwrap();
        let mut lines: Vec<u64> = report.as_array().unwrap().iter().map(|h| u64::from_str_radix(&h["line_pa"].as_str().unwrap()[2..], 16).unwrap()).collect();
        for kind in ["store", "walk", "maintenance", "bulk", "dma"] {
            lines.extend(all.iter().find(|d| d.kind == kind && d.bytes.is_some()).map(|d| d.bytes.unwrap().0 & !63));
        }
        for &line in &lines {
            // Any address in the line names it.
            let n = assert_dump_filter(&trace, &all, &["--line", &format!("{:#x}", line + 0x18)], |d| touches(d, line));
            assert!(n > 0, "{name}: line {line:#x}");
        }
        assert_dump_filter(&trace, &all, &["--line", &format!("{}", lines[0]), "--line", &format!("{:#x}", lines[lines.len() - 1])], |d| {
            touches(d, lines[0]) || touches(d, lines[lines.len() - 1])
        });
        // PCs: the first store's and the first walk's (a walk names the instruction whose translation walked).
        let pcs: Vec<u64> = ["store", "walk"].iter().filter_map(|k| all.iter().find(|d| d.kind == *k).and_then(|d| d.pc)).collect();
        for pc in &pcs {
            assert!(assert_dump_filter(&trace, &all, &["--pc", &format!("{pc:#x}")], |d| d.pc == Some(*pc)) > 0);
        }
        assert_dump_filter(&trace, &all, &["--pc", &format!("{:#x}", pcs[0]), "--pc", &format!("{:#x}", pcs[1])], |d| d.pc.is_some_and(|p| pcs.contains(&p)));
        // vCPUs.
        assert_eq!(assert_dump_filter(&trace, &all, &["--vcpu", "0"], |d| d.stream == "cpu0"), all.iter().filter(|d| d.stream == "cpu0").count());
        assert_dump_filter(&trace, &all, &["--vcpu", "1"], |d| d.stream == "cpu1");
        assert_dump_filter(&trace, &all, &["--vcpu", "dev"], |d| d.stream == "dev");
        // A sequence range, then everything at once; --limit counts what is printed.
        let (from, to) = (all[all.len() / 3].seq, all[2 * all.len() / 3].seq);
        let n = assert_dump_filter(&trace, &all, &["--from", &from.to_string(), "--to", &to.to_string()], |d| (from..=to).contains(&d.seq));
        assert!(n > 1000, "{name}: {n}");
        assert_dump_filter(&trace, &all, &["--to", &from.to_string()], |d| d.seq <= from);
        assert_dump_filter(&trace, &all, &["--from", &to.to_string()], |d| d.seq >= to);
        let line = lines[0];
        let combined = |d: &Dumped| d.stream == "cpu0" && touches(d, line) && (d.kind == "store" || d.kind == "load") && d.seq >= 1000;
        let n = assert_dump_filter(&trace, &all, &["--vcpu", "0", "--line", &format!("{line:#x}"), "--kind", "store", "--kind", "load", "--from", "1000"], combined);
        assert!(n > 0, "{name}: the combined filter selects something");
        let first: Vec<&Dumped> = all.iter().filter(|d| d.kind == "fetch").take(3).collect();
        assert_dump_filter(&trace, &all, &["--kind", "fetch", "--limit", "3"], |d| first.iter().any(|f| f.seq == d.seq));
        checks += 1;
    }
    assert_eq!(checks, 7);
    // Every kind shows up in these traces (so every one was compared).
    for kind in DUMP_KINDS {
        assert!(kinds_seen.contains(kind), "no recorded trace has a {kind} event");
    }

    // The device stream (a trace written with the library).
    let dir = support::tempdir("cli-dump");
    let t = dir.join("dma.ctrace");
    dma_trace(&t);
    let t = t.to_str().unwrap();
    let all = parse_dump(&cohtrace(&["dump", t]).stdout);
    assert!(all.iter().any(|d| d.stream == "dev") && all.iter().any(|d| d.stream == "cpu0"));
    for dev in ["dev", "device"] {
        assert!(assert_dump_filter(t, &all, &["--vcpu", dev], |d| d.stream == "dev") >= 2);
    }
    assert_dump_filter(t, &all, &["--vcpu", "0"], |d| d.stream == "cpu0");
    assert_dump_filter(t, &all, &["--kind", "dma", "--line", "0x40200100"], |d| d.kind == "dma");
    assert_dump_filter(t, &all, &["--line", "0x40200200"], |_| false);

    // Bad values: exit 2, naming the option; nothing on stdout.
    let trace = traces.join("09-stale-ifetch.ctrace").display().to_string();
    for (args, option, says) in [
        (&["--kind", "bogus"][..], "--kind", "pending-type"),
        (&["--vcpu", "x"], "--vcpu", "dev"),
        (&["--vcpu", "65535"], "--vcpu", "dev"),
        (&["--line", "0xzz"], "--line", "not an address"),
        (&["--pc", "twelve"], "--pc", "not an address"),
        (&["--from", "ten"], "--from", "invalid value"),
        (&["--from", "10", "--to", "5"], "--from 10", "--to 5"),
    ] {
        let out = cohtrace(&[&["dump", &trace][..], args].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(err.contains(option) && err.contains(says), "{args:?}: {err}");
    }
}

/// A stand-in for QEMU (no QEMU runs): writes the trace `-plugin ...,out=PATH` names, half of it, then all
/// of it, while printing a console on stdout (a prompt without a newline among it) and a line on stderr.
fn fake_qemu(dir: &Path, trace: &Path) -> (String, String) {
    let script = dir.join("fake-qemu.sh");
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
out=$(printf '%s\n' "$2" | sed -n 's/.*,out=\([^,]*\).*/\1/p')
size=$(wc -c < '{src}')
echo "console: booting"
head -c $((size / 2)) '{src}' > "$out"
sleep 0.5
echo "console: half way"
printf 'login: '
sleep 0.5
cat '{src}' > "$out"
echo "root"
echo "qemu: a line on stderr" >&2
echo "console: done"
"#,
            src = trace.display()
        ),
    )
    .unwrap();
    let mut perm = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&script, perm).unwrap();
    let plugin = dir.join("libcohtrace-stand-in.so");
    std::fs::write(&plugin, b"").unwrap();
    (script.display().to_string(), plugin.display().to_string())
}

const CONSOLE: &str = "console: booting\nconsole: half way\nlogin: root\nconsole: done\n";

/// Progress is for terminals: with stderr a pipe (as here), `analyze`, `explain`, `diff` and `record` draw
/// none, even with no delay before it; `-q` keeps only errors and the output asked for; `-v` says more.
#[test]
fn progress_quiet_and_verbose() {
    let traces = support::repo().join("traces");
    let bug = traces.join("01-nc-write-wb-read.ctrace").display().to_string();
    let fixed = traces.join("01-nc-write-wb-read-fixed.ctrace").display().to_string();
    let run = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_cohtrace")).args(args).env("COHTRACE_PROGRESS_AFTER_MS", "0").output().unwrap();
    let no_progress = |out: &Output, what: &str| {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains('\x1b') && !err.contains('\r') && !err.contains("analyzing") && !err.contains("recording"), "{what}: {err:?}");
    };
    for args in [&["analyze", &bug][..], &["explain", &bug], &["diff", &fixed, &bug], &["stats", &bug], &["dump", &bug]] {
        let out = run(args);
        no_progress(&out, args[0]);
        assert!(out.stderr.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    // -q silences the warning about a damaged trace (anywhere on the line), not the report or the status.
    let damaged = traces.join("corrupt/truncated-mid-chunk.ctrace").display().to_string();
    let loud = run(&["analyze", &damaged]);
    let warning = String::from_utf8_lossy(&loud.stderr);
    assert!(warning.starts_with("cohtrace: warning: ") && warning.contains("truncated-mid-chunk.ctrace is damaged"), "{warning}");
    for args in [&["-q", "analyze", &damaged][..], &["analyze", "--quiet", &damaged], &["stats", &damaged, "-q"]] {
        let out = run(args);
        assert!(out.stderr.is_empty(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(!out.stdout.is_empty(), "{args:?}: the output asked for stays");
    }
    assert_eq!(run(&["-q", "analyze", &damaged]).stdout, loud.stdout);
    assert_eq!(run(&["-q", "analyze", &damaged]).status.code(), loud.status.code());
    // Errors stay.
    let out = run(&["-q", "analyze", "/nonexistent.ctrace"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cohtrace: error: /nonexistent.ctrace"));

    // -v: the analysis's size, time and rates, and what the model saw.
    let out = run(&["analyze", "-v", &bug]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cohtrace: analyzed 3444 events (") && err.contains(" events/s, ") && err.contains("; 1 hazard\n"), "{err}");
    assert!(err.contains("cohtrace: model: ") && err.contains(" fetches, "), "{err}");
    assert_eq!(out.stdout, run(&["analyze", &bug]).stdout, "-v changes stderr only");
    let out = run(&["dump", "-v", &bug, "--kind", "maintenance"]);
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("cohtrace: printed 3 of the 3444 records read in "), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["-q", "-v", "analyze", &bug]);
    assert_eq!(out.status.code(), Some(2), "-q and -v conflict");

    // record, with a stand-in for QEMU: the console passes untouched, the note and -v's lines on stderr.
    let dir = support::tempdir("cli-progress");
    let (qemu, plugin) = fake_qemu(&dir, &traces.join("12-smp-nc-write.ctrace"));
    let out_trace = dir.join("t.ctrace").display().to_string();
    let record = |flags: &[&str]| run(&[flags, &["record", "--qemu", &qemu, "--plugin", &plugin, "--out", &out_trace, "--", "-M", "virt", "a b"]].concat());
    let out = record(&[]);
    no_progress(&out, "record");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), CONSOLE);
    assert_eq!(String::from_utf8_lossy(&out.stderr), format!("qemu: a line on stderr\ncohtrace: trace written to {out_trace}\n"));
    let out = record(&["-q"]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "qemu: a line on stderr\n", "QEMU's own stderr is not ours to silence");
    let out = record(&["-v"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with(&format!("cohtrace: running {qemu} -plugin {plugin},out={out_trace} -M virt 'a b'\n")), "{err}");
    assert!(err.contains("cohtrace: 3377 records, ") && err.ends_with("B/s\n"), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), CONSOLE);

    terminal_progress(&bug, &qemu, &plugin, &out_trace);
}

/// On a terminal (util-linux `script` gives one; skipped without it): `analyze` draws its bar; `record`
/// draws its status line, takes it away before QEMU's output and never inside a line of it.
fn terminal_progress(trace: &str, qemu: &str, plugin: &str, out_trace: &str) {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("note: no `script` (util-linux): progress on a terminal not checked");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_cohtrace");
    let tty = |cmd: String| {
        let out = Command::new("script").args(["-qec", &format!("stty cols 120; {cmd}"), "/dev/null"]).env("COHTRACE_PROGRESS_AFTER_MS", "0").output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let screen = tty(format!("{bin} analyze {trace}"));
    assert!(screen.contains(" analyzing 3,444/3,444 events, ") && screen.contains(" MB/s of trace, "), "{screen:?}");
    assert!(screen.contains("==cohtrace== 1 hazard"), "{screen:?}");
    assert!(!tty(format!("{bin} -q analyze {trace}")).contains("analyzing"));

    let screen = tty(format!("{bin} record --qemu {qemu} --plugin {plugin} --out {out_trace} -- -M virt"));
    // Each draw is "\r\x1b[2K" and the line, each removal "\r\x1b[2K": take the drawn lines out.
    let mut pieces = screen.split("\r\x1b[2K");
    let mut rest = pieces.next().unwrap().to_string();
    let mut drawn = 0;
    for p in pieces {
        if p.chars().nth(1) == Some(' ') && p[p.char_indices().nth(2).map_or(0, |(i, _)| i)..].starts_with("recording: ") {
            assert!(!p.contains(['\r', '\n']), "the status line is drawn whole, alone on its line: {p:?}");
            drawn += 1;
        } else {
            rest.push_str(p);
        }
    }
    assert!(drawn >= 1, "the status line is drawn while QEMU runs: {screen:?}");
    assert!(screen.contains(" events, ") && screen.contains(" written ("), "{screen:?}");
    let rest = rest.replace("\r\n", "\n");
    assert_eq!(rest.replace("qemu: a line on stderr\n", ""), format!("{CONSOLE}cohtrace: trace written to {out_trace}\n"), "{screen:?}");
    // Never drawn while the console waits at its prompt.
    assert!(!screen.contains("login: \r\x1b[2K"), "{screen:?}");
}
