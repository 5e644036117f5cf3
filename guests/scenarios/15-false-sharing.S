// 15-false-sharing: two variables share one line. The host (EL2) writes the first ("params") through
// its WB mapping and cleans the line to the PoC (DC CIVAC), then writes the second ("vector") and leaves
// it dirty; the guest reads through a Normal-NC mapping. Seen on Linux KVM (nVHE): the hyp init params,
// cleaned to PoC for the MMU-off EL2 code, share a line with the per-CPU kvm_hyp_vector the host writes
// later (docs/findings.md).
//   FIXED=0  the guest reads "vector": its bytes are dirty in the host's cache -> dirty-bypass.
//   FIXED=1  the guest reads "params" only: memory holds their newest bytes, the dirty bytes are others
//            -> nothing (a model that judged whole lines would report it).

        .include "guest.inc"

        .section .text.el2, "ax"
        glabel  scenario_tables
        map_el1 shared_buf, shared_buf, S1_EL1_NC
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        guest_regimes_on                // stage 2 (HCR_GUEST) and the EL1 regime, MMU and caches on
        adr_l   x19, shared_buf
        mov64   x1, 0x1515151515151515
        glabel  el2_write_params
        str     x1, [x19, #8]           // "params": bytes 8..15
        dc      civac, x19              // to the PoC, as the reader will read memory
        dsb     sy
        glabel  el2_write_vector
        str     x1, [x19]               // "vector": bytes 0..7 of the same line, left dirty
        dsb     sy
        adr_l   x0, el1_main
        bl      run_el1
        ldp     x29, x30, [sp], #16
        ret

        .section .text.el1, "ax"
el1_main:
        adr_l   x1, shared_buf
        glabel  el1_read
        .if FIXED
        ldr     x2, [x1, #8]            // params: current in memory
        .else
        ldr     x2, [x1]                // vector: only in the host's cache
        .endif
        hvc     #0

        shared_page shared_buf
