// 08-dc-ivac-dirty: the host (EL2) writes the buffer through its WB mapping and then invalidates the
// line with DC IVAC (say, "to make room for a device's data"): the dirty data is discarded ->
// lost-write, observer the DC IVAC, cause the WB write. (At EL2 DC IVAC really is an invalidate;
// at EL1 with stage 2 on, the architecture upgrades it to a clean and invalidate.)
//   FIXED=1  DC CIVAC: the data is written back first.
//   AT_EL1=1 the guest (EL1, stage 2 on: HCR_EL2.VM = 1) issues the DC IVAC on the host's dirty line.
//            The Arm ARM (HCR_EL2.VM) makes it a clean and invalidate, so that a guest cannot discard
//            its hypervisor's data: no hazard. Pinned because the VMM demo's L2 Linux invalidates the
//            buffers Debian's QEMU wrote into its RAM (docs/findings.md).
//   AT_EL1=2 the same with stage 2 off (HCR_EL2.VM = 0): a real invalidate, lost-write again.
// Nothing reads the line afterwards.

        .include "guest.inc"
        .ifndef AT_EL1
        .equ    AT_EL1, 0
        .endif

        .section .text.el2, "ax"
        glabel  scenario_tables
        ret

        glabel  scenario_main
        .if AT_EL1
        stp     x29, x30, [sp, #-16]!
        .if AT_EL1 == 1
        guest_regimes_on                // stage 2 on (HCR_GUEST has VM), the EL1 regime on
        .else
        mov64   x0, HCR_RW              // stage 2 off: EL1's IPA is the PA
        bl      stage2_on
        mov64   x0, SCTLR_EL1_ON
        bl      el1_regime_on
        .endif
        adr_l   x19, shared_buf
        mov64   x1, 0x0808080808080808
        glabel  el2_write
        str     x1, [x19]               // dirty in the cache
        dsb     sy
        adr_l   x0, el1_main
        bl      run_el1
        ldp     x29, x30, [sp], #16
        ret
        .else
        adr_l   x19, shared_buf
        mov64   x1, 0x0808080808080808
        glabel  el2_write
        str     x1, [x19]               // dirty in the cache
        dsb     sy
        .if FIXED
        glabel  el2_dc
        dc      civac, x19
        .else
        glabel  el2_dc
        glabel  el2_dc_ivac
        dc      ivac, x19               // discards the dirty data
        .endif
        dsb     sy
        ret
        .endif

        .section .text.el1, "ax"
el1_main:
        adr_l   x1, shared_buf
        glabel  el1_dc_ivac
        dc      ivac, x1                // upgraded to DC CIVAC when HCR_EL2.VM = 1
        dsb     sy
        hvc     #0

        shared_page shared_buf
