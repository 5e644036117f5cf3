//! A64 decoding of the few instructions cohtrace must see at translation time: cache maintenance (QEMU
//! raises no memory callback for them), TLBI, MSR to the registers that decide memory types and regimes,
//! and the guest marker hint (docs/markers.md). Arm ARM C5.2 (system instruction encodings).

use cohtrace_analyzer::event::{CacheOp, MarkerKind, SysReg};
use cohtrace_analyzer::trace::codes::tlbi_payload;

/// A decoded instruction of interest; everything else is `None` from `decode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A cache or TLB maintenance instruction with its Xt register (31 = XZR).
    Maintenance { op: CacheOp, rt: u8 },
    /// MSR <sysreg>, Xt to a tracked register. `el12` marks the *_EL12 aliases (VHE: they name the EL1
    /// register from EL2); the plain *_EL1 encodings are redirected to EL2 when HCR_EL2.E2H is set at EL2.
    Msr { reg: SysReg, el12: bool, rt: u8 },
    Marker(MarkerKind),
    /// An atomic read-modify-write (LSE LD<op>/ST<op>/SWP, CAS, CASP): QEMU gives it one memory callback
    /// marked as a write; it reads the location as well, and both halves are judged.
    AtomicRmw,
    /// A context synchronization event: ISB, ERET/ERETAA/ERETAB (exception return), SVC/HVC/SMC
    /// (exception entry). Ends the window of an unsynchronized memory-type register write.
    ContextSync,
}

/// Whether `insn` is an A64 atomic read-modify-write (Arm ARM C4.1.94 "Atomic memory operations", and
/// "Compare and swap"): LD<op>, ST<op> (LD<op> to XZR), SWP; CAS/CASA/CASL/CASAL (all sizes); CASP.
pub fn is_atomic_rmw(insn: u32) -> bool {
    // size 111 V=0 00 A R 1 Rs o3 opc 00 Rn Rt; o3=1 opc=100 is LDAPR (a plain load).
    let lse = insn & 0x3f20_0c00 == 0x3820_0000 && (insn >> 12) & 0xf != 0b1100;
    // size 001000 1 L 1 Rs o0 11111 Rn Rt
    let cas = insn & 0x3fa0_7c00 == 0x08a0_7c00;
    // 0 sz 001000 0 L 1 Rs o0 11111 Rn Rt
    let casp = insn & 0xbfa0_7c00 == 0x0820_7c00;
    // FEAT_LSE128 (-cpu max): LDCLRP/LDSETP/SWPP, 0001 1001 A R 1 Rt2 o3 opc 00 Rn Rt (MOPS, also 0x19..,
    // has bit 21 clear).
    let lse128 = insn & 0xff20_0c00 == 0x1920_0000;
    lse || cas || casp || lse128
}

/// HINT #imm immediates of the guest markers: 0x70..=0x74 (Begin, End, NameRange, Suppress, Check).
/// Unallocated hint space executes as NOP on hardware (Arm ARM C6.2.133, HINT).
pub const MARKER_HINT_BASE: u32 = 0x70;

