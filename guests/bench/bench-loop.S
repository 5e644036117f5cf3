// bench-loop: a long, regular load/store loop at EL1 with the MMU and caches on and stage 2 active
// (issue 5), to measure cohtrace's overhead. No hazard: every access is Normal Write-Back on both
// stages, by one vCPU.
//
// The loop walks a 4 KB buffer (loop_buf) 8 bytes at a time; each iteration loads a word, adds 1
// and stores it back: 2 data accesses per iteration (loop_ld, loop_st) plus 5 instructions of loop
// overhead, ITERS iterations in all. At the end EL1 sums the 512 words (512 more loads) and EL2
// checks that the sum is ITERS.
//   ITERS         iterations (2 accesses each); set with --defsym by the manifest
//   HAZARD_FIRST  first run the scenario-01 bug once (stale-read: observer hf_read, cause
//                 hf_write, line hf_buf), then the loop: a trace cut off in the middle of the loop
//                 must still report it.

        .include "guest.inc"
        .ifndef ITERS
        .equ    ITERS, 1000000
        .endif
        .ifndef HAZARD_FIRST
        .equ    HAZARD_FIRST, 0
        .endif
        .equ    LOOP_BUF_SIZE, PAGE_SIZE

        .section .text.el2, "ax"
        glabel  scenario_tables
        .if HAZARD_FIRST
        map_el1 hf_buf, hf_buf, S1_EL1_NC               // the guest's view of hf_buf: Normal-NC
        .endif
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        guest_regimes_on                // stage 2 (HCR_GUEST) and the EL1 regime, MMU and caches on
        .if HAZARD_FIRST
        adr_l   x19, hf_buf
        glabel  hf_prime
        ldr     x0, [x19]               // a clean WB copy of the line
        adr_l   x0, el1_hf
        bl      run_el1                 // the guest writes it Normal-NC
        glabel  hf_read
        ldr     x0, [x19]               // stale-read; nothing touches hf_buf again
        .endif
        adr_l   x0, el1_loop
        bl      run_el1
        mov64   x1, ITERS
        cmp     x0, x1
        b.ne    1f
        ldp     x29, x30, [sp], #16
        ret
1:      mov     x1, x0
        adr_l   x0, msg_sum
        b       guest_fail

        .section .rodata, "a"
msg_sum:        .asciz  "bench-loop: sum of loop_buf is not ITERS"

        .section .text.el1, "ax"
        .if HAZARD_FIRST
el1_hf:
        adr_l   x1, hf_buf
        mov64   x2, 0x0101010101010101
        glabel  hf_write
        str     x2, [x1]                // Normal-NC: straight to memory, around EL2's copy
        dsb     sy
        hvc     #0
        .endif

// The loop: x1 = loop_buf, x2 = iterations left, x4 = byte offset (wraps at 4 KB).
        glabel  el1_loop
        adr_l   x1, loop_buf
        mov64   x2, ITERS
        mov     x4, #0
        .balign 64
2:
        glabel  loop_ld
        ldr     x5, [x1, x4]
        add     x5, x5, #1
        glabel  loop_st
        str     x5, [x1, x4]
        add     x4, x4, #8
        and     x4, x4, #(LOOP_BUF_SIZE - 1)
        subs    x2, x2, #1
        b.ne    2b
// x0 = sum of the 512 words: each iteration added 1 to one of them.
        mov     x0, #0
        mov     x4, #0
3:      ldr     x5, [x1, x4]
        add     x0, x0, x5
        add     x4, x4, #8
        cmp     x4, #LOOP_BUF_SIZE
        b.lo    3b
        hvc     #0

        shared_page loop_buf
        .if HAZARD_FIRST
        shared_page hf_buf
        .endif
