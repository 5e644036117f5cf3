// prelude.S - the code every scenario guest shares: EL2 entry, exception vectors for EL2 and EL1,
// translation tables for the three regimes, the EL2 <-> EL1 round trip, UART output and exit.
//
// Boot flow (CPU 0, entered at EL2 with every MMU off):
//   _start -> pt_init           build the tables of all three regimes with their defaults
//          -> scenario_tables   (scenario) override individual pages (map_el2/map_el1/map_s2 ...)
//          -> el2_mmu_on        EL2 stage 1 on (Normal WB everywhere but the UART)
//          -> scenario_main     (scenario) the flow; typically stage2_on, el1_regime_on, run_el1
//          -> PASS line, semihosting exit 0
// Everything before el2_mmu_on runs without a stack and touches only the page-table pages (with
// Device type, because the MMU is off, and before anything could have cached them). Nothing later
// writes these tables, so the table walks that read them (recorded since qemu-patches/0003) find
// memory current; scenarios 17-20 stage their walk hazards on tables of their own (walk_table).
//
// The failure path (guest_fail*) also needs no stack: it can run at any point.

        .include "guest.inc"

// =============================================================================================
// Entry
// =============================================================================================
        .section .text.boot, "ax"
        glabel  _start
        mrs     x0, CurrentEL
        cmp     x0, #(2 << 2)
        b.ne    not_at_el2
        adr_l   x0, el2_vectors
        msr     vbar_el2, x0
        isb
        bl      pt_init
        bl      scenario_tables
        bl      el2_mmu_on
        adr_l   x0, el2_stack0_top
        mov     sp, x0
        bl      scenario_main
        adr_l   x0, msg_pass
        bl      print_verdict           // "cohtrace-guest: <variant>: PASS"
        mov     x0, #0
        b       guest_exit

not_at_el2:
        mov     x20, x0
        adr_l   x0, msg_not_el2
        bl      print_verdict
        adr_l   x0, msg_currentel
        bl      uart_puts
        mov     x0, x20
        bl      uart_puthex
        b       fail_exit

// =============================================================================================
// Translation tables
// =============================================================================================
        .section .text.el2, "ax"

// pt_init: zero every table, then for each regime link L1 -> L2 -> L3, map 0-1 GB as Device and
// every page of the image identity with the regime's default: Normal WB at EL2 and EL1 stage 1,
// S2_WB at stage 2. Runs with the MMU off: no stack, clobbers x0-x15.
        .global pt_init
pt_init:
        mov     x15, x30
        adr_l   x0, __pt_start
        adr_l   x1, __pt_end
1:      stp     xzr, xzr, [x0], #16
        cmp     x0, x1
        b.lo    1b

        adr_l   x0, el2_l1
        adr_l   x1, el2_l2
        adr_l   x2, el2_l3
        mov64   x3, S1_EL2_DEV | 1
        mov64   x4, S1_EL2_WB | 3
        bl      pt_build_regime

        adr_l   x0, el1_l1
        adr_l   x1, el1_l2
        adr_l   x2, el1_l3
        mov64   x3, S1_EL1_DEV | 1
        mov64   x4, S1_EL1_WB | 3
        bl      pt_build_regime

        adr_l   x0, s2_l1
        adr_l   x1, s2_l2
        adr_l   x2, s2_l3
        mov64   x3, S2_DEV | 1
        mov64   x4, S2_WB | 3
        bl      pt_build_regime
        dsb     sy                      // the tables are complete before any walk
        ret     x15

