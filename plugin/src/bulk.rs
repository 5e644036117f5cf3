//! Bulk reports (qemu-patches/0004): ranges QEMU's Arm helpers read or write through host pointers, with
//! no memory callback — each FEAT_MOPS SET*/CPY* step and each DC ZVA / DC GZVA / STZGM block. Each
//! becomes one Bulk record with the range's own memory type and regime: the cost grows with steps, not
//! bytes. QEMU calls this on the vCPU's thread right after the helper's memset or memmove.

use crate::qemu_abi::{ArmBulk, BULK_OP_CPY, BULK_OP_SET, BULK_OP_ZVA};
use crate::state::{Plugin, plugin};
use crate::vcpu::Vcpu;
use cohtrace_analyzer::event::{Bulk, BulkOp};
use cohtrace_analyzer::trace::Record;
use cohtrace_analyzer::trace::record::range_pieces;
use std::ffi::c_uint;

pub unsafe extern "C" fn on_bulk(vcpu_index: c_uint, bulk: *const ArmBulk) {
    let Some(p) = plugin() else { return };
    if bulk.is_null() {
        return;
    }
    // SAFETY: QEMU passes a report valid for the duration of the call.
    let b = unsafe { *bulk };
    // One call per step (at most a page): cheap enough for the panic guard.
    crate::state::guard("bulk callback", (), || {
        p.enter(vcpu_index, |v| record_bulk(p, v, &b));
    });
}

fn record_bulk(p: &Plugin, v: &mut Vcpu, b: &ArmBulk) -> Option<()> {
    let op = match b.op {
        BULK_OP_SET => BulkOp::Set,
        BULK_OP_CPY => BulkOp::Copy,
        BULK_OP_ZVA => BulkOp::Zero,
        _ => return None,
    };
    if b.len == 0 || p.filtered_out(b.pa) {
        return None;
    }
    let (mem, regime) = v.classify(b.attrs, false);
    p.ensure_regime(v, regime);
    // A step stays within one page (64 KB at most), so this is one record; a longer report would be split
    // at the format's bound, not truncated.
    for (at, len) in range_pieces(b.len) {
        let record = Record::bulk(&Bulk {
            vcpu: v.index,
            pc: b.pc,
            va: b.va.wrapping_add(at),
            pa: b.pa.wrapping_add(at),
            len,
            op,
            store: b.is_store != 0,
            mem,
        });
        p.push(v, record);
    }
    Some(())
}
