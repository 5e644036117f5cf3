//! Stock-API mode: a QEMU without qemu-patches/ (plugin API v5 with QEMU 10.2's discontinuity callbacks).
//! The PA comes from the stock plugin API, the memory type from the plugin's own table walk (own_walk.rs,
//! `analyzer::vmsa`) under the registers it tracks from MSR decoding, and the EL from exception entry (a
//! discontinuity callback reads CPSR) and ERET (SPSR of the EL it leaves tells the EL it returns to); every
//! system-instruction callback, which reads registers anyway, and the first block a vCPU runs read CPSR too.

use crate::qemu::{RegBuf, RegHandles};
use crate::state::{PTLB_GENERATION, Plugin, plugin};
use std::sync::atomic::Ordering;
use crate::vcpu::{Vcpu, WALK_CACHE_ENTRIES, WalkCacheEntry};
use cohtrace_analyzer::memtype::MemType;
use qemu_plugin_sys::{qemu_info_t, qemu_plugin_id_t};
use std::ffi::{c_int, c_uint, c_void};

/// What only the patches let the plugin see, said at start in stock mode.
pub const NOT_SEEN: &str = "the MMU's table-walk reads (qemu-patches/0003: no walk hazards), FEAT_MOPS \
SET*/CPY* and DC ZVA stores (0004: written unseen), device DMA (0007: no DMA hazards), the AttrIndx of \
QEMU's TLB entries (0006: pending-MAIR windows are judged from the registers only) and DCZID; memory types \
come from the plugin's own walk of the guest's tables, the EL from exception entry and ERET";

type DisconCb = unsafe extern "C" fn(qemu_plugin_id_t, c_uint, c_int, u64, u64);
type RegisterDisconFn = unsafe extern "C" fn(qemu_plugin_id_t, c_int, Option<DisconCb>);
/// QEMU_PLUGIN_DISCON_ALL: interrupts, exceptions and host calls.
const DISCON_ALL: c_int = -1;

/// Checks that this QEMU offers what stock mode needs and registers the exception-entry callback. `why`
/// is the reason the patched path is unavailable, repeated in a refusal.
pub fn install(id: qemu_plugin_id_t, info: &qemu_info_t, why: &str) -> Result<(), String> {
    let register = stock_api(info, why)?;
    // SAFETY: the stock API function of QEMU 10.2's include/qemu/qemu-plugin.h, with that signature.
    unsafe {
        let register = std::mem::transmute::<*mut c_void, RegisterDisconFn>(register);
        register(id, DISCON_ALL, Some(on_discon));
    }
    Ok(())
}

/// QEMU's discontinuity-callback registration, or the refusal.
fn stock_api(info: &qemu_info_t, why: &str) -> Result<*mut c_void, String> {
    // SAFETY: dlsym with a valid C string; RTLD_DEFAULT searches QEMU's exported plugin API.
    let register = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"qemu_plugin_register_vcpu_discon_cb".as_ptr()) };
    if info.version.cur < 5 || register.is_null() {
        return Err(format!(
            "{why} Nor does it offer the stock plugin API cohtrace can run on without them (API v5 with \
             qemu_plugin_register_vcpu_discon_cb, QEMU 10.2 or later; this QEMU has API v{}).",
            info.version.cur
        ));
    }
    Ok(register)
}

/// Exception entry, interrupt or host call: CPSR says the EL now (registers are readable here).
unsafe extern "C" fn on_discon(_id: qemu_plugin_id_t, vcpu_index: c_uint, _kind: c_int, _from: u64, _to: u64) {
    crate::state::guard("discontinuity callback", (), || {
        let Some(p) = plugin() else { return };
        let Some(Ok(regs)) = p.regs.get() else { return };
        p.enter(vcpu_index, |v| {
            learn_el(v, regs);
            v.context_synchronized();
            Some(())
        });
    })
}

/// A block translated while its vCPU's EL was not yet known starts running: CPSR says it. Blocks
/// translated later carry no such callback; this one returns at once when the EL is known.
pub unsafe extern "C" fn on_tb_exec_learn_el(vcpu_index: c_uint, _udata: *mut c_void) {
    crate::state::guard("block callback", (), || {
        let Some(p) = plugin() else { return };
        let Some(Ok(regs)) = p.regs.get() else { return };
        p.enter(vcpu_index, |v| {
            if !v.el_known {
                learn_el(v, regs);
            }
            Some(())
        });
    })
}

/// Reads the vCPU's EL from CPSR (in a callback that may read registers).
pub fn learn_el(v: &mut Vcpu, regs: &RegHandles) {
    if let Some(cpsr) = v.regbuf.as_mut().and_then(|rb| rb.read(regs.cpsr)) {
        v.el = ((cpsr >> 2) & 3) as u8;
        v.el_known = true;
    }
}

