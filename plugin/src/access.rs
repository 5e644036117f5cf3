//! The hot path: one call per guest data access. A translation-cache hit, a one-entry type cache compare
//! and a store into the vCPU's buffer; no lock, no allocation, no syscall (ARCHITECTURE.md, Invariants).

use crate::options::{TlbMode, WalkerMode};
use crate::qemu_abi::ATTRS_MMIO;
use crate::state::{InsnInfo, PTLB_GENERATION, Plugin, plugin};
use crate::vcpu::{PtlbEntry, Vcpu, ptlb_index};
use cohtrace_analyzer::trace::codes::{INFO_MMIO, INFO_STORE};
use cohtrace_analyzer::event::PendingType;
use cohtrace_analyzer::trace::{Record, RecordKind};
use qemu_plugin_sys::*;
use std::ffi::{c_uint, c_void};
use std::sync::atomic::Ordering;

pub unsafe extern "C" fn on_mem(vcpu_index: c_uint, meminfo: qemu_plugin_meminfo_t, vaddr: u64, udata: *mut c_void) {
    // The hit path cannot panic (no fallible indexing, no unwrap, wrapping arithmetic); the miss path runs
    // inside `guard`. Wrapping the whole hot path in catch_unwind cost 30% of the capture time. (Were the
    // hit path to panic anyway, Rust aborts the process rather than unwind out of an extern "C" function.)
    let Some(p) = plugin() else { return };
    // SAFETY: udata is the interned InsnInfo registered with this callback.
    let insn = unsafe { &*(udata as *const InsnInfo) };
    p.enter(vcpu_index, |v| record_access(p, v, insn, meminfo, vaddr));
}

/// An atomic read-modify-write. In a parallel TB (MTTCG, more than one vCPU) QEMU performs it as one host
/// atomic with one callback, marked a write: that stands for a read and a write of the same bytes,
/// recorded in that order so that the model judges both (docs/model.md, "Accesses QEMU performs without
/// telling plugins"). Otherwise QEMU emits a load and a store, each with its callback: the store then
/// follows the instruction's own load in the buffer and needs no read of its own.
pub unsafe extern "C" fn on_mem_rmw(vcpu_index: c_uint, meminfo: qemu_plugin_meminfo_t, vaddr: u64, udata: *mut c_void) {
    let Some(p) = plugin() else { return };
    // SAFETY: as in on_mem.
    let insn = unsafe { &*(udata as *const InsnInfo) };
    p.enter(vcpu_index, |v| {
        let r = access_record(p, v, insn, meminfo, vaddr)?;
        let read = Record { info: r.info & !INFO_STORE, ..r };
        let read_done = v.len.checked_sub(1).and_then(|i| v.buf.get(i)).is_some_and(|prev| {
            prev.kind == RecordKind::Access as u8 && prev.pc == r.pc && prev.a == r.a && prev.info == read.info
        });
        if r.info & INFO_STORE != 0 && !read_done {
            p.push(v, read);
        }
        p.push(v, r);
        Some(())
    });
}

#[inline(always)]
fn record_access(p: &Plugin, v: &mut Vcpu, insn: &InsnInfo, meminfo: qemu_plugin_meminfo_t, vaddr: u64) -> Option<()> {
    let r = access_record(p, v, insn, meminfo, vaddr)?;
    p.push(v, r);
    Some(())
}

/// The access's record (after the regime record, if the regime changed).
#[inline(always)]
fn access_record(p: &Plugin, v: &mut Vcpu, insn: &InsnInfo, meminfo: qemu_plugin_meminfo_t, vaddr: u64) -> Option<Record> {
    let va_page = vaddr >> 12;
    let slot = ptlb_index(va_page, meminfo);
    let generation = PTLB_GENERATION.load(Ordering::Relaxed);
    // SAFETY: ptlb_index returns a value below PTLB_ENTRIES (the top bits of a 64-bit hash).
    let e = unsafe { v.ptlb.get_unchecked(slot) };
    let (pa, info, mem, regime) = if e.va_page == va_page && e.meminfo == meminfo && e.generation == generation && p.fast_path {
        (e.pa_page | (vaddr & 0xfff), e.info, e.mem, e.regime)
    } else {
        translate_guarded(p, v, Miss { slot, generation, meminfo, vaddr, pc: insn.pc })?
    };
    if regime != v.current_regime {
        p.ensure_regime(v, regime);
    }
    Some(Record { a: pa, b: vaddr, pc: insn.pc, insn: insn.id, seq: 0, kind: RecordKind::Access as u8, info, mem })
}

