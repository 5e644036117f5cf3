// 14-smp4-hammer (-smp 4): all four vCPUs hammer shared Write-Back lines, then three of them each
// write a line Normal-NC while vCPU 0 holds clean WB copies of those lines (issue 6: MTTCG with
// several vCPUs loses or duplicates no event, and cross-vCPU hazards are still reported exactly).
//
// Everything runs at EL2 with the shared EL2 stage-1 tables. vCPU 0 first reads the three lines of
// xbuf (xbuf+0x00, +0x40, +0x80) WB, so clean copies of them really exist, then starts vCPUs 1..3
// with PSCI CPU_ON (context = the vCPU index; they enter at EL2 with the MMU off, turn it on before
// touching memory, and use no stack). Each secondary sets its ready flag and waits for the go flag;
// vCPU 0 waits until all are ready and sets go, so the four hammer loops overlap.
//
// Hammer: every vCPU runs `hammer` (one routine, one pair of PCs for all): HAMMER_ITERS iterations,
// iteration i loads (hammer_ld) and stores (hammer_st) the vCPU's own 8-byte word of line i % 4 of
// hammer_lines (4 lines, each holding one word of every vCPU: all four vCPUs hammer all four lines),
// incrementing it. Then it stores its iteration count to hammer_counts[vCPU]. All WB: no hazard.
//
// Cross-vCPU part: vCPU N (N = 1..3) writes line N-1 of xbuf through the EL2 Normal-NC alias
// (xbuf + ALIAS_OFFSET) at cpuN_write (three distinct instructions), DSB, store-release of its done
// flag, then CPU_OFF. vCPU 0, after its own hammer, load-acquires the three done flags and reads the
// three lines WB at cpu0_read1, cpu0_read2, cpu0_read3 -> three stale-reads (cpu0_readN <- cpuN_write).
//   FIXED=1  vCPU 0 invalidates the three lines (DC IVAC) after the flags, before reading: none.
//
// Finally vCPU 0 checks hammer_counts[0..3] == HAMMER_ITERS and that each vCPU's words of the four
// lines add up to HAMMER_ITERS, and prints, before the PASS line,
//   cohtrace-counts: N0 N1 N2 N3
// (hammer_counts[0..3] in decimal, single spaces). The flags and counters live in the EL2 data page,
// accessed WB by every vCPU (coherent: no hazard).

        .include "guest.inc"
        .ifndef HAMMER_ITERS
        .equ    HAMMER_ITERS, 100000
        .endif
        .equ    NCPUS,          4
        .equ    HAMMER_LINES,   4               // a power of two

        .section .text.el2, "ax"
        glabel  scenario_tables
        map_el2 xbuf + ALIAS_OFFSET, xbuf, S1_EL2_NC    // the secondaries' view of xbuf
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        mov     x29, sp
        adr_l   x19, xbuf
        glabel  cpu0_prime
        ldr     x0, [x19, #0x00]        // clean WB copies of the three lines on vCPU 0's side
        ldr     x0, [x19, #0x40]
        ldr     x0, [x19, #0x80]

        mov     x20, #1
1:      mov64   x0, PSCI_CPU_ON_64
        mov     x1, x20                 // target MPIDR: Aff0 = N
        adr_l   x2, secondary_entry     // entry PA, at EL2 with the MMU off
        mov     x3, x20                 // context: x0 at the entry = N
        smc     #0
        cbnz    x0, fail_cpu_on
        add     x20, x20, #1
        cmp     x20, #NCPUS
        b.lo    1b

        adr_l   x21, cpu_ready          // wait until vCPUs 1..3 are ready, then go
        mov     x20, #1
2:      add     x0, x21, x20, lsl #2
        ldar    w0, [x0]
        cbz     w0, 2b
        add     x20, x20, #1
        cmp     x20, #NCPUS
        b.lo    2b
        adr_l   x0, cpu_go
        mov     w1, #1
        stlr    w1, [x0]
        sev

        mov     x0, #0
        bl      hammer

        adr_l   x21, cpu_done           // wait for the three NC writes
        mov     x20, #1
3:      add     x0, x21, x20, lsl #2
        ldar    w0, [x0]
        cbz     w0, 3b
        add     x20, x20, #1
        cmp     x20, #NCPUS
        b.lo    3b
        .if FIXED
        add     x0, x19, #0x40
        add     x1, x19, #0x80
        dc      ivac, x19               // drop the stale copies: the reads refill from the PoC
        dc      ivac, x0
        dc      ivac, x1
        dsb     sy
        .endif
        glabel  cpu0_read1
        ldr     x0, [x19, #0x00]
        glabel  cpu0_read2
        ldr     x0, [x19, #0x40]
        glabel  cpu0_read3
        ldr     x0, [x19, #0x80]
        // nothing touches xbuf again

// Guest-side checks: every count is HAMMER_ITERS, and so is each vCPU's sum over the lines.
        adr_l   x21, hammer_counts
        adr_l   x22, hammer_lines
        mov64   x23, HAMMER_ITERS
        mov     x20, #0
4:      ldr     x1, [x21, x20, lsl #3]
        cmp     x1, x23
        b.ne    fail_count
        mov     x2, #0                  // sum of word x20 over the lines
        mov     x3, #0
5:      add     x4, x22, x3, lsl #6
        ldr     x4, [x4, x20, lsl #3]
        add     x2, x2, x4
        add     x3, x3, #1
        cmp     x3, #HAMMER_LINES
        b.lo    5b
        mov     x1, x2
        cmp     x2, x23
        b.ne    fail_sum
        add     x20, x20, #1
        cmp     x20, #NCPUS
        b.lo    4b

// "cohtrace-counts: N0 N1 N2 N3\n"
        adr_l   x0, msg_counts
        bl      uart_puts
        mov     x20, #0
6:      ldr     x0, [x21, x20, lsl #3]
        bl      put_dec
        add     x20, x20, #1
        cmp     x20, #NCPUS
        b.hs    7f
        adr_l   x0, msg_space
        bl      uart_puts
        b       6b
7:      adr_l   x0, msg_newline14
        bl      uart_puts
        ldp     x29, x30, [sp], #16
        ret

fail_cpu_on:
        mov     x1, x0
        adr_l   x0, msg_cpu_on
        b       guest_fail
fail_count:
        adr_l   x0, msg_count
        b       guest_fail
fail_sum:
        adr_l   x0, msg_sum
        b       guest_fail

// put_dec(x0): the unsigned value in decimal, on the UART. Uses 32 bytes of stack (vCPU 0 only);
// clobbers x0-x8.
put_dec:
        mov     x8, x30
        sub     sp, sp, #32
        add     x6, sp, #31
        strb    wzr, [x6]
        mov     x7, #10
1:      udiv    x4, x0, x7
        msub    x5, x4, x7, x0
        add     x5, x5, #'0'
        strb    w5, [x6, #-1]!
        mov     x0, x4
        cbnz    x0, 1b
        mov     x0, x6
        bl      uart_puts
        add     sp, sp, #32
        ret     x8

// hammer(x0 = vCPU index): the shared loop, run by all four vCPUs. Leaf, no stack; clobbers x9-x14.
        glabel  hammer
        adr_l   x9, hammer_lines
        lsl     x10, x0, #3             // this vCPU's word in each line
        mov64   x11, HAMMER_ITERS
        mov     x12, #0                 // iterations done
1:      and     x13, x12, #(HAMMER_LINES - 1)
        add     x13, x9, x13, lsl #6    // line i % HAMMER_LINES
        glabel  hammer_ld
        ldr     x14, [x13, x10]
        add     x14, x14, #1
        glabel  hammer_st
        str     x14, [x13, x10]
        add     x12, x12, #1
        cmp     x12, x11
        b.lo    1b
        adr_l   x13, hammer_counts
        str     x12, [x13, x0, lsl #3]  // the guest-side counter
        ret

// vCPUs 1..3, x0 = N (the CPU_ON context).
secondary_entry:
        mov     x19, x0
        mrs     x0, CurrentEL
        cmp     x0, #(2 << 2)
        b.ne    9f
        adr_l   x0, el2_vectors
        msr     vbar_el2, x0
        isb
        bl      el2_mmu_on              // the tables vCPU 0 built: no memory access before this
        adr_l   x0, cpu_ready
        add     x0, x0, x19, lsl #2
        mov     w1, #1
        stlr    w1, [x0]                // ready
        adr_l   x0, cpu_go
1:      ldar    w1, [x0]
        cbnz    w1, 2f
        wfe
        b       1b
2:      mov     x0, x19
        bl      hammer
// Write line N-1 of xbuf through the NC alias: one store instruction per vCPU.
        adr_l   x1, xbuf + ALIAS_OFFSET
        mov64   x2, 0x1414141414141414
        cmp     x19, #2
        b.eq    3f
        b.hi    4f
        glabel  cpu1_write
        str     x2, [x1, #0x00]
        b       5f
3:
        glabel  cpu2_write
        str     x2, [x1, #0x40]
        b       5f
4:
        glabel  cpu3_write
        str     x2, [x1, #0x80]
5:      dsb     sy
        adr_l   x0, cpu_done
        add     x0, x0, x19, lsl #2
        mov     w1, #1
        stlr    w1, [x0]                // done
        mov64   x0, PSCI_CPU_OFF
        smc     #0
6:      wfi
        b       6b
9:      mov     x1, x0
        adr_l   x0, msg_cpu_el
        b       guest_fail

        .section .rodata, "a"
msg_counts:     .asciz  "cohtrace-counts: "
msg_space:      .asciz  " "
msg_newline14:  .asciz  "\n"
msg_cpu_on:     .asciz  "PSCI CPU_ON failed"
msg_cpu_el:     .asciz  "secondary vCPU not entered at EL2, CurrentEL"
msg_count:      .asciz  "hammer_counts[i] != HAMMER_ITERS, count"
msg_sum:        .asciz  "a vCPU's words of hammer_lines do not add up to HAMMER_ITERS, sum"

// Flags and counters: EL2 data page, WB on every vCPU.
        .section .data.el2, "aw"
        .balign 64
        glabel  cpu_ready
        .word   0, 0, 0, 0              // [N] set by vCPU N (1..3) once its MMU is on
        glabel  cpu_done
        .word   0, 0, 0, 0              // [N] set by vCPU N after its NC write
        glabel  cpu_go
        .word   0                       // set by vCPU 0: start hammering
        .balign 64
        glabel  hammer_counts
        .quad   0, 0, 0, 0              // [N] = vCPU N's iterations of the hammer loop

        shared_page hammer_lines        // 4 lines x 4 words (one per vCPU), WB
        shared_page xbuf                // the three lines of the cross-vCPU part