/// Before an ERET at the vCPU's EL: SPSR_ELx.M[3:2] is the EL it returns to (M[4] set: AArch32, which
/// cohtrace does not model; the EL is left as it is).
pub fn eret(v: &mut Vcpu, regs: &RegHandles, rb: &mut RegBuf) {
    let reg = regs.spsr.get(v.el as usize).copied().unwrap_or(std::ptr::null_mut());
    if let Some(spsr) = rb.read(reg)
        && spsr & 0x10 == 0
    {
        v.el = ((spsr >> 2) & 3) as u8;
    }
}

/// The PA of `va` for the current vCPU, without faulting, and the patched QEMU's attribute word for it (0
/// in stock mode, where the type comes from `classify`): the patch's TLB probe, or the stock
/// `qemu_plugin_translate_vaddr` (a debug walk in QEMU, fine for what runs once per translated page or
/// marker). Valid in vCPU callbacks.
pub fn probe_va(p: &Plugin, va: u64) -> Option<(u64, u64)> {
    match p.ext {
        Some(ext) => {
            // SAFETY: the patch's functions, called from a vCPU callback; the handle is used at once.
            let h = unsafe { (ext.probe_vaddr)(va) };
            (!h.is_null()).then(|| unsafe { (qemu_plugin_sys::qemu_plugin_hwaddr_phys_addr(h), (ext.arm_attrs)(h)) })
        }
        None => {
            let mut pa = 0u64;
            // SAFETY: plugin API call from a vCPU callback with a valid out pointer.
            unsafe { qemu_plugin_sys::qemu_plugin_translate_vaddr(va, &mut pa) }.then_some((pa, 0))
        }
    }
}

/// The effective memory type and packed regime of an access to `va` at the vCPU's EL, from the plugin's
/// own walk. A walk that fails (no translation where QEMU found one: a walker gap) gives an unknown type,
/// which the model ignores, and is counted.
pub fn classify(v: &mut Vcpu, va: u64, fetch: bool) -> (MemType, u64) {
    let (_, mem, regime) = lookup(v, va, fetch);
    (mem, regime)
}

/// `classify` with the PA the own walk found (`None` when it found none). Operations by VA (DC, IC)
/// take their PA from here: `probe_va`'s `qemu_plugin_translate_vaddr` walks the tables on every call, which on
/// bench-mix's 11.5 M DC CVAC/CIVAC doubled the capture time.
pub fn lookup(v: &mut Vcpu, va: u64, fetch: bool) -> (Option<u64>, MemType, u64) {
    let regime = v.tracked.regime_at_el(v.el);
    // The walk cache: the same page in the same regime, with nothing invalidated since (PTLB_GENERATION
    // moves with every TLBI and translation-register write, as for the translation cache).
    let generation = PTLB_GENERATION.load(Ordering::Relaxed);
    let key = (va >> 12) << 3 | (regime.kind as u64) << 1 | fetch as u64;
    let slot = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - WALK_CACHE_ENTRIES.trailing_zeros())) as usize;
    if let Some(e) = v.stock_walk_cache.get(slot)
        && e.key == key
        && e.generation == generation
    {
        return (Some(e.pa_page | (va & 0xfff)), MemType::from_bits(e.mem), regime.pack());
    }
    let (pa, mem) = match crate::own_walk::translate(v, regime.kind, va, fetch) {
        Some(Ok((walk, mem))) => {
            if let Some(e) = v.stock_walk_cache.get_mut(slot) {
                *e = WalkCacheEntry { key, generation, mem: mem.to_bits(), pa_page: walk.pa & !0xfff };
            }
            (Some(walk.pa), mem)
        }
        other => {
            v.own_walk_failures += 1;
            if v.own_walk_failures <= 5 {
                eprintln!("cohtrace: stock mode: vCPU {} EL{} {:?} va {va:#x}: no memory type ({other:?})", v.index, v.el, regime.kind);
            }
            (None, MemType::UNKNOWN)
        }
    };
    (pa, mem, regime.pack())
}

/// At exit, in stock mode: how many accesses the own walk could not type.
pub fn report(p: &Plugin, failures: u64) {
    if p.ext.is_none() && failures > 0 {
        eprintln!("cohtrace: stock mode: {failures} accesses had no memory type (the own walk found no translation)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qemu_without_the_patches_or_the_stock_api_is_refused_with_both_reasons() {
        // The test process is not QEMU: no discontinuity API, as in a QEMU before 10.2.
        // SAFETY: qemu_info_t is plain data; all-zero is a valid value for it.
        let mut info: qemu_info_t = unsafe { std::mem::zeroed() };
        info.version.cur = 4;
        let e = stock_api(&info, "this QEMU lacks cohtrace's attribute API.").unwrap_err();
        assert!(e.starts_with("this QEMU lacks cohtrace's attribute API."), "{e}");
        assert!(e.contains("API v5") && e.contains("qemu_plugin_register_vcpu_discon_cb") && e.contains("API v4"), "{e}");
    }
}
