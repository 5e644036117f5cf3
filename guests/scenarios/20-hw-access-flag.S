// 20-hw-access-flag: with hardware access-flag management (FEAT_HAFDBS, TCR_EL1.HA = 1) the guest's
// first access to a page whose descriptor has AF = 0 makes the walker set AF: a hardware write of the
// descriptor with the walk's Write-Back type, so the new descriptor is dirty in the cache. The
// hypervisor then reads the guest's table through a Non-cacheable alias (as a page-table scanner
// might) and sees memory -> dirty-bypass, observer the non-cacheable read, cause the hardware update.
//   FIXED=1  the hypervisor cleans the descriptor's line to PoC (DC CIVAC) before the NC read.

        .include "guest.inc"

        .equ    WALK_VA,        BIG_BASE
        .equ    TCR_HA,         (1 << 39)
        .equ    S1_EL1_WB_NOAF, S1_EL1_WB & ~PTE_AF

        .section .text.el2, "ax"
        glabel  scenario_tables
        link_table el1_l2, 2, walk_table
        adr_l   x9, walk_table
        adr_l   x10, shared_buf
        mov64   x11, S1_EL1_WB_NOAF | 3
        orr     x10, x10, x11
        str     x10, [x9]               // walk_table[0]: shared_buf, access flag clear
        map_el2 walk_table + ALIAS_OFFSET, walk_table, S1_EL2_NC
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        guest_regimes_on
        mov64   x0, TCR_EL1_VALUE | TCR_HA
        msr     tcr_el1, x0
        s12_tlb_sync
        adr_l   x0, el1_main
        bl      run_el1
        adr_l   x19, walk_table
        .if FIXED
        dc      civac, x19
        dsb     sy
        .endif
        mov64   x20, ALIAS_OFFSET
        add     x20, x19, x20
        glabel  el2_nc_read
        ldr     x0, [x20]               // the descriptor, non-cacheably
        ldp     x29, x30, [sp], #16
        ret

        .section .text.el1, "ax"
el1_main:
        mov64   x5, WALK_VA
        glabel  el1_first_access
        ldr     x0, [x5]                // the walk sets walk_table[0].AF
        hvc     #0

        shared_page walk_table
        shared_page shared_buf