pub fn decode(insn: u32) -> Option<Decoded> {
    if is_atomic_rmw(insn) {
        return Some(Decoded::AtomicRmw);
    }
    // ISB: 1101 0101 0000 0011 0011 CRm 110 11111; ERET 0xd69f03e0, ERETAA/ERETAB 0xd69f0bff/0xd69f0fff;
    // SVC/HVC/SMC: 1101 0100 000 imm16 000 01/10/11.
    let isb = insn & 0xffff_f0ff == 0xd503_30df;
    let eret = is_eret(insn);
    let exception = insn & 0xffe0_001c == 0xd400_0000 && insn & 3 != 0;
    if isb || eret || exception {
        return Some(Decoded::ContextSync);
    }
    // HINT: 1101 0101 0000 0011 0010 CRm:op2 11111
    if insn & 0xffff_f01f == 0xd503_201f {
        // The marker hints are numbered like the trace's marker codes.
        let imm = (insn >> 5) & 0x7f;
        let code = u8::try_from(imm.checked_sub(MARKER_HINT_BASE)?).ok()?;
        return MarkerKind::from_code(code).map(Decoded::Marker);
    }
    let rt = (insn & 0x1f) as u8;
    let op2 = (insn >> 5) & 7;
    let crm = (insn >> 8) & 0xf;
    let crn = (insn >> 12) & 0xf;
    let op1 = (insn >> 16) & 7;
    // SYS: 1101 0101 0000 1 op1 CRn CRm op2 Rt (op0 = 1, L = 0)
    if insn & 0xfff8_0000 == 0xd508_0000 {
        let op = match (op1, crn, crm, op2) {
            (0, 7, 6, 1) | (0, 7, 6, 3) | (0, 7, 6, 5) => CacheOp::DcIvac, // IVAC, IGVAC, IGDVAC
            (0, 7, 6, 2) | (0, 7, 6, 4) | (0, 7, 6, 6) => CacheOp::DcIsw,  // ISW, IGSW, IGDSW
            (0, 7, 10, 2) | (0, 7, 10, 4) | (0, 7, 10, 6) => CacheOp::DcCsw,
            (0, 7, 14, 2) | (0, 7, 14, 4) | (0, 7, 14, 6) => CacheOp::DcCisw,
            // DC ZVA, GVA, GZVA are not decoded: the data block ZVA and GZVA zero comes from QEMU's helper
            // as a bulk record (qemu-patches/0004) with the CPU's own block size; GVA writes only
            // allocation tags, which the model does not track.
            (3, 7, 10, 1) | (3, 7, 10, 3) | (3, 7, 10, 5) => CacheOp::DcCvac,
            (3, 7, 11, 1) => CacheOp::DcCvau,
            (3, 7, 12, 1) | (3, 7, 12, 3) | (3, 7, 12, 5) => CacheOp::DcCvap,
            (3, 7, 13, 1) | (3, 7, 13, 3) | (3, 7, 13, 5) => CacheOp::DcCvadp,
            (3, 7, 14, 1) | (3, 7, 14, 3) | (3, 7, 14, 5) => CacheOp::DcCivac,
            (0, 7, 1, 0) => CacheOp::IcIalluis,
            (0, 7, 5, 0) => CacheOp::IcIallu,
            (3, 7, 5, 1) => CacheOp::IcIvau,
            (_, 8, _, _) | (_, 9, _, _) => CacheOp::Tlbi(tlbi_payload(op1, crn, crm, op2)),
            _ => return None,
        };
        return Some(Decoded::Maintenance { op, rt });
    }
    // MSR (register): 1101 0101 0001 o0 op1 CRn CRm op2 Rt, op0 = 2 + o0; we track op0 = 3.
    if insn & 0xfff8_0000 == 0xd518_0000 {
        let (reg, el12) = match (op1, crn, crm, op2) {
            (0, 1, 0, 0) => (SysReg::SctlrEl1, false),
            (5, 1, 0, 0) => (SysReg::SctlrEl1, true),
            (4, 1, 0, 0) => (SysReg::SctlrEl2, false),
            (4, 1, 1, 0) => (SysReg::HcrEl2, false),
            (0, 2, 0, 0) => (SysReg::Ttbr0El1, false),
            (5, 2, 0, 0) => (SysReg::Ttbr0El1, true),
            (0, 2, 0, 1) => (SysReg::Ttbr1El1, false),
            (5, 2, 0, 1) => (SysReg::Ttbr1El1, true),
            (0, 2, 0, 2) => (SysReg::TcrEl1, false),
            (5, 2, 0, 2) => (SysReg::TcrEl1, true),
            (4, 2, 0, 0) => (SysReg::Ttbr0El2, false),
            (4, 2, 0, 1) => (SysReg::Ttbr1El2, false),
            (4, 2, 0, 2) => (SysReg::TcrEl2, false),
            (4, 2, 1, 0) => (SysReg::VttbrEl2, false),
            (4, 2, 1, 2) => (SysReg::VtcrEl2, false),
            (0, 10, 2, 0) => (SysReg::MairEl1, false),
            (5, 10, 2, 0) => (SysReg::MairEl1, true),
            (4, 10, 2, 0) => (SysReg::MairEl2, false),
            _ => return None,
        };
        return Some(Decoded::Msr { reg, el12, rt });
    }
    None
}

