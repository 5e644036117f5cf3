// 22-dc-zva: DC ZVA by the EL1 guest through a Normal-NC mapping on -cpu max, whose DCZID_EL0 block is
// 64 bytes in system emulation (the 512 bytes of aarch64_max_tcg_initfn are user-mode only). The host
// (EL2) has read the buffer once, so a clean WB copy is cached.
//   NEIGHBOUR=0  the host reads the zeroed line again through WB: the copy is stale -> stale-read.
//                FIXED=1: the host invalidates the line (DC IVAC) first.
//   NEIGHBOUR=1  the host's copy is of the *next* line, which DC ZVA does not touch: silent. A model
//                that took the block to be 512 bytes reported a stale-read here.

        .include "guest.inc"
        .ifndef NEIGHBOUR
        .equ    NEIGHBOUR, 0
        .endif
        .equ    HOST_LINE,  NEIGHBOUR * 64      // the line the host reads

        .section .text.el2, "ax"
        glabel  scenario_tables
        map_el1 shared_buf, shared_buf, S1_EL1_NC
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        guest_regimes_on
        adr_l   x19, shared_buf
        glabel  el2_prime
        ldr     x0, [x19, #HOST_LINE]           // a clean WB copy of the host's line
        adr_l   x0, el1_main
        bl      run_el1
        .if FIXED
        add     x0, x19, #HOST_LINE
        dc      ivac, x0
        dsb     sy
        .endif
        glabel  el2_read
        ldr     x0, [x19, #HOST_LINE]
        ldp     x29, x30, [sp], #16
        ret

        .section .text.el1, "ax"
el1_main:
        adr_l   x1, shared_buf
        mrs     x2, dczid_el0                   // BS = 4 (64 bytes), DZP = 0 on max: checked below
        cmp     x2, #4
        b.ne    1f
        glabel  el1_zva
        dc      zva, x1                         // zeroes shared_buf[0..64), non-cacheably
        dsb     sy
        hvc     #0
1:      udf     #0                              // an unexpected DCZID_EL0 fails the guest loudly

        shared_page shared_buf
