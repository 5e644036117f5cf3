// 16-code-and-literal: code and the data it loads share a line. The host (EL2) writes a two-instruction
// routine (LDR w0, <literal>; RET) into a code buffer and makes it visible to instruction fetches (DC CVAU,
// DSB ISH, IC IVAU, DSB ISH, ISB), then stores through the data side, with no further maintenance, and
// calls the routine. Seen in Linux's boot: __relocate_kernel patches the literal pool of __primary_switch,
// whose instructions in the same line then run (docs/findings.md).
//   FIXED=0  the store rewrites the LDR (into MOV w0, #42): the fetch can see the old instruction
//            -> stale-ifetch.
//   FIXED=1  the store writes the literal (42), 0x30 bytes further in the line; the routine's instructions
//            are unchanged and the literal is read through the data side -> nothing (a model that judged
//            whole lines would report a stale fetch).

        .include "guest.inc"

        // LDR w0, #0x30 (literal, relative to the LDR itself: imm19 = 0x30 / 4)
        .equ    INSN_LDR_W0_LIT, 0x18000000 | ((0x30 / 4) << 5)
        .equ    INSN_RET,        0xd65f03c0
        .equ    INSN_MOV_W0_42,  0x52800540

        .section .text.el2, "ax"
        glabel  scenario_tables
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        adr_l   x19, code_buf
        mov64   x1, (INSN_RET << 32) | INSN_LDR_W0_LIT
        str     x1, [x19]
        mov     w1, #7
        str     w1, [x19, #0x30]        // the literal's first value
        dc      cvau, x19
        dsb     ish
        ic      ivau, x19
        dsb     ish
        isb
        .if FIXED
        mov     w1, #42
        glabel  el2_write
        str     w1, [x19, #0x30]        // data: the literal
        .else
        mov64   x1, INSN_MOV_W0_42
        glabel  el2_write
        str     w1, [x19]               // code: the first instruction, without DC CVAU / IC IVAU
        .endif
        dsb     ish
        mov     w0, #0
        blr     x19
        cmp     w0, #42
        b.eq    1f
        mov     x1, x0
        adr_l   x0, msg_bad_code
        b       guest_fail
1:      ldp     x29, x30, [sp], #16
        ret

        .section .rodata, "a"
msg_bad_code:   .asciz "code buffer returned the wrong value"

        shared_page code_buf
