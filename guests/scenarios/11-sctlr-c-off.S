// 11-sctlr-c-off: the guest runs with its MMU on but SCTLR_EL1.C=0, so its Normal WB mappings act as
// Non-cacheable for data accesses. It writes the buffer straight to memory, around the clean copy
// the host took with an earlier WB read -> stale-read on the host's second read.
//   FIXED=1  SCTLR_EL1.C=1.
// (QEMU itself ignores SCTLR_ELx.C with the MMU on: the attributes it reports stay 0xff; the
// effective type has to be derived from the register.)

        .include "guest.inc"

        .section .text.el2, "ax"
        glabel  scenario_tables
        ret                             // the guest maps the buffer WB, as everything else

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        mov64   x0, HCR_GUEST
        bl      stage2_on
        .if FIXED
        mov64   x0, SCTLR_EL1_ON
        .else
        mov64   x0, SCTLR_EL1_ON & ~SCTLR_C     // MMU on, data caching off
        .endif
        bl      el1_regime_on
        adr_l   x19, shared_buf
        glabel  el2_prime
        ldr     x0, [x19]
        adr_l   x0, el1_main
        bl      run_el1
        glabel  el2_read
        ldr     x0, [x19]
        ldp     x29, x30, [sp], #16
        ret

        .section .text.el1, "ax"
el1_main:                               // no stack: with C=0 every data access would be NC
        adr_l   x1, shared_buf
        mov64   x2, 0x1111111111111111
        glabel  el1_write
        str     x2, [x1]
        dsb     sy
        hvc     #0

        shared_page shared_buf
