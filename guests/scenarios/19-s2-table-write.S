// 19-s2-table-write: the hypervisor (EL2, MMU on) writes a stage-2 descriptor through its Write-Back
// mapping while the stage-2 walker is non-cacheable (VTCR_EL2.IRGN0 = ORGN0 = 0): the guest's access
// walks stage 2 from memory and misses the dirty descriptor -> dirty-bypass, observer the stage-2
// walk of the guest's access.
//   FIXED=1  DC CVAC of the stage-2 descriptor's line after writing it.
//
// Guest stage 1 maps VA BIG_BASE with a 2 MB block to IPA BIG_BASE; stage 2 maps IPA BIG_BASE through
// s2_l2[2] -> walk_table (a stage-2 L3 table of its own), whose entry 0 the hypervisor fills with
// shared_buf.

        .include "guest.inc"

        .equ    WALK_VA,        BIG_BASE
        .equ    VTCR_NC_WALK,   VTCR_EL2_VALUE & ~(0xf << 8)    // IRGN0 = ORGN0 = 0b00

        .section .text.el2, "ax"
        glabel  scenario_tables
        adr_l   x9, el1_l2
        mov64   x10, WALK_VA | S1_EL1_WB | 1    // 2 MB block, identity
        str     x10, [x9, #16]
        link_table s2_l2, 2, walk_table
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        guest_regimes_on
        mov64   x0, VTCR_NC_WALK
        msr     vtcr_el2, x0
        isb
        adr_l   x19, walk_table
        adr_l   x2, shared_buf
        mov64   x3, S2_WB | 3
        orr     x2, x2, x3
        glabel  el2_s2_write
        str     x2, [x19]               // through EL2's WB mapping: dirty in the cache
        .if FIXED
        dc      cvac, x19
        .endif
        s12_tlb_sync
        adr_l   x0, el1_main
        bl      run_el1
        ldp     x29, x30, [sp], #16
        ret

        .section .text.el1, "ax"
el1_main:
        mov64   x5, WALK_VA
        glabel  el1_walked_read
        ldr     x0, [x5]                // stage-2 walk of IPA BIG_BASE reads walk_table[0]
        hvc     #0

        shared_page walk_table
        shared_page shared_buf
