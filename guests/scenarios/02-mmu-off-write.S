// 02-mmu-off-write: the guest runs with its stage-1 MMU off (SCTLR_EL1.M=0), so its data accesses
// are Device-nGnRnE and go straight to memory; the host (EL2) reads the buffer through its WB
// mapping, having read it once before (it holds a clean, soon stale, copy) -> stale-read.
//   FIXED=1  HCR_EL2.DC=1: with its MMU off the guest's accesses are Normal WB (then combined with
//            stage 2, also WB), so its write lands in the coherent cache.

        .include "guest.inc"

        .section .text.el2, "ax"
        glabel  scenario_tables
        ret                             // the defaults: every page WB at stage 2

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        .if FIXED
        mov64   x0, HCR_GUEST | HCR_DC
        .else
        mov64   x0, HCR_GUEST
        .endif
        bl      stage2_on
        mov64   x0, SCTLR_EL1_OFF       // guest MMU off
        bl      el1_regime_on
        adr_l   x19, shared_buf
        glabel  el2_prime
        ldr     x0, [x19]               // clean WB copy in the host's cache
        adr_l   x0, el1_main
        bl      run_el1
        glabel  el2_read
        ldr     x0, [x19]
        ldp     x29, x30, [sp], #16
        ret

        .section .text.el1, "ax"
el1_main:                               // MMU off: no stack, no memory but the buffer
        adr_l   x1, shared_buf
        mov64   x2, 0x0202020202020202
        glabel  el1_write
        str     x2, [x1]
        dsb     sy
        hvc     #0

        shared_page shared_buf
