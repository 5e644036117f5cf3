//! Table-walk reports (qemu-patches/0003): each descriptor the MMU reads for a TLB fill or an AT
//! instruction, and each hardware update of one, becomes a Walk record with the walk's own memory type.
//! QEMU calls this on the vCPU's thread from inside the fill, never from inside another callback of ours
//! (the plugin's own probes are muted by the patch).

use crate::qemu_abi::{ArmWalk, WALK_FLAG_S2, WALK_FLAG_UPDATE, regime_of_mmu_idx};
use crate::state::{Plugin, guard, plugin};
use crate::vcpu::Vcpu;
use cohtrace_analyzer::event::{Walk, WalkCause};
use cohtrace_analyzer::memtype::walk_memtype;
use cohtrace_analyzer::trace::Record;
use std::ffi::c_uint;

pub unsafe extern "C" fn on_walk(vcpu_index: c_uint, walk: *const ArmWalk) {
    let Some(p) = plugin() else { return };
    if walk.is_null() {
        return;
    }
    // SAFETY: QEMU passes a report valid for the duration of the call.
    let w = unsafe { *walk };
    p.enter(vcpu_index, |v| guard("walk callback", None, || record_walk(p, v, &w)));
}

fn record_walk(p: &Plugin, v: &mut Vcpu, w: &ArmWalk) -> Option<()> {
    if p.filtered_out(w.desc_pa) {
        return None;
    }
    let (kind, el) = regime_of_mmu_idx(w.mmu_idx)?;
    let s2 = (w.flags & WALK_FLAG_S2 != 0).then_some(w.s2_memattr & 0xf);
    let mem = walk_memtype(w.tcr_attrs, s2, w.stage, &v.tracked.ctl, kind);
    p.ensure_regime(v, v.tracked.regime(kind, el).pack());
    let walk = Walk {
        vcpu: v.index,
        pc: w.pc,
        va: w.va,
        pa: w.desc_pa,
        size: w.size as u32,
        stage: w.stage,
        level: w.level,
        update: w.flags & WALK_FLAG_UPDATE != 0,
        cause: WalkCause::from_code(w.cause),
        mem,
    };
    p.push(v, Record::walk(&walk));
    Some(())
}
