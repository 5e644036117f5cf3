// 09-stale-ifetch: the host (EL2) writes two instructions into a code buffer through the data side
// (one WB store: the line is dirty in the data cache) and branches to it without making the data
// and instruction sides coherent -> stale-ifetch, observer the first instruction of the buffer,
// cause the store.
//   FIXED=1  DC CVAU, DSB ISH, IC IVAU, DSB ISH, ISB before the branch.
// The buffer has a page of its own, mapped Normal WB and executable at EL2 (the default).
// (QEMU's -cpu max advertises CTR_EL0.IDC=DIC=1, which would make the maintenance unnecessary on
// such a CPU; the model does not take that shortcut, and neither does portable code.)

        .include "guest.inc"

        .equ    INSN_MOV_W0_42, 0x52800540      // movz w0, #42
        .equ    INSN_RET,       0xd65f03c0      // ret

        .section .text.el2, "ax"
        glabel  scenario_tables
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        adr_l   x19, code_buf
        mov64   x1, (INSN_RET << 32) | INSN_MOV_W0_42
        glabel  el2_write_code
        str     x1, [x19]               // both instructions, one store
        .if FIXED
        dc      cvau, x19
        dsb     ish
        ic      ivau, x19
        dsb     ish
        isb
        .endif
        mov     w0, #0
        blr     x19                     // fetches code_buf, then code_buf + 4
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