// pt_build_regime(x0 = L1, x1 = L2, x2 = L3 (two pages), x3 = L1[0] block descriptor for
// 0x00000000, x4 = page descriptor bits for the image pages). Leaf; clobbers x5-x9.
pt_build_regime:
        str     x3, [x0]                // L1[0]: 0 - 1 GB, Device (UART)
        orr     x5, x1, #3
        str     x5, [x0, #8]            // L1[1]: 1 - 2 GB -> L2
        orr     x5, x2, #3
        str     x5, [x1]                // L2[0]: 0x40000000 - 0x401fffff -> L3 page 0
        add     x5, x2, #PAGE_SIZE
        orr     x5, x5, #3
        str     x5, [x1, #8]            // L2[1]: 0x40200000 - 0x403fffff -> L3 page 1 (aliases)
        adr_l   x6, __image_start
        adr_l   x7, __image_end
        movz    x8, #(RAM_BASE >> 16), lsl #16
1:      sub     x9, x6, x8
        lsr     x9, x9, #12
        orr     x5, x6, x4
        str     x5, [x2, x9, lsl #3]
        add     x6, x6, #PAGE_SIZE
        cmp     x6, x7
        b.lo    1b
        ret

// el2_mmu_on: EL2 stage 1 on with the shared EL2 tables (also used by secondary CPUs). Leaf,
// no stack, clobbers x0.
        .global el2_mmu_on
el2_mmu_on:
        mov64   x0, MAIR_VALUE
        msr     mair_el2, x0
        mov64   x0, TCR_EL2_VALUE
        msr     tcr_el2, x0
        adr_l   x0, el2_l1
        msr     ttbr0_el2, x0
        isb
        tlbi    alle2
        dsb     ish
        isb
        mov64   x0, SCTLR_EL2_ON
        msr     sctlr_el2, x0
        isb
        ret

// stage2_on(x0 = HCR_EL2 value, normally HCR_GUEST possibly | HCR_DC / HCR_FWB): program VTCR_EL2,
// VTTBR_EL2 (VMID GUEST_VMID) and HCR_EL2, and drop any stale stage-1+2 TLB entry of the VMID.
// Leaf, clobbers x1.
        .global stage2_on
stage2_on:
        mov64   x1, VTCR_EL2_VALUE
        msr     vtcr_el2, x1
        adr_l   x1, s2_l1
        orr     x1, x1, #(GUEST_VMID << 48)
        msr     vttbr_el2, x1
        msr     hcr_el2, x0
        isb
        tlbi    vmalls12e1
        dsb     ish
        isb
        ret

// el1_regime_on(x0 = SCTLR_EL1 value: SCTLR_EL1_ON, SCTLR_EL1_OFF, or a variation): program the
// EL1&0 stage-1 regime (MAIR/TCR/TTBR0/SCTLR_EL1), the EL1 vectors and SP_EL1. Call after
// stage2_on (the TLB invalidation is by the current VMID). Leaf, clobbers x1.
        .global el1_regime_on
el1_regime_on:
        mov64   x1, MAIR_VALUE
        msr     mair_el1, x1
        mov64   x1, TCR_EL1_VALUE
        msr     tcr_el1, x1
        adr_l   x1, el1_l1
        msr     ttbr0_el1, x1
        adr_l   x1, el1_vectors
        msr     vbar_el1, x1
        adr_l   x1, el1_stack_top
        msr     sp_el1, x1
        msr     sctlr_el1, x0
        isb
        tlbi    vmalls12e1
        dsb     ish
        isb
        ret

// =============================================================================================
// EL2 <-> EL1 round trip
// =============================================================================================

// run_el1(x0 = EL1 entry point): ERET to EL1h (interrupts masked) at x0. The guest comes back
// with `hvc #0`; the EL2 lower-EL sync vector then resumes here and run_el1 returns the guest's
// x0. SP_EL2 is untouched while EL1 runs, so the saved frame is still on top of the stack.
        .global run_el1
run_el1:
        stp     x29, x30, [sp, #-96]!
        stp     x19, x20, [sp, #16]
        stp     x21, x22, [sp, #32]
        stp     x23, x24, [sp, #48]
        stp     x25, x26, [sp, #64]
        stp     x27, x28, [sp, #80]
        msr     elr_el2, x0
        mov     x1, #SPSR_EL1H
        msr     spsr_el2, x1
        eret
run_el1_return:
        ldp     x19, x20, [sp, #16]
        ldp     x21, x22, [sp, #32]
        ldp     x23, x24, [sp, #48]
        ldp     x25, x26, [sp, #64]
        ldp     x27, x28, [sp, #80]
        ldp     x29, x30, [sp], #96
        ret

// =============================================================================================
// EL2 exception vectors
// =============================================================================================
        .macro  el2_ventry target, offset
        .balign 128
        mov     x21, #\offset
        b       \target
        .endm

        .balign 2048
        .global el2_vectors
el2_vectors:
        el2_ventry el2_unexpected, 0x000        // current EL, SP_EL0
        el2_ventry el2_unexpected, 0x080
        el2_ventry el2_unexpected, 0x100
        el2_ventry el2_unexpected, 0x180
        el2_ventry el2_unexpected, 0x200        // current EL, SP_EL2
        el2_ventry el2_unexpected, 0x280
        el2_ventry el2_unexpected, 0x300
        el2_ventry el2_unexpected, 0x380
        el2_ventry el2_lower_sync, 0x400        // lower EL, AArch64: sync (HVC from the guest)
        el2_ventry el2_unexpected, 0x480
        el2_ventry el2_unexpected, 0x500
        el2_ventry el2_unexpected, 0x580
        el2_ventry el2_unexpected, 0x600        // lower EL, AArch32
        el2_ventry el2_unexpected, 0x680
        el2_ventry el2_unexpected, 0x700
        el2_ventry el2_unexpected, 0x780

// A synchronous exception from EL1: `hvc #0` is the guest's normal return, `hvc #1` comes from
// the EL1 vectors (x0 = ESR_EL1, x1 = ELR_EL1, x2 = vector offset, x3 = FAR_EL1); anything else
// (a stage-2 fault, an SMC trap...) is a failure.
el2_lower_sync:
        mrs     x9, esr_el2
        lsr     x10, x9, #26
        cmp     x10, #0x16              // EC 0x16: HVC from AArch64
        b.ne    el2_unexpected
        and     x10, x9, #0xffff
        cbz     x10, run_el1_return
        mov     x19, x0
        mov     x20, x1
        mov     x21, x2
        mov     x22, x3
        adr_l   x0, msg_el1_exc
        bl      print_verdict
        mov     x0, x21
        bl      uart_puthex
        adr_l   x0, msg_esr_el1
        bl      uart_puts
        mov     x0, x19
        bl      uart_puthex
        adr_l   x0, msg_elr_el1
        bl      uart_puts
        mov     x0, x20
        bl      uart_puthex
        adr_l   x0, msg_far_el1
        bl      uart_puts
        mov     x0, x22
        bl      uart_puthex
        b       fail_exit

// Any other exception taken to EL2 (x21 = vector offset).
el2_unexpected:
        adr_l   x0, msg_el2_exc
        bl      print_verdict
        mov     x0, x21
        bl      uart_puthex
        adr_l   x0, msg_esr_el2
        bl      uart_puts
        mrs     x0, esr_el2
        bl      uart_puthex
        adr_l   x0, msg_elr_el2
        bl      uart_puts
        mrs     x0, elr_el2
        bl      uart_puthex
        adr_l   x0, msg_far_el2
        bl      uart_puts
        mrs     x0, far_el2
        bl      uart_puthex
        b       fail_exit

// guest_fail(x0 = reason string, x1 = a value to show): for checks made by a scenario itself.
// Never returns; needs no stack.
        .global guest_fail
guest_fail:
        mov     x19, x0
        mov     x20, x1
        adr_l   x0, msg_fail
        bl      print_verdict
        mov     x0, x19
        bl      uart_puts
        adr_l   x0, msg_value
        bl      uart_puts
        mov     x0, x20
        bl      uart_puthex
        b       fail_exit

fail_exit:
        adr_l   x0, msg_newline
        bl      uart_puts
        mov     x0, #1
        b       guest_exit

// =============================================================================================
// Output and exit (all leaf, no stack: usable with the MMU off and from the failure paths)
// =============================================================================================

// uart_tx wreg: send one byte (x1 = UART base). Clobbers w3.
        .macro  uart_tx wreg
99:     ldr     w3, [x1, #UART_FR]
        tbnz    w3, #UART_FR_TXFF, 99b
        str     \wreg, [x1, #UART_DR]
        .endm

// print_verdict(x0 = tail): "cohtrace-guest: <variant_name>: " then the tail. Clobbers x0-x3,
// x17, x18.
print_verdict:
        mov     x18, x30
        mov     x17, x0
        adr_l   x0, msg_prefix
        bl      uart_puts
        adr_l   x0, variant_name        // generated by scripts/build-guests
        bl      uart_puts
        adr_l   x0, msg_colon
        bl      uart_puts
        mov     x0, x17
        bl      uart_puts
        ret     x18

// uart_puts(x0 = NUL-terminated string). Clobbers x0-x3.
        .global uart_puts
uart_puts:
        movz    x1, #(UART_BASE >> 16), lsl #16
1:      ldrb    w2, [x0], #1
        cbz     w2, 2f
        uart_tx w2
        b       1b
2:      ret

// uart_puthex(x0): "0x" and 16 hex digits. Clobbers x1-x5.
        .global uart_puthex
uart_puthex:
        movz    x1, #(UART_BASE >> 16), lsl #16
        mov     w2, #'0'
        uart_tx w2
        mov     w2, #'x'
        uart_tx w2
        mov     x4, #64
1:      sub     x4, x4, #4
        lsr     x2, x0, x4
        and     x2, x2, #0xf
        cmp     x2, #10
        add     x5, x2, #'0'
        add     x2, x2, #('a' - 10)
        csel    x2, x5, x2, lo
        uart_tx w2
        cbnz    x4, 1b
        ret

// guest_exit(x0 = status): semihosting SYS_EXIT (QEMU's exit code becomes the status); without
// -semihosting, fall back to PSCI SYSTEM_OFF.
        .global guest_exit
guest_exit:
        adr_l   x1, exit_block_pass
        cbz     x0, 1f
        adr_l   x1, exit_block_fail
1:      mov     w0, #SEMIHOST_SYS_EXIT
        hlt     #0xf000
        mov64   x0, PSCI_SYSTEM_OFF
        smc     #0
2:      wfi
        b       2b

// =============================================================================================
// EL1 vectors: every exception taken to EL1 is unexpected and is reported to EL2 with `hvc #1`.
// =============================================================================================
        .section .text.el1, "ax"
        .macro  el1_ventry offset
        .balign 128
        mrs     x0, esr_el1
        mrs     x1, elr_el1
        mov     x2, #\offset
        mrs     x3, far_el1
        hvc     #1
        .endm

        .balign 2048
        .global el1_vectors
el1_vectors:
        .irp    off, 0x000, 0x080, 0x100, 0x180, 0x200, 0x280, 0x300, 0x380, 0x400, 0x480, 0x500, 0x580, 0x600, 0x680, 0x700, 0x780
        el1_ventry \off
        .endr

// =============================================================================================
// Read-only data (in the EL2 code pages: only EL2 reads it, always with the same type)
// =============================================================================================
        .section .rodata, "a"
        .balign 16
exit_block_pass:
        .quad   ADP_STOPPED_APPLICATION_EXIT, 0
exit_block_fail:
        .quad   ADP_STOPPED_APPLICATION_EXIT, 1
msg_prefix:     .asciz  "cohtrace-guest: "
msg_colon:      .asciz  ": "
msg_pass:       .asciz  "PASS\n"
msg_fail:       .asciz  "FAIL "
msg_value:      .asciz  " value="
msg_newline:    .asciz  "\n"
msg_not_el2:    .asciz  "FAIL not entered at EL2"
msg_currentel:  .asciz  " CurrentEL="
msg_el2_exc:    .asciz  "FAIL unexpected exception at EL2 vector="
msg_el1_exc:    .asciz  "FAIL unexpected exception at EL1 vector="
msg_esr_el2:    .asciz  " ESR_EL2="
msg_elr_el2:    .asciz  " ELR_EL2="
msg_far_el2:    .asciz  " FAR_EL2="
msg_esr_el1:    .asciz  " ESR_EL1="
msg_elr_el1:    .asciz  " ELR_EL1="
msg_far_el1:    .asciz  " FAR_EL1="

// =============================================================================================
// Data, stacks and tables. Each group starts on its own page (see guest.ld).
// =============================================================================================
        .section .stack.el2, "aw", %nobits
        .balign PAGE_SIZE
        .space  PAGE_SIZE
        glabel  el2_stack0_top          // CPU 0
        .space  PAGE_SIZE
        glabel  el2_stack1_top          // CPU 1 (the SMP scenario)

        .section .stack.el1, "aw", %nobits
        .balign PAGE_SIZE
        .space  PAGE_SIZE
        glabel  el1_stack_top

        .section .pgtables, "aw", %nobits
        .balign PAGE_SIZE
        glabel  el2_l1
        .space  PAGE_SIZE
        glabel  el2_l2
        .space  PAGE_SIZE
        glabel  el2_l3
        .space  2 * PAGE_SIZE
        glabel  el1_l1
        .space  PAGE_SIZE
        glabel  el1_l2
        .space  PAGE_SIZE
        glabel  el1_l3
        .space  2 * PAGE_SIZE
        glabel  s2_l1
        .space  PAGE_SIZE
        glabel  s2_l2
        .space  PAGE_SIZE
        glabel  s2_l3
        .space  2 * PAGE_SIZE
