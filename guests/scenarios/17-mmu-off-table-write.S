// 17-mmu-off-table-write: the guest's page-table line was cached before (here: an earlier cacheable
// read of the memory), then the guest writes a descriptor into it with its MMU off (a Device write
// to memory) and turns the MMU on: the cacheable table walk for the new mapping reads the stale
// cached line, not the new descriptor -> stale-read, observer the stage-1 walk (edk2 3391e20ffa and
// 748fea6279: tables written with the MMU off, shadowed by stale lines once walks became cacheable).
//   FIXED=1  DC IVAC of the descriptor's line after writing it and before the MMU walks it, as Linux
//            arm64 head.S does for the tables it builds with the MMU off.
//   FIXED=2  the edk2 0c8ea9fe1a defect: DC IVAC is given CurrentEL instead of the table's address,
//            so it invalidates the wrong line and the hazard stays.
//
// The walked mapping: VA BIG_BASE (L2[2] of the EL1 tables -> walk_table, an L3 table of its own)
// -> the page shared_buf, so the descriptor written is walk_table[0].

        .include "guest.inc"

        .equ    WALK_VA,        BIG_BASE

        .section .text.el2, "ax"
        glabel  scenario_tables
        // el1_l2[2] -> walk_table (empty until the guest fills it).
        link_table el1_l2, 2, walk_table
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        guest_regimes_on
        adr_l   x0, el1_main
        bl      run_el1
        ldp     x29, x30, [sp], #16
        ret

        .section .text.el1, "ax"
el1_main:                               // MMU on, caches on
        adr_l   x19, walk_table
        glabel  el1_prime
        ldr     x0, [x19]               // the line is now cached (clean)
        mov64   x1, SCTLR_EL1_OFF
        msr     sctlr_el1, x1           // MMU off: data accesses are Device
        isb
        adr_l   x2, shared_buf
        mov64   x3, S1_EL1_WB | 3
        orr     x2, x2, x3
        glabel  el1_table_write
        str     x2, [x19]               // walk_table[0] = shared_buf, Normal WB (goes to memory)
        .if FIXED == 1
        dc      ivac, x19               // drop any cached copy of the table line (head.S)
        .elseif FIXED == 2
        mrs     x4, CurrentEL
        dc      ivac, x4                // edk2 0c8ea9fe1a: the wrong address
        .endif
        dsb     sy
        mov64   x1, SCTLR_EL1_ON
        msr     sctlr_el1, x1
        isb
        tlbi    vmalle1
        dsb     nsh
        isb
        mov64   x5, WALK_VA
        glabel  el1_walked_read
        ldr     x0, [x5]                // TLB miss: the walk reads walk_table[0]
        hvc     #0

        shared_page walk_table
        shared_page shared_buf
