//! Install, translation-time decoding, and the run-time callbacks.

use crate::decode::{self, Decoded};
use crate::options::{self, ModelMode, Options, TlbMode};
use crate::qemu::{Extension, RegBuf, RegHandles};
use crate::sink::{self, Chunk, Msg, Sink};
use crate::vcpu::{PtlbEntry, Vcpu, ptlb_index};
use cohtrace_analyzer::event::{CacheOp, MARKER_NAME_LEN, Marker, MarkerKind, SysReg};
use cohtrace_analyzer::memtype::{ATTRS_MMIO, MemType};
use cohtrace_analyzer::trace::record::{MMIO_BIT, NO_PA, marker_records};
use cohtrace_analyzer::trace::{Record, RecordKind};
use qemu_plugin_sys::*;
use std::cell::{Cell, UnsafeCell};
use std::collections::HashMap;
use std::ffi::{CStr, c_uint, c_void};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Per-instruction record, interned at translation and never freed: callbacks get a pointer to it.
pub struct InsnInfo {
    pub id: u32,
    pub pc: u64,
    pub decoded: Option<Decoded>,
}

struct VcpuCell(UnsafeCell<Vcpu>);
// SAFETY: a vCPU's state is touched only by the thread running that vCPU (and by atexit once the vCPUs
// are stopped or have stopped recording, see `finish`).
unsafe impl Sync for VcpuCell {}

struct Plugin {
    opts: Options,
    /// The translation cache answers hits on its own (no physical filters, tlb=on).
    fast_path: bool,
    ext: Extension,
    vcpus: Box<[VcpuCell]>,
    /// More than one vCPU: records carry a global sequence number (one atomic increment per record).
    multi: bool,
    insns: Mutex<HashMap<(u64, u32), &'static InsnInfo>>,
    next_insn: AtomicU32,
    sink: Sink,
    regs: OnceLock<Result<RegHandles, String>>,
}

static PLUGIN: OnceLock<Plugin> = OnceLock::new();
/// The global event order with several vCPUs (docs/trace-format.md, "Ordering").
pub static SEQ: AtomicU64 = AtomicU64::new(0);
/// A vCPU hands over its buffer once its oldest record is this far behind the global order.
pub const MAX_LAG: u64 = 1 << 20;
/// Bumped by TLB maintenance and translation-register writes on any vCPU: empties every PtlbEntry cache.
static PTLB_GENERATION: AtomicU32 = AtomicU32::new(0);

fn invalidate_translations() {
    PTLB_GENERATION.fetch_add(1, Ordering::Relaxed);
}
/// Cleared by `disable` (internal error) and at exit: callbacks then return at once.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static FINISHED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The vCPU this thread runs (MTTCG: one thread per vCPU). Used by translation callbacks, which QEMU
    /// calls without a vCPU index; under round-robin TCG it names the last vCPU initialised on the thread.
    static THREAD_VCPU: Cell<u32> = const { Cell::new(u32::MAX) };
}

pub fn disable() {
    ACTIVE.store(false, Ordering::Relaxed);
}

fn plugin() -> Option<&'static Plugin> {
    PLUGIN.get()
}

impl Plugin {
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    fn vcpu(&self, index: c_uint) -> Option<&mut Vcpu> {
        // SAFETY: see VcpuCell.
        self.vcpus.get(index as usize).map(|c| unsafe { &mut *c.0.get() })
    }

