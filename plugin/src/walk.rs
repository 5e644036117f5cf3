//! Table-walk reports (qemu-patches/0003): each descriptor the MMU reads for a TLB fill or an AT
//! instruction, and each hardware update of one, becomes a Walk record with the walk's own memory type.
//! QEMU calls this on the vCPU's thread from inside the fill, never from inside another callback of ours
//! (the plugin's own probes are muted by the patch).

use crate::qemu_abi::{ArmWalk, WALK_FLAG_UPDATE};
use crate::state::{Plugin, plugin};
use crate::vcpu::Vcpu;
use cohtrace_analyzer::event::{Walk, WalkCause};
use cohtrace_analyzer::trace::Record;
use std::ffi::c_uint;

pub unsafe extern "C" fn on_walk(vcpu_index: c_uint, walk: *const ArmWalk) {
    // Like the access hot path (bench-mix walks on nearly every step), this path is written not to panic
    // (no fallible indexing, no unwrap) instead of paying for a panic guard on every descriptor.
    let Some(p) = plugin() else { return };
    if walk.is_null() {
        return;
    }
    // SAFETY: QEMU passes a report valid for the duration of the call.
    let w = unsafe { *walk };
    p.enter(vcpu_index, |v| record_walk(p, v, &w));
}

#[inline(always)]
fn record_walk(p: &Plugin, v: &mut Vcpu, w: &ArmWalk) -> Option<()> {
    if p.filtered_out(w.desc_pa) {
        return None;
    }
    let (mem, regime) = v.classify_walk(w)?;
    if regime != v.current_regime {
        p.ensure_regime(v, regime);
    }
    let record = Record::walk(&Walk {
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
    });
    p.push(v, record);
    Some(())
}
