//! The QEMU patch on its own: a minimal C plugin (qemu-patches/test/attrs-probe.c) built against the
//! patched qemu-plugin.h reads qemu_plugin_hwaddr_arm_attrs() for scenario 01's shared line. The guest's
//! store must report QEMU's combined attributes 0x44 (Normal NC) in the EL1&0 regime with stage 2 applied,
//! and EL2's load 0xff (Normal WB) in the EL2 regime.

mod support;

use std::process::Command;

#[test]
fn patched_qemu_reports_nc_for_the_guest_store_and_wb_for_the_host_load() {
    let Some(env) = support::env() else { return };
    let header_dir = env.qemu.parent().unwrap().parent().unwrap().join("include");
    assert!(header_dir.join("qemu-plugin.h").is_file(), "patched qemu-plugin.h not beside the QEMU binary");
    let dir = support::tempdir("patch-api");
    let so = dir.join("libattrs-probe.so");
    let glib = Command::new("pkg-config").args(["--cflags", "glib-2.0"]).output().expect("pkg-config");
    let glib = String::from_utf8(glib.stdout).unwrap();
    let status = Command::new("gcc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&so)
        .arg(support::repo().join("qemu-patches/test/attrs-probe.c"))
        .arg(format!("-I{}", header_dir.display()))
        .args(glib.split_whitespace())
        .status()
        .expect("gcc");
    assert!(status.success(), "building attrs-probe.c failed");

    let name = "01-nc-write-wb-read";
    let elf = env.guests.join(format!("{name}.elf"));
    let syms = support::symbols(&elf);
    let line = support::resolve(&syms, "shared_buf") & !63;
    let (store_pc, load_pc) = (support::resolve(&syms, "el1_write"), support::resolve(&syms, "el2_read"));
    let out = Command::new(&env.qemu)
        .args(support::command(&env, "01-nc-write-wb-read"))
        .arg("-plugin")
        .arg(format!("{},start={:#x},end={:#x}", so.display(), line, line + 64))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let log = String::from_utf8_lossy(&out.stderr);
    let word = |pc: u64, kind: &str| -> u64 {
        let tag = format!("attrs pc={pc:#x} ");
        let l = log
            .lines()
            .find(|l| l.starts_with(&tag) && l.contains(kind))
            .unwrap_or_else(|| panic!("no {kind} at {pc:#x} in:\n{log}"));
        u64::from_str_radix(l.rsplit("word=0x").next().unwrap(), 16).unwrap()
    };
    let store = word(store_pc, "store");
    let load = word(load_pc, "load");
    assert_ne!(store & 1 << 63, 0, "valid bit");
    assert_eq!(store & 0xff, 0x44, "guest store combined attributes: {store:#x}");
    assert_ne!(store & 1 << 23, 0, "stage 2 applied to the guest store: {store:#x}");
    assert_eq!((store >> 16) & 0xf, 0xf, "stage 2 MemAttr WB: {store:#x}");
    assert_eq!((store >> 8) & 0xff, 0x44, "stage 1 NC: {store:#x}");
    assert!((2..=4).contains(&((store >> 40) & 0xff)), "EL1&0 MMU index: {store:#x}");
    assert_eq!(load & 0xff, 0xff, "host load combined attributes: {load:#x}");
    assert_eq!(load & 1 << 23, 0, "no stage 2 for EL2: {load:#x}");
    assert_eq!((load >> 40) & 0xff, 10, "EL2 MMU index: {load:#x}");
    assert_eq!(load & 1 << 62, 0, "RAM, not MMIO");
}

#[test]
fn patched_qemu_flags_mmio_accesses() {
    let Some(env) = support::env() else { return };
    // The PL011 UART at 0x09000000: the guest prints its verdict through it. Our plugin marks MMIO in
    // the trace; `cohtrace stats` counts them.
    let dir = support::tempdir("mmio");
    let trace = dir.join("t.ctrace");
    let run = support::run_variant(&env, "01-nc-write-wb-read", &format!(",out={}", trace.display()));
    assert_eq!(run.status, Some(0));
    let t = cohtrace_analyzer::trace::TraceFile::open(&trace).unwrap();
    let uart: Vec<_> = t
        .events()
        .filter_map(|e| match e {
            cohtrace_analyzer::event::Event::Access(a) if a.pa & !0xfff == 0x0900_0000 => Some(a.mmio),
            _ => None,
        })
        .collect();
    assert!(!uart.is_empty(), "the guest wrote to the UART");
    assert!(uart.iter().all(|m| *m), "every UART access is marked MMIO");
}
