//! The plugin's own translation (`cohtrace_analyzer::vmsa`) from the tracked registers and guest memory,
//! and `walker=verify`: on every translation the plugin asks the patched QEMU for, the same access walked
//! by the plugin must give the same PA and effective memory type. This is the ground truth the stock-API
//! mode (no qemu-patches/) needs before it may compute attributes itself.

use crate::qemu::RegBuf;
use crate::vcpu::{Tracked, Vcpu};
use cohtrace_analyzer::memtype::{HCR_DC, HCR_E2H, HCR_VM, MemType, SCTLR_M, effective_memtype};
use cohtrace_analyzer::regime::RegimeKind;
use cohtrace_analyzer::vmsa::{PhysMem, Stage1, Stage2, Walk, WalkError, walk};

/// Guest physical memory through `qemu_plugin_read_memory_hwaddr` (the vCPU's address space).
struct GuestPhys<'a>(&'a mut RegBuf);

impl PhysMem for GuestPhys<'_> {
    fn read_u64(&mut self, pa: u64) -> Option<u64> {
        self.0.read_phys_u64(pa)
    }
}

/// The stages that translate an access of regime `kind` under the registers `t` (Arm ARM D8.1): stage 1
/// unless SCTLR_ELx.M is clear (or HCR_EL2.DC, for EL1&0), stage 2 for EL1&0 when HCR_EL2.VM or DC is set.
/// `None` for EL3, whose registers are not tracked.
pub fn stages(t: &Tracked, kind: RegimeKind) -> Option<(Option<Stage1>, Option<Stage2>)> {
    let hcr = t.ctl.hcr_el2;
    Some(match kind {
        RegimeKind::El10 => {
            let s1_on = t.ctl.sctlr_el1 & SCTLR_M != 0 && hcr & HCR_DC == 0;
            let s1 = Stage1 { ttbr: [t.ttbr0_el1, t.ttbr1_el1], tcr: t.tcr_el1, mair: t.mair_el1, two_ranges: true };
            let s2 = Stage2 { vttbr: t.vttbr_el2, vtcr: t.vtcr_el2 };
            (s1_on.then_some(s1), (hcr & (HCR_VM | HCR_DC) != 0).then_some(s2))
        }
        RegimeKind::El20 | RegimeKind::El2 => {
            let s1 = Stage1 {
                ttbr: [t.ttbr0_el2, t.ttbr1_el2],
                tcr: t.tcr_el2,
                mair: t.mair_el2,
                two_ranges: kind == RegimeKind::El20 && hcr & HCR_E2H != 0,
            };
            ((t.ctl.sctlr_el2 & SCTLR_M != 0).then_some(s1), None)
        }
        RegimeKind::El3 => return None,
    })
}

/// What the plugin's own walk says about an access at `va` in regime `kind`: PA and effective type.
pub fn translate(v: &mut Vcpu, kind: RegimeKind, va: u64, fetch: bool) -> Option<Result<(Walk, MemType), WalkError>> {
    let (s1, s2) = stages(&v.tracked, kind)?;
    let ctl = v.tracked.ctl;
    let rb = v.physbuf.as_mut()?;
    Some(walk(va, s1.as_ref(), s2.as_ref(), &mut GuestPhys(rb)).map(|w| {
        let mem = effective_memtype(&w.translation, &ctl, kind, fetch);
        (w, mem)
    }))
}

/// Disagreements printed in full; the rest are counted.
const SHOWN: u64 = 20;

/// Compares the plugin's walk of an access with what the patched QEMU said (`pa`, `mem`).
#[cold]
pub fn verify(v: &mut Vcpu, kind: RegimeKind, el: u8, va: u64, pa: u64, mem: MemType, pc: u64) {
    if v.pending.is_some() {
        v.verify.skipped += 1;
        return;
    }
    let Some(own) = translate(v, kind, va, false) else {
        v.verify.skipped += 1;
        return;
    };
    v.verify.compared += 1;
    let agrees = matches!(own, Ok((w, m)) if w.pa == pa && m == mem);
    if agrees {
        return;
    }
    v.verify.disagreements += 1;
    if v.verify.disagreements <= SHOWN {
        let own = match own {
            Ok((w, m)) => format!("pa {:#x} {m} ({:?})", w.pa, w.translation),
            Err(e) => format!("{e:?}"),
        };
        eprintln!(
            "cohtrace: walker=verify: vCPU {} {kind:?} EL{el} pc {pc:#x} va {va:#x}: QEMU pa {pa:#x} {mem}, own walk {own}",
            v.index
        );
    }
}
