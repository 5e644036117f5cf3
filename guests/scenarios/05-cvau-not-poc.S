// 05-cvau-not-poc: like 04, but the host does clean the line - only to the Point of Unification
// (DC CVAU, the instruction-side clean), not to the Point of Coherency. The guest's Normal-NC read
// goes to memory and still misses the data -> dirty-bypass.
//   FIXED=1  DC CVAC (clean to the PoC) instead of DC CVAU.

        .include "guest.inc"

        .section .text.el2, "ax"
        glabel  scenario_tables
        map_el1 shared_buf, shared_buf, S1_EL1_NC
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        guest_regimes_on                // stage 2 (HCR_GUEST) and the EL1 regime, MMU and caches on
        adr_l   x19, shared_buf
        mov64   x1, 0x0505050505050505
        glabel  el2_write
        str     x1, [x19]
        .if FIXED
        glabel  el2_clean
        dc      cvac, x19               // to the PoC: what a non-cacheable observer needs
        .else
        glabel  el2_clean
        dc      cvau, x19               // only to the PoU
        .endif
        dsb     sy
        adr_l   x0, el1_main
        bl      run_el1
        ldp     x29, x30, [sp], #16
        ret

        .section .text.el1, "ax"
el1_main:
        adr_l   x1, shared_buf
        glabel  el1_read
        ldr     x2, [x1]
        hvc     #0

        shared_page shared_buf