/// The register an MSR really writes: with HCR_EL2.E2H = 1, EL2's *_EL1 encodings reach the EL2 registers
/// and the *_EL12 ones the EL1 registers (Arm ARM D8.1.4, FEAT_VHE register redirection). `None` when the
/// write does not happen at this EL (it traps or is UNDEFINED).
pub fn msr_target(reg: SysReg, el12: bool, el: u8, hcr_el2: u64) -> Option<SysReg> {
    use cohtrace_analyzer::memtype::{HCR_E2H, HCR_TVM};
    let e2h = hcr_el2 & HCR_E2H != 0;
    match el {
        2 => {
            if el12 {
                return e2h.then_some(reg);
            }
            if e2h {
                return Some(match reg {
                    SysReg::SctlrEl1 => SysReg::SctlrEl2,
                    SysReg::Ttbr0El1 => SysReg::Ttbr0El2,
                    SysReg::Ttbr1El1 => SysReg::Ttbr1El2,
                    SysReg::TcrEl1 => SysReg::TcrEl2,
                    SysReg::MairEl1 => SysReg::MairEl2,
                    r => r,
                });
            }
            Some(reg)
        }
        1 => {
            let el1_reg = matches!(
                reg,
                SysReg::SctlrEl1 | SysReg::Ttbr0El1 | SysReg::Ttbr1El1 | SysReg::TcrEl1 | SysReg::MairEl1
            );
            // HCR_EL2.TVM traps EL1 writes of the virtual-memory controls to EL2: the hypervisor writes
            // the register itself later (and we see that MSR).
            (el1_reg && !el12 && hcr_el2 & HCR_TVM == 0).then_some(reg)
        }
        3 => Some(reg),
        _ => None,
    }
}