    /// Appends a record to the vCPU's buffer, handing the buffer to the writer when full.
    #[inline(always)]
    fn push(&self, v: &mut Vcpu, mut r: Record) {
        if self.multi {
            let s = SEQ.fetch_add(1, Ordering::Relaxed);
            if v.len == 0 {
                v.base_seq = s;
            }
            let off = s - v.base_seq;
            if off > MAX_LAG {
                // Hand over records that are old in the global order: the online model replays up to a
                // watermark that trusts every record older than MAX_LAG to have arrived.
                self.flush(v);
                v.base_seq = s;
                r.seq = 0;
            } else {
                r.seq = off as u32;
            }
        } else {
            if v.len == 0 {
                v.base_seq = v.local_seq;
            }
            r.seq = (v.local_seq - v.base_seq) as u32;
            v.local_seq += 1;
        }
        // SAFETY: len < buf.len() is an invariant: flush() runs as soon as the buffer fills.
        unsafe { *v.buf.get_unchecked_mut(v.len) = r };
        v.len += 1;
        if v.len == v.buf.len() {
            self.flush(v);
        }
    }

    #[cold]
    fn flush(&self, v: &mut Vcpu) {
        if v.len == 0 {
            return;
        }
        let fresh = self
            .sink
            .free
            .try_recv()
            .unwrap_or_else(|_| vec![Record::default(); self.opts.buffer].into_boxed_slice());
        let buf = std::mem::replace(&mut v.buf, fresh);
        let chunk = Chunk { vcpu: v.index, base_seq: v.base_seq, buf, len: v.len };
        v.len = 0;
        // Every chunk starts with its regime, so chunks decode on their own.
        v.current_regime = u64::MAX;
        if self.sink.tx.send(Msg::Chunk(chunk)).is_err() {
            disable();
        }
    }

    #[inline(always)]
    fn ensure_regime(&self, v: &mut Vcpu, packed: u64) {
        if packed != v.current_regime && packed != u64::MAX {
            v.current_regime = packed;
            self.push(v, Record { kind: RecordKind::Regime as u8, a: packed, ..Default::default() });
        }
    }

    fn intern(&self, pc: u64, opcode: u32) -> &'static InsnInfo {
        let mut map = self.insns.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((pc, opcode)).or_insert_with(|| {
            let id = self.next_insn.fetch_add(1, Ordering::Relaxed);
            Box::leak(Box::new(InsnInfo { id, pc, decoded: decode::decode(opcode) }))
        })
    }

    fn filtered_out(&self, pa: u64) -> bool {
        !self.opts.filters.is_empty() && !self.opts.filters.iter().any(|&(s, e)| pa >= s && pa < e)
    }
}

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
    let ext = Extension::resolve()?;
    // SAFETY: system_emulation is set, so the union holds the system fields.
    let max_vcpus = unsafe { info.__bindgen_anon_1.system.max_vcpus }.max(1) as u32;
    let sink = sink::start(&opts, max_vcpus)?;
    let vcpus = (0..max_vcpus).map(|i| VcpuCell(UnsafeCell::new(Vcpu::new(i as u16, opts.buffer)))).collect();
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
    };
    PLUGIN.set(plugin).map_err(|_| "installed twice".to_string())?;
    ACTIVE.store(true, Ordering::Relaxed);
    // SAFETY: plain registrations with 'static callbacks.
    unsafe {
        qemu_plugin_register_vcpu_init_cb(id, Some(on_vcpu_init));
        qemu_plugin_register_vcpu_idle_cb(id, Some(on_vcpu_idle));
        qemu_plugin_register_vcpu_tb_trans_cb(id, Some(on_tb_trans));
        qemu_plugin_register_atexit_cb(id, Some(on_exit), std::ptr::null_mut());
    }
    Ok(())
}

unsafe extern "C" fn on_vcpu_init(_id: qemu_plugin_id_t, vcpu_index: c_uint) {
    crate::guard("vcpu_init", (), || {
        let Some(p) = plugin() else { return };
        THREAD_VCPU.with(|t| t.set(vcpu_index));
        let regs = p.regs.get_or_init(RegHandles::find);
        let regs = match regs {
            Ok(r) => r,
            Err(e) => {
                eprintln!("cohtrace: {e}; capture disabled");
                disable();
                return;
            }
        };
        let Some(v) = p.vcpu(vcpu_index) else { return };
        let mut rb = RegBuf::new();
        for reg in SysReg::ALL {
            if let Some(val) = rb.read(regs.sys[reg.code() as usize]) {
                v.set_reg(reg, val);
                // The CPU's cache geometry goes into the trace: the model derives CTR_EL0.IDC/DIC from it.
                if matches!(reg, SysReg::CtrEl0 | SysReg::ClidrEl1) && ACTIVE.load(Ordering::Relaxed) {
                    p.push(v, Record { kind: RecordKind::SysReg as u8, a: val, info: reg.code(), ..Default::default() });
                }
            }
        }
        v.regbuf = Some(rb);
    })
}

