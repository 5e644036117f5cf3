// 18-nc-walk-wb-table: the guest walks its stage-1 tables non-cacheably (TCR_EL1.IRGN0 = ORGN0 = 0)
// but writes a descriptor through its Write-Back mapping of the table: the new descriptor sits
// dirty in the cache while the walk reads memory -> dirty-bypass, observer the stage-1 walk.
//   FIXED=1  DC CVAC of the descriptor's line after writing it, before the walk.
//   AT=1     the walk is an AT S1E1R of the VA instead of a load (QEMU reports AT walks too; the observer
//            is the AT instruction).
//
// The walked mapping is 17's: VA BIG_BASE -> walk_table[0] -> shared_buf.

        .include "guest.inc"

        .equ    WALK_VA,        BIG_BASE
        .equ    TCR_EL1_NC_WALK, TCR_EL1_VALUE & ~(0xf << 8)   // IRGN0 = ORGN0 = 0b00
        .ifndef AT
        .equ    AT, 0
        .endif

        .section .text.el2, "ax"
        glabel  scenario_tables
        link_table el1_l2, 2, walk_table
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        guest_regimes_on
        mov64   x0, TCR_EL1_NC_WALK
        msr     tcr_el1, x0
        s12_tlb_sync
        adr_l   x0, el1_main
        bl      run_el1
        ldp     x29, x30, [sp], #16
        ret

        .section .text.el1, "ax"
el1_main:
        adr_l   x19, walk_table
        adr_l   x2, shared_buf
        mov64   x3, S1_EL1_WB | 3
        orr     x2, x2, x3
        glabel  el1_table_write
        str     x2, [x19]               // through the WB mapping: dirty in the cache
        .if FIXED
        dc      cvac, x19               // clean the table line to PoC for the non-cacheable walker
        .endif
        dsb     ish
        tlbi    vmalle1
        dsb     nsh
        isb
        mov64   x5, WALK_VA
        .if AT
        glabel  el1_walked_at
        at      s1e1r, x5               // the AT's walk reads walk_table[0] from memory
        isb
        .else
        glabel  el1_walked_read
        ldr     x0, [x5]                // the walk reads walk_table[0] from memory
        .endif
        hvc     #0

        shared_page walk_table
        shared_page shared_buf