/// ERET, ERETAA, ERETAB.
pub fn is_eret(insn: u32) -> bool {
    matches!(insn, 0xd69f_03e0 | 0xd69f_0bff | 0xd69f_0fff)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Encodings from GNU as (aarch64-linux-gnu-as, then objdump).
    #[test]
    fn cache_maintenance_by_va_and_set_way() {
        assert_eq!(decode(0xd50b7e20), Some(Decoded::Maintenance { op: CacheOp::DcCivac, rt: 0 })); // dc civac, x0
        assert_eq!(decode(0xd5087621), Some(Decoded::Maintenance { op: CacheOp::DcIvac, rt: 1 })); // dc ivac, x1
        assert_eq!(decode(0xd50b7a22), Some(Decoded::Maintenance { op: CacheOp::DcCvac, rt: 2 })); // dc cvac, x2
        assert_eq!(decode(0xd50b7b23), Some(Decoded::Maintenance { op: CacheOp::DcCvau, rt: 3 })); // dc cvau, x3
        assert_eq!(decode(0xd50b7424), None); // dc zva, x4: a bulk record from qemu-patches/0004
        assert_eq!(decode(0xf8210002), Some(Decoded::AtomicRmw)); // ldadd x1, x2, [x0]
        assert_eq!(decode(0xf821001f), Some(Decoded::AtomicRmw)); // stadd x1, [x0]
        assert_eq!(decode(0xf8a18002), Some(Decoded::AtomicRmw)); // swpa x1, x2, [x0]
        assert_eq!(decode(0xc8a17c02), Some(Decoded::AtomicRmw)); // cas x1, x2, [x0]
        assert_eq!(decode(0x48207c02), Some(Decoded::AtomicRmw)); // casp x0, x1, x2, x3, [x0]
        assert_eq!(decode(0x19239002), Some(Decoded::AtomicRmw)); // ldclrp x2, x3, [x0] (hand-encoded)
        assert_eq!(decode(0x19c20420), None); // setp [x0]!, x1!, x2: a bulk record
        assert_eq!(decode(0xf8bfc002), None); // ldapr x2, [x0]: a plain load
        assert_eq!(decode(0xc85f7c02), None); // ldxr x2, [x0]: its own load callback
        assert_eq!(decode(0xf9400002), None); // ldr x2, [x0]
        for sync in [0xd5033fdf, 0xd69f03e0, 0xd4000002, 0xd4000003, 0xd4000001] {
            assert_eq!(decode(sync), Some(Decoded::ContextSync), "{sync:#x}"); // isb, eret, hvc, smc, svc
        }
        assert_eq!(decode(0xd5033f9f), None); // dsb sy: not a context synchronization event
        assert_eq!(decode(0xd50b7464), None); // dc gva, x4
        assert_eq!(decode(0xd50b7484), None); // dc gzva, x4
        assert_eq!(decode(0xd5087e45), Some(Decoded::Maintenance { op: CacheOp::DcCisw, rt: 5 })); // dc cisw, x5
        assert_eq!(decode(0xd5087a46), Some(Decoded::Maintenance { op: CacheOp::DcCsw, rt: 6 })); // dc csw, x6
        assert_eq!(decode(0xd5087647), Some(Decoded::Maintenance { op: CacheOp::DcIsw, rt: 7 })); // dc isw, x7
        assert_eq!(decode(0xd50b7528), Some(Decoded::Maintenance { op: CacheOp::IcIvau, rt: 8 })); // ic ivau, x8
        assert_eq!(decode(0xd508751f), Some(Decoded::Maintenance { op: CacheOp::IcIallu, rt: 31 })); // ic iallu
        assert_eq!(decode(0xd508711f), Some(Decoded::Maintenance { op: CacheOp::IcIalluis, rt: 31 })); // ic ialluis
        assert_eq!(decode(0xd50b7c29), Some(Decoded::Maintenance { op: CacheOp::DcCvap, rt: 9 })); // dc cvap, x9
    }

    #[test]
    fn tlbi_is_recognised() {
        assert!(matches!(decode(0xd508831f), Some(Decoded::Maintenance { op: CacheOp::Tlbi(_), rt: 31 }))); // tlbi vmalle1is
        assert!(matches!(decode(0xd50c871f), Some(Decoded::Maintenance { op: CacheOp::Tlbi(_), .. }))); // tlbi alle2
    }

    #[test]
    fn msr_to_tracked_registers() {
        assert_eq!(decode(0xd5181000), Some(Decoded::Msr { reg: SysReg::SctlrEl1, el12: false, rt: 0 })); // msr sctlr_el1, x0
        assert_eq!(decode(0xd51c1001), Some(Decoded::Msr { reg: SysReg::SctlrEl2, el12: false, rt: 1 })); // msr sctlr_el2, x1
        assert_eq!(decode(0xd51c1102), Some(Decoded::Msr { reg: SysReg::HcrEl2, el12: false, rt: 2 })); // msr hcr_el2, x2
        assert_eq!(decode(0xd51d1003), Some(Decoded::Msr { reg: SysReg::SctlrEl1, el12: true, rt: 3 })); // msr sctlr_el12, x3
        assert_eq!(decode(0xd51c2104), Some(Decoded::Msr { reg: SysReg::VttbrEl2, el12: false, rt: 4 })); // msr vttbr_el2, x4
        assert_eq!(decode(0xd518a205), Some(Decoded::Msr { reg: SysReg::MairEl1, el12: false, rt: 5 })); // msr mair_el1, x5
        assert_eq!(decode(0xd5182006), Some(Decoded::Msr { reg: SysReg::Ttbr0El1, el12: false, rt: 6 })); // msr ttbr0_el1, x6
        assert_eq!(decode(0xd5182047), Some(Decoded::Msr { reg: SysReg::TcrEl1, el12: false, rt: 7 })); // msr tcr_el1, x7
        assert_eq!(decode(0xd5184001), None, "msr spsr_el1 is not tracked");
        assert_eq!(decode(0xd5381000), None, "mrs is not a write");
    }

    #[test]
    fn markers_and_other_hints() {
        assert_eq!(decode(0xd69f03e0), Some(Decoded::ContextSync), "eret ends an unsynchronized type write");
        assert_eq!(decode(0xd503201f), None, "nop");
        assert_eq!(decode(0xd503207f), None, "wfi");
        assert_eq!(decode(0xd503201f | MARKER_HINT_BASE << 5), Some(Decoded::Marker(MarkerKind::Begin)));
        assert_eq!(decode(0xd503201f | (MARKER_HINT_BASE + 4) << 5), Some(Decoded::Marker(MarkerKind::Check)));
        assert_eq!(decode(0xd503201f | (MARKER_HINT_BASE + 5) << 5), None);
    }

    #[test]
    fn vhe_redirection_and_tvm_traps() {
        use cohtrace_analyzer::memtype::{HCR_E2H, HCR_TVM};
        assert_eq!(msr_target(SysReg::SctlrEl1, false, 2, HCR_E2H), Some(SysReg::SctlrEl2));
        assert_eq!(msr_target(SysReg::SctlrEl1, true, 2, HCR_E2H), Some(SysReg::SctlrEl1));
        assert_eq!(msr_target(SysReg::SctlrEl1, false, 2, 0), Some(SysReg::SctlrEl1));
        assert_eq!(msr_target(SysReg::SctlrEl1, true, 2, 0), None);
        assert_eq!(msr_target(SysReg::SctlrEl1, false, 1, HCR_TVM), None);
        assert_eq!(msr_target(SysReg::SctlrEl1, false, 1, 0), Some(SysReg::SctlrEl1));
        assert_eq!(msr_target(SysReg::HcrEl2, false, 1, 0), None);
    }
}
