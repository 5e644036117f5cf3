// 24-mte-tag-check: tracing must not change what the guest does. EL2 maps a page as Tagged Normal
// (MAIR 0xf0), gives one granule allocation tag 1 (STG) and loads through a pointer with tag 2, with
// SCTLR_EL2.TCF = 1 (synchronous tag-check faults). The load must fault with a synchronous tag-check
// fault (ESR_EL2.EC = 0x25, DFSC = 0x11), bare and under the plugin; the guest fails if it does not.
// Before qemu-patches/0005, any plugin with memory callbacks made QEMU skip every tag check.
// No hazard: every access is Write-Back.

        .include "guest.inc"
        .arch   armv8.5-a
        .arch_extension memtag
        .equ    ATTR_TAGGED,    4                               // MAIR index 4 = 0xf0
        .equ    S1_EL2_TAGGED,  (ATTR_TAGGED << 2) | PTE_AF | PTE_SH_IS | PTE_EL2_AP1
        .equ    SCTLR_ATA,      (1 << 43)                       // EL2 may access allocation tags
        .equ    SCTLR_TCF_SYNC, (1 << 40)                       // tag-check faults are synchronous
        .equ    TCR_TBI,        (1 << 20)                       // top byte ignored (holds the tag)
        .equ    EC_DABT_CUR,    0x25
        .equ    DFSC_TAG_CHECK, 0x11

        .section .text.el2, "ax"
        glabel  scenario_tables
        map_el2 tagged_buf, tagged_buf, S1_EL2_TAGGED
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        mov64   x0, (0xf0 << 32) | MAIR_VALUE
        msr     mair_el2, x0
        mrs     x0, tcr_el2
        orr     x0, x0, #TCR_TBI
        msr     tcr_el2, x0
        mrs     x0, sctlr_el2
        mov64   x1, SCTLR_ATA | SCTLR_TCF_SYNC
        orr     x0, x0, x1
        msr     sctlr_el2, x0
        tlbi    alle2
        dsb     sy
        isb
        adr_l   x0, tag_vectors
        msr     vbar_el2, x0
        isb
        adr_l   x19, tagged_buf
        orr     x1, x19, #(1 << 56)             // allocation tag 1 for the first granule
        stg     x1, [x1]
        mov     x20, #0                         // ESR of the fault, 0 if none
        orr     x2, x19, #(2 << 56)             // pointer tag 2: a mismatch
        glabel  mismatched_load
        ldr     x3, [x2]
        adr_l   x0, el2_vectors
        msr     vbar_el2, x0
        isb
        ubfx    x1, x20, #26, #6
        cmp     x1, #EC_DABT_CUR
        b.ne    no_fault
        and     x1, x20, #0x3f
        cmp     x1, #DFSC_TAG_CHECK
        b.ne    no_fault
        ldp     x29, x30, [sp], #16
        ret
no_fault:
        adr_l   x0, msg_no_fault
        mov     x1, x20
        b       guest_fail

// Only the current-EL (SP_ELx) synchronous entry is expected: note ESR_EL2, skip the load.
        .balign 2048
tag_vectors:
        .rept   4
        b       .
        .balign 128
        .endr
        mrs     x20, esr_el2
        mrs     x0, elr_el2
        add     x0, x0, #4
        msr     elr_el2, x0
        eret
        .balign 128
        .rept   11
        b       .
        .balign 128
        .endr

        .section .rodata
msg_no_fault:
        .asciz  "the mismatched load took no tag-check fault; ESR_EL2 = "

        shared_page tagged_buf
