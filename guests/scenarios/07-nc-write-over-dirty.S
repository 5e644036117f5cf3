// 07-nc-write-over-dirty: the host (EL2) writes the buffer through its WB mapping (dirty line in its
// cache), then the guest writes the same line through a Normal-NC mapping, straight to memory. The
// dirty line will be written back over the guest's data some day -> lost-write (observer: the NC
// write, cause: the WB write of the dirty data).
//   FIXED=1  the host cleans and invalidates the line (DC CIVAC) before running the guest.
// Nothing reads the buffer afterwards, so the lost write is the only hazard.

        .include "guest.inc"

        .section .text.el2, "ax"
        glabel  scenario_tables
        map_el1 shared_buf, shared_buf, S1_EL1_NC
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        guest_regimes_on                // stage 2 (HCR_GUEST) and the EL1 regime, MMU and caches on
        adr_l   x19, shared_buf
        mov64   x1, 0x0707070707070707
        glabel  el2_write
        str     x1, [x19]               // dirty in the host's cache
        .if FIXED
        dc      civac, x19              // written back and gone from the cache
        .endif
        dsb     sy
        adr_l   x0, el1_main
        bl      run_el1
        ldp     x29, x30, [sp], #16
        ret

        .section .text.el1, "ax"
el1_main:
        adr_l   x1, shared_buf
        mov64   x2, 0x7070707070707070
        glabel  el1_write
        str     x2, [x1]                // Normal-NC, while the host's cache holds the line dirty
        dsb     sy
        hvc     #0

        shared_page shared_buf
