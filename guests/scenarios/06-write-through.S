// 06-write-through: the guest maps the buffer Normal Write-Through (MAIR 0xbb) and writes it.
// A WT write updates memory, and a cached copy only if that copy was itself allocated by a WT
// access (mismatched types are not coherent).
//   STALE=0  the host reads the buffer through a Normal-NC alias (VA = PA + ALIAS_OFFSET): it reads
//            memory, which the WT write updated -> no hazard at all.
//   STALE=1  the host reads the buffer through its WB mapping before and after the guest's write:
//            its WB-allocated copy is not updated by the WT write -> stale-read on the re-read.
//   STALE=1 FIXED=1  the host invalidates the line (DC IVAC) before the re-read.

        .include "guest.inc"
        .ifndef STALE
        .equ    STALE, 0
        .endif

        .section .text.el2, "ax"
        glabel  scenario_tables
        map_el1 shared_buf, shared_buf, S1_EL1_WT
        .if !STALE
        map_el2 shared_buf + ALIAS_OFFSET, shared_buf, S1_EL2_NC        // the host's NC alias
        .endif
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        guest_regimes_on                // stage 2 (HCR_GUEST) and the EL1 regime, MMU and caches on
        .if STALE
        adr_l   x19, shared_buf
        glabel  el2_prime
        ldr     x0, [x19]               // a WB-allocated clean copy
        .else
        adr_l   x19, shared_buf + ALIAS_OFFSET
        .endif
        adr_l   x0, el1_main
        bl      run_el1
        .if STALE && FIXED
        dc      ivac, x19
        dsb     sy
        .endif
        glabel  el2_read
        ldr     x0, [x19]               // STALE=0: NC alias; STALE=1: WB
        ldp     x29, x30, [sp], #16
        ret

        .section .text.el1, "ax"
el1_main:
        adr_l   x1, shared_buf
        mov64   x2, 0x0606060606060606
        glabel  el1_write
        str     x2, [x1]                // Write-Through: memory is updated
        dsb     sy
        hvc     #0

        shared_page shared_buf