/// A translation-cache miss: the access and the slot it goes into.
#[derive(Clone, Copy)]
struct Miss {
    slot: usize,
    generation: u32,
    meminfo: qemu_plugin_meminfo_t,
    vaddr: u64,
    pc: u64,
}

/// The miss path inside the panic guard, out of line so that the hit path keeps its registers.
#[cold]
#[inline(never)]
fn translate_guarded(p: &Plugin, v: &mut Vcpu, miss: Miss) -> Option<(u64, u8, u16, u64)> {
    crate::state::guard("memory callback", None, || unsafe { translate_access(p, v, miss) })
}

/// The hot path's miss: ask QEMU, classify, remember. Also every access when the fast path is off
/// (physical filters, tlb=off, tlb=verify). `None`: not recorded (filtered out, or no TLB entry).
#[cold]
unsafe fn translate_access(p: &Plugin, v: &mut Vcpu, miss: Miss) -> Option<(u64, u8, u16, u64)> {
    let Miss { slot, generation, meminfo, vaddr, .. } = miss;
    // `raw`: the patched QEMU's attribute word (0 in stock mode).
    let (pa, raw, mmio, mem, regime) = match p.ext {
        Some(ext) => {
            let mut pa = 0u64;
            let raw = unsafe { (ext.mem_lookup)(meminfo, vaddr, &mut pa) };
            if raw == 0 {
                v.dropped += 1;
                return None;
            }
            let (mem, regime) = v.classify(raw, false);
            if p.opts.walker == WalkerMode::Verify
                && let Some((kind, el)) =
                    crate::qemu_abi::TlbAttrs::decode(raw).and_then(|t| crate::qemu_abi::regime_of_mmu_idx(t.mmu_idx))
            {
                crate::own_walk::verify(v, kind, el, vaddr, pa, mem, miss.pc);
            }
            (pa, raw, raw & ATTRS_MMIO != 0, mem, regime)
        }
        None => {
            // SAFETY: stock plugin API calls in the memory callback the handle belongs to.
            let h = unsafe { qemu_plugin_get_hwaddr(meminfo, vaddr) };
            if h.is_null() {
                v.dropped += 1;
                return None;
            }
            let (pa, mmio) = unsafe { (qemu_plugin_hwaddr_phys_addr(h), qemu_plugin_hwaddr_is_io(h)) };
            let (mem, regime) = crate::stock::classify(v, vaddr, false);
            (pa, 0, mmio, mem, regime)
        }
    };
    let shift = unsafe { qemu_plugin_mem_size_shift(meminfo) } as u8;
    let store = unsafe { qemu_plugin_mem_is_store(meminfo) };
    let mut info = Record::access(0, 0, 0, 0, shift, store, mem).info;
    if mmio {
        info |= INFO_MMIO;
    }
    let fresh = PtlbEntry { va_page: vaddr >> 12, meminfo, generation, pa_page: pa & !0xfff, regime, info, mem: mem.to_bits() };
    // While a memory-type write is not yet synchronized nothing is cached: every access of the window comes
    // here, and one that may have another type says so just before its own record.
    if v.pending.is_none() {
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
    }
    if p.filtered_out(pa) {
        return None;
    }
    if v.pending.is_some() && raw != 0 {
        if let Some((other, w)) = v.other_type(raw, mem) {
            p.ensure_regime(v, regime);
            let tlbi = w.needs_tlbi.is_some();
            p.push(v, Record::pending_type(&PendingType { vcpu: v.index, write_pc: w.pc, reg: w.reg, tlbi, mem: other }));
        }
    }
    Some((pa, info, fresh.mem, regime))
}
