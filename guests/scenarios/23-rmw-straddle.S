// 23-rmw-straddle: writes by the EL1 guest through a Normal-NC mapping that are not plain aligned
// stores, each judged on every line and byte it touches. The host (EL2) has read the lines once, so
// clean WB copies are cached, and reads again through WB after the guest ran.
//   OP=1  LSE atomic (LDADD): QEMU gives it one callback marked a write; cohtrace records its read
//         and its write. -> stale-read (the host's copy).
//   OP=2  exclusive pair (LDXR/STXR loop) -> stale-read.
//   OP=3  an unaligned 8-byte store straddling two lines (its last 4 bytes land in the second
//         line); the host reads the second line -> stale-read on the second line.
//   OP=4  LDADD over a line the host has *dirtied* (not just cached): the atomic's read misses the
//         dirty data (dirty-bypass), its NC write is overwritten when the dirty line is written back
//         (lost-write), and the host's read hits its own dirty copy, not the atomic's result
//         (stale-read).
//   FIXED=1      the host invalidates both lines (DC IVAC) before reading (OP=4: cleans first).
//   FIRST_ONLY=1 (OP=3) the host invalidates only the first line: the second stays stale.

        .include "guest.inc"
        .ifndef OP
        .equ    OP, 1
        .endif
        .ifndef FIRST_ONLY
        .equ    FIRST_ONLY, 0
        .endif
        .if OP == 3
        .equ    HOST_OFF, 64                    // the host reads the second line
        .else
        .equ    HOST_OFF, 0
        .endif

        .section .text.el2, "ax"
        glabel  scenario_tables
        map_el1 shared_buf, shared_buf, S1_EL1_NC
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        guest_regimes_on
        adr_l   x19, shared_buf
        .if OP == 4
        mov     x0, #5
        glabel  el2_write
        str     x0, [x19]                       // dirty in the host's cache
        .if FIXED
        dc      cvac, x19                       // clean to the PoC before the guest's atomic
        .endif
        dsb     sy
        .else
        glabel  el2_prime
        ldr     x0, [x19]                       // clean WB copies of both lines
        ldr     x0, [x19, #64]
        .endif
        adr_l   x0, el1_main
        bl      run_el1
        .if FIXED && OP != 4
        dc      ivac, x19
        add     x0, x19, #64
        dc      ivac, x0
        dsb     sy
        .endif
        .if FIRST_ONLY
        dc      ivac, x19                       // the second line keeps its stale copy
        dsb     sy
        .endif
        .if OP == 4
        .if FIXED
        dc      ivac, x19                       // drop the host's copy before reading the result
        dsb     sy
        .endif
        .endif
        glabel  el2_read
        ldr     x0, [x19, #HOST_OFF]
        ldp     x29, x30, [sp], #16
        ret

        .section .text.el1, "ax"
el1_main:
        adr_l   x1, shared_buf
        mov     x2, #1
        .if OP == 1 || OP == 4
        glabel  el1_write
        ldadd   x2, x3, [x1]
        .elseif OP == 2
1:      ldxr    x3, [x1]
        add     x3, x3, #1
        glabel  el1_write
        stxr    w4, x3, [x1]
        cbnz    w4, 1b
        .else
        mov64   x2, 0x0303030303030303
        glabel  el1_write
        str     x2, [x1, #60]                   // bytes 60..67: lines 0 and 1
        .endif
        dsb     sy
        hvc     #0

        shared_page shared_buf
