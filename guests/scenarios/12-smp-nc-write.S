// 12-smp-nc-write (-smp 2): vCPU 1 writes the buffer Normal-NC while vCPU 0 holds a clean WB copy of
// it (from a read before it started vCPU 1), then vCPU 0 reads it through its WB mapping ->
// stale-read (observer vCPU 0's read, cause vCPU 1's write).
//   FIXED=1  vCPU 0 invalidates the line (DC IVAC) after seeing the flag, before reading.
//
// Both vCPUs run at EL2 with the same EL2 stage-1 tables: vCPU 0 uses the identity WB mapping of
// the buffer, vCPU 1 an NC alias of it (VA = PA + ALIAS_OFFSET). vCPU 1 is started with PSCI
// CPU_ON over SMC and enters at EL2 with its MMU off; it turns its MMU on before touching memory.
// They synchronise through cpu1_done, a flag in the EL2 data page that both access WB (one
// coherent domain, so no hazard there): vCPU 1 writes the buffer, DSB, store-release of the flag;
// vCPU 0 load-acquires the flag until it is set.

        .include "guest.inc"

        .section .text.el2, "ax"
        glabel  scenario_tables
        map_el2 shared_buf + ALIAS_OFFSET, shared_buf, S1_EL2_NC        // vCPU 1's view
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        adr_l   x19, shared_buf
        glabel  cpu0_prime
        ldr     x0, [x19]               // clean WB copy on vCPU 0's side
        mov64   x0, PSCI_CPU_ON_64
        mov     x1, #1                  // target MPIDR: Aff0 = 1
        adr_l   x2, cpu1_entry          // entry PA, at EL2 with the MMU off
        mov     x3, #0                  // context (x0 at the entry)
        smc     #0
        cbnz    x0, 2f
        adr_l   x20, cpu1_done
1:      ldar    w0, [x20]
        cbz     w0, 1b
        .if FIXED
        dc      ivac, x19
        dsb     sy
        .endif
        glabel  cpu0_read
        ldr     x0, [x19]
        ldp     x29, x30, [sp], #16
        ret
2:      mov     x1, x0
        adr_l   x0, msg_cpu_on
        b       guest_fail

cpu1_entry:
        mrs     x0, CurrentEL
        cmp     x0, #(2 << 2)
        b.ne    3f
        adr_l   x0, el2_vectors
        msr     vbar_el2, x0
        isb
        bl      el2_mmu_on              // the tables vCPU 0 built: no memory access before this
        adr_l   x0, el2_stack1_top
        mov     sp, x0
        adr_l   x1, shared_buf + ALIAS_OFFSET
        mov64   x2, 0x1212121212121212
        glabel  cpu1_write
        str     x2, [x1]                // Normal-NC, around vCPU 0's copy
        dsb     sy
        adr_l   x3, cpu1_done
        mov     w4, #1
        stlr    w4, [x3]
        mov64   x0, PSCI_CPU_OFF
        smc     #0
4:      wfi
        b       4b
3:      mov     x1, x0
        adr_l   x0, msg_cpu1_el
        b       guest_fail

        .section .rodata, "a"
msg_cpu_on:     .asciz "PSCI CPU_ON failed"
msg_cpu1_el:    .asciz "vCPU 1 not entered at EL2, CurrentEL"

        .section .data.el2, "aw"
        .balign 64
        glabel  cpu1_done
        .word   0

        shared_page shared_buf
