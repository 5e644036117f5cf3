//! Install (options, extension, writer thread, callback registrations), vCPU start and idle, and exit:
//! quiesce the vCPUs, flush every buffer, finish the trace.

use crate::options::{self, TlbMode};
use crate::qemu::{Extension, RegBuf, RegHandles};
use crate::sink::{self, Msg};
use crate::state::{ACTIVE, PLUGIN, Plugin, THREAD_VCPU, VcpuCell, disable, plugin, watermark};
use crate::vcpu::Vcpu;
use cohtrace_analyzer::event::SysReg;
use cohtrace_analyzer::trace::{Record, RecordKind};
use qemu_plugin_sys::*;
use std::collections::HashMap;
use std::ffi::{CStr, c_uint, c_void};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

static FINISHED: AtomicBool = AtomicBool::new(false);

pub fn install(id: qemu_plugin_id_t, info: &qemu_info_t, args: &[String]) -> Result<(), String> {
    let opts = options::parse(args.iter().map(String::as_str))?;
    // SAFETY: QEMU passes a valid C string.
    let target = unsafe { CStr::from_ptr(info.target_name) }.to_string_lossy();
    if target != "aarch64" {
        return Err(format!("cohtrace models ARM64 caches; this QEMU emulates '{target}'"));
    }
    if !info.system_emulation {
        return Err("cohtrace needs system emulation (qemu-system-aarch64), not user mode".into());
    }
    let ext = match Extension::resolve() {
        Ok(ext) => Some(ext),
        Err(why) => {
            if opts.walker == options::WalkerMode::Verify {
                return Err(format!("option 'walker=verify' compares the plugin's walk with the patched QEMU's: {why}"));
            }
            crate::stock::install(id, info, &why)?;
            eprintln!(
                "cohtrace: stock mode (plugin API v{}, no qemu-patches/). Not seen in this mode: {}.",
                info.version.cur,
                crate::stock::NOT_SEEN
            );
            None
        }
    };
    if let Some(ext) = &ext
        && opts.walks
        && ext.register_walk.is_none()
    {
        return Err("option 'walks=on' (the default) needs qemu_plugin_register_arm_walk_cb from \
                    qemu-patches/0003: rebuild QEMU with scripts/setup-qemu, or pass walks=off"
            .into());
    }
    // SAFETY: system_emulation is set, so the union holds the system fields.
    let max_vcpus = unsafe { info.__bindgen_anon_1.system.max_vcpus }.max(1) as u32;
    let sink = sink::start(&opts, max_vcpus, watermark)?;
    let vcpus = (0..max_vcpus).map(|i| VcpuCell::new(Vcpu::new(i as u16, opts.buffer))).collect();
    let fast_path = opts.filters.is_empty() && opts.tlb == TlbMode::On;
    let plugin = Plugin {
        fast_path,
        opts,
        ext,
        vcpus,
        multi: max_vcpus > 1,
        insns: Mutex::new(HashMap::new()),
        next_insn: AtomicU32::new(1),
        sink,
        regs: OnceLock::new(),
        devices: Mutex::new(Default::default()),
    };
    PLUGIN.set(plugin).map_err(|_| "installed twice".to_string())?;
    if let Some(p) = PLUGIN.get() {
        p.publish_cells();
    }
    register_barrier();
    ACTIVE.store(true, Ordering::Relaxed);
    // SAFETY: plain registrations with 'static callbacks.
    unsafe {
        qemu_plugin_register_vcpu_init_cb(id, Some(on_vcpu_init));
        qemu_plugin_register_vcpu_idle_cb(id, Some(on_vcpu_idle));
        qemu_plugin_register_vcpu_tb_trans_cb(id, Some(crate::translate::on_tb_trans));
        qemu_plugin_register_atexit_cb(id, Some(on_exit), std::ptr::null_mut());
    }
    if let Some(register) = PLUGIN.get().filter(|p| p.opts.walks).and_then(|p| p.ext.and_then(|e| e.register_walk)) {
        // SAFETY: the patch's registration function, with a 'static callback of its signature.
        unsafe { register(Some(crate::walk::on_walk)) };
    }
    if let Some(ext) = PLUGIN.get().and_then(|p| p.ext) {
        // SAFETY: as above (qemu-patches/0004).
        unsafe { (ext.register_bulk)(Some(crate::bulk::on_bulk)) };
        // SAFETY: as above (qemu-patches/0007).
        unsafe { (ext.register_dma)(Some(crate::dma::on_dma)) };
    }
    Ok(())
}

unsafe extern "C" fn on_vcpu_init(_id: qemu_plugin_id_t, vcpu_index: c_uint) {
    crate::state::guard("vcpu_init", (), || {
        let Some(p) = plugin() else { return };
        THREAD_VCPU.with(|t| t.set(vcpu_index));
        let regs = match p.regs.get_or_init(RegHandles::find) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("cohtrace: {e}; capture disabled");
                disable();
                return;
            }
        };
        p.enter(vcpu_index, |v| {
            let mut rb = RegBuf::new();
            for reg in SysReg::ALL {
                if let Some(val) = rb.read(regs.sys[reg.code() as usize]) {
                    v.set_reg(reg, val);
                    // The CPU's cache geometry goes into the trace: the model derives CTR_EL0.IDC/DIC from it.
                    if matches!(reg, SysReg::CtrEl0 | SysReg::ClidrEl1) {
                        p.push(v, Record { kind: RecordKind::SysReg as u8, a: val, info: reg.code(), ..Default::default() });
                    }
                }
            }
            v.regbuf = Some(rb);
            v.physbuf = Some(RegBuf::new());
            if p.ext.is_none() {
                v.stock_walk_cache = vec![crate::vcpu::WalkCacheEntry::EMPTY; crate::vcpu::WALK_CACHE_ENTRIES].into_boxed_slice();
            }
            Some(())
        });
    })
}

