// 04-wb-write-nc-read: the host (EL2) writes the buffer through its WB mapping (the line is dirty in
// its cache) and the guest reads it through a Normal-NC stage-1 mapping, which reads memory and
// misses the dirty data -> dirty-bypass.
//   FIXED=1  the host cleans the line to the PoC (DC CVAC) before running the guest.

        .include "guest.inc"

        .section .text.el2, "ax"
        glabel  scenario_tables
        map_el1 shared_buf, shared_buf, S1_EL1_NC
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        guest_regimes_on                // stage 2 (HCR_GUEST) and the EL1 regime, MMU and caches on
        adr_l   x19, shared_buf
        mov64   x1, 0x0404040404040404
        glabel  el2_write
        str     x1, [x19]               // dirty in the host's cache
        .if FIXED
        dc      cvac, x19               // clean to the PoC
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
        ldr     x2, [x1]                // Normal-NC: reads memory
        hvc     #0

        shared_page shared_buf