/// A vCPU going idle (WFI) hands over what it has, so that the online model's merge does not wait on it.
unsafe extern "C" fn on_vcpu_idle(_id: qemu_plugin_id_t, vcpu_index: c_uint) {
    crate::guard("vcpu_idle", (), || {
        if !ACTIVE.load(Ordering::Relaxed) {
            return;
        }
        if let Some(p) = plugin()
            && p.multi
            && let Some(v) = p.vcpu(vcpu_index)
        {
            p.flush(v);
        }
    })
}

unsafe extern "C" fn on_tb_trans(_id: qemu_plugin_id_t, tb: *mut qemu_plugin_tb) {
    crate::guard("tb_trans", (), || {
        let Some(p) = plugin() else { return };
        if !ACTIVE.load(Ordering::Relaxed) {
            return;
        }
        // SAFETY: `tb` is valid during this callback; instruction handles too.
        unsafe { translate(p, tb) }
    })
}

unsafe fn translate(p: &Plugin, tb: *mut qemu_plugin_tb) {
    let line_mask = !(p.opts.line as u64 - 1);
    let n = unsafe { qemu_plugin_tb_n_insns(tb) };
    // Instruction fetch, one event per physical line the block covers, at translation: QEMU translates
    // a block again whenever its code is written, so the first fetch after a change is never missed.
    let mut page_va = u64::MAX;
    let mut page_pa = NO_PA;
    let mut page_raw = 0u64;
    let mut last_line = u64::MAX;
    // (line, first instruction in it, TLB attributes, PA of the last instruction in it)
    let mut fetches: Vec<(u64, &'static InsnInfo, u64, u64)> = Vec::new();
    for i in 0..n {
        let insn = unsafe { qemu_plugin_tb_get_insn(tb, i) };
        let pc = unsafe { qemu_plugin_insn_vaddr(insn) };
        let mut bytes = [0u8; 4];
        unsafe { qemu_plugin_insn_data(insn, bytes.as_mut_ptr() as *mut c_void, 4) };
        let info = p.intern(pc, u32::from_le_bytes(bytes));
        let udata = info as *const InsnInfo as *mut c_void;
        unsafe {
            qemu_plugin_register_vcpu_mem_cb(
                insn,
                Some(on_mem),
                qemu_plugin_cb_flags::QEMU_PLUGIN_CB_NO_REGS,
                qemu_plugin_mem_rw::QEMU_PLUGIN_MEM_RW,
                udata,
            );
            if matches!(info.decoded, Some(Decoded::Maintenance { .. } | Decoded::Msr { .. } | Decoded::Marker(_))) {
                qemu_plugin_register_vcpu_insn_exec_cb(
                    insn,
                    Some(on_system_insn),
                    qemu_plugin_cb_flags::QEMU_PLUGIN_CB_R_REGS,
                    udata,
                );
            }
        }
        if pc & !0xfff != page_va {
            page_va = pc & !0xfff;
            let h = unsafe { (p.ext.probe_vaddr)(page_va) };
            if h.is_null() {
                page_pa = NO_PA;
            } else {
                page_pa = unsafe { qemu_plugin_hwaddr_phys_addr(h) };
                page_raw = unsafe { (p.ext.arm_attrs)(h) };
            }
        }
        if page_pa != NO_PA {
            let pa = page_pa + (pc & 0xfff);
            if pa & line_mask != last_line {
                last_line = pa & line_mask;
                fetches.push((last_line, info, page_raw, pa));
            } else if let Some(f) = fetches.last_mut() {
                f.3 = pa;
            }
        }
    }
    let vi = THREAD_VCPU.with(|t| t.get());
    let Some(v) = p.vcpu(vi) else { return };
    for (line, info, raw, last_pa) in fetches {
        if p.filtered_out(line) {
            continue;
        }
        let (mem, regime) = v.classify(raw, true);
        p.ensure_regime(v, regime);
        // The PA of the block's last instruction in the line, with bit 0 set: the bytes fetched run from the
        // first instruction (pc) to that one (event::Fetch).
        let a = (last_pa & !3) | 1;
        p.push(v, Record { kind: RecordKind::Fetch as u8, a, pc: info.pc, insn: info.id, mem: mem.to_bits(), ..Default::default() });
    }
}

/// The hot path: one call per guest data access.
unsafe extern "C" fn on_mem(vcpu_index: c_uint, meminfo: qemu_plugin_meminfo_t, vaddr: u64, udata: *mut c_void) {
    if !ACTIVE.load(Ordering::Relaxed) {
        return;
    }
    // The hit path cannot panic (no fallible indexing, no unwrap, wrapping arithmetic); the miss path runs
    // inside `guard`. Wrapping the whole hot path in catch_unwind cost 30% of the capture time. (Were the
    // hit path to panic anyway, Rust aborts the process rather than unwind out of an extern "C" function.)
    unsafe { record_access(vcpu_index, meminfo, vaddr, udata) }
}

#[inline(always)]
unsafe fn record_access(vcpu_index: c_uint, meminfo: qemu_plugin_meminfo_t, vaddr: u64, udata: *mut c_void) {
    let Some(p) = plugin() else { return };
    let Some(v) = p.vcpu(vcpu_index) else { return };
    // SAFETY: udata is the interned InsnInfo registered with this callback.
    let insn = unsafe { &*(udata as *const InsnInfo) };
    let va_page = vaddr >> 12;
    let slot = ptlb_index(va_page, meminfo);
    let generation = PTLB_GENERATION.load(Ordering::Relaxed);
    // SAFETY: ptlb_index returns a value below PTLB_ENTRIES (the top bits of a 64-bit hash).
    let e = unsafe { v.ptlb.get_unchecked(slot) };
    let (pa, info, mem, regime) = if e.va_page == va_page && e.meminfo == meminfo && e.generation == generation && p.fast_path {
        (e.pa_page | (vaddr & 0xfff), e.info, e.mem, e.regime)
    } else {
        match translate_guarded(p, v, slot, generation, meminfo, vaddr) {
            Some(t) => t,
            None => return,
        }
    };
    if regime != v.current_regime {
        p.ensure_regime(v, regime);
    }
    p.push(v, Record { a: pa, b: vaddr, pc: insn.pc, insn: insn.id, seq: 0, kind: RecordKind::Access as u8, info, mem });
}

/// The miss path inside the panic guard, out of line so that the hit path keeps its registers.
#[cold]
#[inline(never)]
fn translate_guarded(
    p: &Plugin,
    v: &mut Vcpu,
    slot: usize,
    generation: u32,
    meminfo: qemu_plugin_meminfo_t,
    vaddr: u64,
) -> Option<(u64, u8, u16, u64)> {
    crate::guard("memory callback", None, || unsafe { translate_access(p, v, slot, generation, meminfo, vaddr) })
}

/// The hot path's miss: ask QEMU, classify, remember. Also every access when the fast path is off
/// (physical filters, tlb=off, tlb=verify). `None`: not recorded (filtered out, or no TLB entry).
#[cold]
unsafe fn translate_access(
    p: &Plugin,
    v: &mut Vcpu,
    slot: usize,
    generation: u32,
    meminfo: qemu_plugin_meminfo_t,
    vaddr: u64,
) -> Option<(u64, u8, u16, u64)> {
    let mut pa = 0u64;
    let raw = unsafe { (p.ext.mem_lookup)(meminfo, vaddr, &mut pa) };
    if raw == 0 {
        v.dropped += 1;
        return None;
    }
    let shift = unsafe { qemu_plugin_mem_size_shift(meminfo) } as u8;
    let store = unsafe { qemu_plugin_mem_is_store(meminfo) };
    let (mem, regime) = v.classify(raw, false);
    let mut info = Record::access(0, 0, 0, 0, shift, store, mem).info;
    if raw & ATTRS_MMIO != 0 {
        info |= MMIO_BIT;
    }
    let fresh = PtlbEntry { va_page: vaddr >> 12, meminfo, generation, pa_page: pa & !0xfff, regime, info, mem: mem.to_bits() };
    let e = &mut v.ptlb[slot];
    if p.opts.tlb == TlbMode::Verify
        && e.va_page == fresh.va_page
        && e.meminfo == meminfo
        && e.generation == generation
        && (e.pa_page, e.info, e.mem, e.regime) != (fresh.pa_page, fresh.info, fresh.mem, fresh.regime)
    {
        v.ptlb_mismatches += 1;
    }
    *e = fresh;
    if p.filtered_out(pa) {
        return None;
    }
    Some((pa, info, fresh.mem, regime))
}

/// Maintenance, MSR and marker instructions, before they execute (QEMU calls instruction callbacks first).
unsafe extern "C" fn on_system_insn(vcpu_index: c_uint, udata: *mut c_void) {
    crate::guard("system instruction callback", (), || {
        if !ACTIVE.load(Ordering::Relaxed) {
            return;
        }
        let Some(p) = plugin() else { return };
        let Some(v) = p.vcpu(vcpu_index) else { return };
        let Some(Ok(regs)) = p.regs.get() else { return };
        // SAFETY: udata is the interned InsnInfo.
        let insn = unsafe { &*(udata as *const InsnInfo) };
        let Some(mut rb) = v.regbuf.take() else { return };
        let x = |rb: &mut RegBuf, n: u8| if n >= 31 { Some(0) } else { rb.read(regs.x[n as usize]) };
        // Reading a register goes through QEMU's gdbstub: only MSR and markers need the EL.
        let el_now = |rb: &mut RegBuf| rb.read(regs.cpsr).map(|c| ((c >> 2) & 3) as u8).unwrap_or(1);
        match insn.decoded {
            Some(Decoded::Msr { reg, el12, rt }) => {
                let el = el_now(&mut rb);
                if let (Some(target), Some(val)) = (decode::msr_target(reg, el12, el, v.tracked.ctl.hcr_el2), x(&mut rb, rt)) {
                    let regime = v.tracked.regime_at_el(el).pack();
                    p.ensure_regime(v, regime);
                    v.set_reg(target, val);
                    invalidate_translations();
                    let rec = Record { kind: RecordKind::SysReg as u8, a: val, pc: insn.pc, insn: insn.id, info: target.code(), ..Default::default() };
                    p.push(v, rec);
                }
            }
            Some(Decoded::Maintenance { op, rt }) => {
                let operand = x(&mut rb, rt).unwrap_or(0);
                // The regime: the translation's for operations by VA (below), else the vCPU's current one.
                let (a, mem) = match op {
                    CacheOp::Tlbi(code) => {
                        invalidate_translations();
                        (code as u64, MemType::UNKNOWN)
                    }
                    op if op.is_by_va() => {
                        // SAFETY: plugin API call from a vCPU callback.
                        let h = unsafe { (p.ext.probe_vaddr)(operand) };
                        if h.is_null() {
                            (NO_PA, MemType::UNKNOWN)
                        } else {
                            let pa = unsafe { qemu_plugin_hwaddr_phys_addr(h) };
                            let raw = unsafe { (p.ext.arm_attrs)(h) };
                            let (mem, regime) = v.classify(raw, op == CacheOp::IcIvau);
                            p.ensure_regime(v, regime);
                            (pa, mem)
                        }
                    }
                    _ => (0, MemType::UNKNOWN),
                };
                if a == NO_PA || !op.is_by_va() || !p.filtered_out(a) {
                    let rec = Record {
                        kind: RecordKind::Maintenance as u8,
                        a,
                        b: operand,
                        pc: insn.pc,
                        insn: insn.id,
                        info: op.code(),
                        mem: mem.to_bits(),
                        ..Default::default()
                    };
                    p.push(v, rec);
                }
            }
            Some(Decoded::Marker(kind)) => {
                let el = el_now(&mut rb);
                let mut args = [x(&mut rb, 0).unwrap_or(0), x(&mut rb, 1).unwrap_or(0), x(&mut rb, 2).unwrap_or(0)];
                let mut name = [0u8; MARKER_NAME_LEN];
                if matches!(kind, MarkerKind::NameRange | MarkerKind::Suppress) {
                    // Ranges are given by VA; the model works on physical lines.
                    // SAFETY: plugin API call from a vCPU callback.
                    let h = unsafe { (p.ext.probe_vaddr)(args[1]) };
                    if !h.is_null() {
                        args[1] = unsafe { qemu_plugin_hwaddr_phys_addr(h) };
                    }
                }
                if kind == MarkerKind::NameRange {
                    name = read_name(args[0]);
                }
                let regime = v.tracked.regime_at_el(el).pack();
                p.ensure_regime(v, regime);
                let m = Marker { vcpu: v.index, pc: insn.pc, kind, args, name };
                // A marker and its argument records go in one chunk (readers take the arguments from it).
                if v.len + 5 > v.buf.len() {
                    p.flush(v);
                }
                for r in marker_records(&m, insn.id) {
                    p.push(v, r);
                }
                if matches!(kind, MarkerKind::End | MarkerKind::Check) && p.opts.model == ModelMode::Online {
                    // The verdict must come before the guest moves on to its next test case.
                    p.flush(v);
                    let (tx, rx) = crossbeam_channel::bounded(1);
                    if p.sink.tx.send(Msg::Sync(tx)).is_ok() {
                        let _ = rx.recv();
                    }
                }
            }
            _ => {}
        }
        v.regbuf = Some(rb);
    })
}

/// Reads a marker's NUL-terminated range name from guest memory (at most MARKER_NAME_LEN bytes).
fn read_name(va: u64) -> [u8; MARKER_NAME_LEN] {
    let mut name = [0u8; MARKER_NAME_LEN];
    // Do not read across the page end: the next page may be unmapped.
    let len = (MARKER_NAME_LEN as u64).min(0x1000 - (va & 0xfff)) as usize;
    if let Some(bytes) = crate::qemu::read_guest(va, len) {
        let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
        name[..end].copy_from_slice(&bytes[..end]);
    }
    name
}

unsafe extern "C" fn on_exit(_id: qemu_plugin_id_t, _udata: *mut c_void) {
    crate::guard("exit", (), finish)
}

/// Flushes every vCPU buffer, finalizes the trace and waits for the writer.
fn finish() {
    if FINISHED.swap(true, Ordering::SeqCst) {
        return;
    }
    let Some(p) = plugin() else { return };
    let was_active = ACTIVE.swap(false, Ordering::SeqCst);
    if p.multi && was_active {
        // QEMU can exit from one vCPU's thread (semihosting) while others still run: they now return at
        // once from callbacks; give any callback already past that check time to finish its record.
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut dropped = 0;
    let mut mismatches = 0;
    for i in 0..p.vcpus.len() {
        if let Some(v) = p.vcpu(i as c_uint) {
            dropped += v.dropped;
            mismatches += v.ptlb_mismatches;
            p.flush(v);
        }
    }
    if p.opts.tlb == TlbMode::Verify {
        eprintln!("cohtrace: tlb=verify: {mismatches} translation cache mismatches");
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