/// A vCPU going idle (WFI) hands over what it has, so that the online model's merge does not wait on it.
unsafe extern "C" fn on_vcpu_idle(_id: qemu_plugin_id_t, vcpu_index: c_uint) {
    crate::state::guard("vcpu_idle", (), || {
        if let Some(p) = plugin()
            && p.multi
        {
            p.enter(vcpu_index, |v| {
                p.flush(v);
                Some(())
            });
        }
    })
}

unsafe extern "C" fn on_exit(_id: qemu_plugin_id_t, _udata: *mut c_void) {
    crate::state::guard("exit", (), finish)
}

const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 8;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 16;
static BARRIER: AtomicBool = AtomicBool::new(false);

/// Registers for the expedited process-wide barrier `quiesce` issues once, at exit (Linux membarrier(2)).
fn register_barrier() {
    // SAFETY: a plain syscall with constant arguments.
    let r = unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) };
    BARRIER.store(r == 0, Ordering::Relaxed);
}

/// Waits until no vCPU is inside a callback that saw capture active. A callback marks its vCPU busy, then
/// checks ACTIVE (`Plugin::enter`); here ACTIVE is already false, and the barrier makes every thread's
/// busy store visible before we read the flags: a callback either saw ACTIVE false, or we see it busy and
/// wait for it (the asymmetric form of Dekker's protocol). QEMU can exit from one vCPU's thread
/// (semihosting) while others still run.
fn quiesce(p: &Plugin) -> bool {
    let fenced = BARRIER.load(Ordering::Relaxed)
        // SAFETY: a plain syscall with constant arguments.
        && unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) } == 0;
    if !fenced {
        // No membarrier (an old kernel, a seccomp filter): our fence plus time for any callback that is
        // past its check to show up as busy. Only here does exit wait without a reason to.
        std::sync::atomic::fence(Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(20));
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    for cell in p.vcpus.iter() {
        while cell.busy() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::yield_now();
        }
    }
    true
}

/// Quiesces the vCPUs, flushes every buffer, finalizes the trace and waits for the writer.
fn finish() {
    if FINISHED.swap(true, Ordering::SeqCst) {
        return;
    }
    let Some(p) = plugin() else { return };
    ACTIVE.store(false, Ordering::SeqCst);
    if let Some(ext) = p.ext {
        if let Some(register) = ext.register_walk.filter(|_| p.opts.walks) {
            // SAFETY: as at install; no more walk reports after this.
            unsafe { register(None) };
        }
        // SAFETY: as at install; no more bulk or DMA reports after this.
        unsafe { (ext.register_bulk)(None) };
        unsafe { (ext.register_dma)(None) };
    }
    if !quiesce(p) {
        eprintln!("cohtrace: a vCPU did not leave its callback within 2 s; its last records may be cut");
    }
    let mut dropped = 0;
    let mut mismatches = 0;
    let mut verify = crate::vcpu::VerifyCounts::default();
    let mut own_walk_failures = 0;
    for i in 0..p.vcpus.len() {
        if let Some(v) = p.vcpu_after_quiesce(i) {
            dropped += v.dropped;
            mismatches += v.ptlb_mismatches;
            verify.add(&v.verify);
            own_walk_failures += v.own_walk_failures;
            p.flush(v);
        }
    }
    crate::dma::flush_devices(p);
    if p.opts.tlb == TlbMode::Verify {
        eprintln!("cohtrace: tlb=verify: {mismatches} translation cache mismatches");
    }
    crate::stock::report(p, own_walk_failures);
    if p.opts.walker == crate::options::WalkerMode::Verify {
        eprintln!(
            "cohtrace: walker=verify: {} translations compared, {} disagreements, {} skipped",
            verify.compared, verify.disagreements, verify.skipped
        );
    }
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    if p.sink.tx.send(Msg::Finish { dropped, done: done_tx }).is_ok()
        && let Ok(s) = done_rx.recv()
    {
        let out = p.opts.out.as_ref().map(|o| o.display().to_string()).unwrap_or_else(|| "nowhere (out=none)".into());
        let per = if s.records > 0 { s.bytes as f64 / s.records as f64 } else { 0.0 };
        eprintln!(
            "cohtrace: {} records, {} bytes ({per:.2} bytes/record) written to {out}{}",
            s.records,
            s.bytes,
            if dropped > 0 { format!("; {dropped} accesses could not be captured") } else { String::new() }
        );
        if let Some(e) = s.error {
            eprintln!("cohtrace: the trace is incomplete: {e}");
        }
    }
    if let Some(h) = p.sink.handle.lock().ok().and_then(|mut h| h.take()) {
        let _ = h.join();
    }
}
