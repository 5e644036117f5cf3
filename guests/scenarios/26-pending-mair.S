// 26-pending-mair: a memory-type change that is not yet synchronized. The EL1 guest maps its buffer
// twice: view A Write-Back (MAIR index 0), view B through MAIR index 1, Normal-NC at first. It stores
// through A (the line is dirty in its cache), then rewrites MAIR_EL1 so that index 1 is Write-Back, and
// loads through B. Until a context synchronization event (ISB) and, since the guest changes its own
// regime's MAIR (which TLB entries may hold), a TLBI, that load may still be Non-cacheable: it would
// read memory and miss the dirty data (Arm ARM: a direct write to a System register is guaranteed
// visible to later instructions only after a context synchronization event; MAIR_ELx fields may be
// cached in TLB entries).
//   SYNC=0  the load follows the MSR at once -> dirty-bypass (under the old type).
//   SYNC=1  DSB + ISB, no TLBI -> still dirty-bypass (a TLB entry may hold the old attributes).
//   SYNC=2  DSB + ISB + TLBI VMALLE1 + DSB + ISB -> silent.

        .include "guest.inc"
        .ifndef SYNC
        .equ    SYNC, 0
        .endif
        .equ    MAIR_IDX1_WB,   (MAIR_VALUE & ~0xff00) | 0xff00         // index 1: 0x44 -> 0xff

        .section .text.el2, "ax"
        glabel  scenario_tables
        map_el1 shared_buf, shared_buf, S1_EL1_WB                       // view A
        map_el1 shared_buf + ALIAS_OFFSET, shared_buf, S1_EL1_NC        // view B: MAIR index 1
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        guest_regimes_on
        adr_l   x0, el1_main
        bl      run_el1
        ldp     x29, x30, [sp], #16
        ret

        .section .text.el1, "ax"
el1_main:
        adr_l   x1, shared_buf
        mov64   x3, ALIAS_OFFSET
        add     x4, x1, x3                      // view B
        mov64   x2, 0x0606060606060606
        glabel  el1_write
        str     x2, [x1]                        // through A: dirty in the cache
        mov64   x5, MAIR_IDX1_WB
        glabel  el1_mair_write
        msr     mair_el1, x5
        .if SYNC >= 1
        dsb     sy
        isb
        .endif
        .if SYNC >= 2
        tlbi    vmalle1
        dsb     sy
        isb
        .endif
        glabel  el1_read
        ldr     x6, [x4]                        // through B: WB now, maybe still NC
        hvc     #0

        shared_page shared_buf
