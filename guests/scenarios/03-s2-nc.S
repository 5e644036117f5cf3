// 03-s2-nc: both stage 1s say Normal WB, but the host maps the buffer Normal-NC at stage 2
// (MemAttr 0b0101), so the guest's combined type is NC: its write goes around the host's clean
// copy (taken by the host's first read) -> stale-read on the host's second read.
//   FIXED=1  HCR_EL2.FWB=1 and stage-2 MemAttr 0b0110 on the buffer: the combined type is forced
//            to WB. With FWB, 0b1111 is reserved, so the rest of stage 2 is remapped with 0b0111
//            ("use the stage-1 type").

        .include "guest.inc"

        .section .text.el2, "ax"
        glabel  scenario_tables
        .if FIXED
        map_image s2_l3, S2_FWB_S1
        map_s2  shared_buf, shared_buf, S2_FWB_WB
        .else
        map_s2  shared_buf, shared_buf, S2_NC
        .endif
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        .if FIXED
        mov64   x0, HCR_GUEST | HCR_FWB
        .else
        mov64   x0, HCR_GUEST
        .endif
        bl      stage2_on
        mov64   x0, SCTLR_EL1_ON        // guest stage 1: WB everywhere
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
el1_main:
        adr_l   x1, shared_buf
        mov64   x2, 0x0303030303030303
        glabel  el1_write
        str     x2, [x1]                // S1 WB x S2 NC = NC (FIXED: forced WB)
        dsb     sy
        hvc     #0

        shared_page shared_buf
