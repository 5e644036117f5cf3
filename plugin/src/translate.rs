//! Translation time: intern each instruction, register the memory callback on every one and the
//! system-instruction callback on those the decoder recognises, and record the block's instruction fetches.

use crate::decode::Decoded;
use crate::state::{InsnInfo, Plugin, THREAD_VCPU, plugin};
use cohtrace_analyzer::trace::codes::NO_PA;
use cohtrace_analyzer::trace::{Record, RecordKind};
use qemu_plugin_sys::*;
use std::ffi::c_void;
use std::sync::atomic::Ordering;

pub unsafe extern "C" fn on_tb_trans(_id: qemu_plugin_id_t, tb: *mut qemu_plugin_tb) {
    crate::state::guard("tb_trans", (), || {
        let Some(p) = plugin() else { return };
        if !crate::state::ACTIVE.load(Ordering::Relaxed) {
            return;
        }
        // SAFETY: `tb` is valid during this callback; instruction handles too.
        unsafe { translate(p, tb) }
    })
}

/// One fetch record per physical line of the block: (line, first instruction in it, TLB attributes, PA of
/// the last instruction in it).
type LineFetch = (u64, &'static InsnInfo, u64, u64);

unsafe fn translate(p: &Plugin, tb: *mut qemu_plugin_tb) {
    let line_mask = !(p.opts.line as u64 - 1);
    let n = unsafe { qemu_plugin_tb_n_insns(tb) };
    // Instruction fetch, one event per physical line the block covers, at translation: QEMU translates
    // a block again whenever its code is written, so the first fetch after a change is never missed.
    let mut page_va = u64::MAX;
    let mut page_pa = NO_PA;
    let mut page_raw = 0u64;
    let mut last_line = u64::MAX;
    let mut fetches: Vec<LineFetch> = Vec::new();
    for i in 0..n {
        let insn = unsafe { qemu_plugin_tb_get_insn(tb, i) };
        let pc = unsafe { qemu_plugin_insn_vaddr(insn) };
        let mut bytes = [0u8; 4];
        unsafe { qemu_plugin_insn_data(insn, bytes.as_mut_ptr() as *mut c_void, 4) };
        let info = p.intern(pc, u32::from_le_bytes(bytes));
        register(insn, info);
        if pc & !0xfff != page_va {
            page_va = pc & !0xfff;
            // In stock mode the type comes from the own walk below, by the fetch's VA.
            (page_pa, page_raw) = crate::stock::probe_va(p, page_va).unwrap_or((NO_PA, 0));
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
    let vcpu = THREAD_VCPU.with(|t| t.get());
    p.enter(vcpu, |v| {
        for &(line, info, raw, last_pa) in &fetches {
            if p.filtered_out(line) {
                continue;
            }
            let (mem, regime) = if p.ext.is_some() { v.classify(raw, true) } else { crate::stock::classify(v, info.pc, true) };
            p.ensure_regime(v, regime);
            // The PA of the block's last instruction in the line, with bit 0 set: the bytes fetched run from
            // the first instruction (pc) to that one (event::Fetch).
            let a = (last_pa & !3) | 1;
            let r = Record { kind: RecordKind::Fetch as u8, a, pc: info.pc, insn: info.id, mem: mem.to_bits(), ..Default::default() };
            p.push(v, r);
        }
        if p.ext.is_none() && !v.el_known {
            // Stock mode before this vCPU's EL is known (vcpu_init runs before reset): read it when the
            // block runs (stock.rs).
            // SAFETY: a plain registration of a 'static callback on the block being translated.
            unsafe {
                qemu_plugin_register_vcpu_tb_exec_cb(
                    tb,
                    Some(crate::stock::on_tb_exec_learn_el),
                    qemu_plugin_cb_flags::QEMU_PLUGIN_CB_R_REGS,
                    std::ptr::null_mut(),
                )
            };
        }
        Some(())
    });
}

/// The per-instruction callbacks, each with the interned record as its user data.
fn register(insn: *mut qemu_plugin_insn, info: &'static InsnInfo) {
    let udata = info as *const InsnInfo as *mut c_void;
    // SAFETY: plain registrations of 'static callbacks on a valid instruction handle.
    unsafe {
        let on_mem = if info.decoded == Some(Decoded::AtomicRmw) { crate::access::on_mem_rmw } else { crate::access::on_mem };
        qemu_plugin_register_vcpu_mem_cb(
            insn,
            Some(on_mem),
            qemu_plugin_cb_flags::QEMU_PLUGIN_CB_NO_REGS,
            qemu_plugin_mem_rw::QEMU_PLUGIN_MEM_RW,
            udata,
        );
        if matches!(
            info.decoded,
            Some(Decoded::Maintenance { .. } | Decoded::Msr { .. } | Decoded::Marker(_) | Decoded::ContextSync)
        ) {
            qemu_plugin_register_vcpu_insn_exec_cb(
                insn,
                Some(crate::sysinsn::on_system_insn),
                qemu_plugin_cb_flags::QEMU_PLUGIN_CB_R_REGS,
                udata,
            );
        }
    }
}
