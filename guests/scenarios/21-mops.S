// 21-mops: FEAT_MOPS memset and memcpy (SETP/SETM/SETE, CPYFP/CPYFM/CPYFE) by the EL1 guest. QEMU
// performs both through host pointers with no plugin memory callback; qemu-patches/0004 reports each
// step as a range (docs/model.md, "Accesses QEMU performs without telling plugins").
//   OP=0  memset: the host (EL2) reads the buffer once (a clean WB copy is cached), the guest fills
//         one line with SET* through a Normal-NC mapping (straight to memory), the host reads again
//         through its WB mapping and hits the stale copy -> stale-read.
//         FIXED=1: the host invalidates the line (DC IVAC) before reading again.
//   OP=1  memcpy: the host writes the source through its WB mapping (dirty in its cache); the guest
//         copies it with CPYF* through a Normal-NC view of the source, which reads memory and misses
//         the dirty data -> dirty-bypass, observer the copy's read.
//         FIXED=1: the host cleans the source (DC CVAC) before running the guest.

        .include "guest.inc"
        .arch   armv8.8-a
        .arch_extension mops
        .ifndef OP
        .equ    OP, 0
        .endif
        .equ    HCRX_MSCEN,     (1 << 11)       // HCRX_EL2.MSCEn: MOPS enabled at EL1 and EL0

        .section .text.el2, "ax"
        glabel  scenario_tables
        map_el1 shared_buf, shared_buf, S1_EL1_NC       // the guest's view: Normal-NC
        map_el1 dst_buf, dst_buf, S1_EL1_WB             // the copy's destination: WB
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        mov     x0, #HCRX_MSCEN
        msr     s3_4_c1_c2_2, x0                // HCRX_EL2
        isb
        guest_regimes_on
        adr_l   x19, shared_buf
        .if OP == 0
        glabel  el2_prime
        ldr     x0, [x19]                       // a clean WB copy of the line
        .else
        mov64   x1, 0x0707070707070707
        glabel  el2_write
        str     x1, [x19]                       // the source, dirty in the host's cache
        .if FIXED
        dc      cvac, x19
        .endif
        dsb     sy
        .endif
        adr_l   x0, el1_main
        bl      run_el1
        .if OP == 0
        .if FIXED
        dc      ivac, x19
        dsb     sy
        .endif
        glabel  el2_read
        ldr     x0, [x19]
        .endif
        ldp     x29, x30, [sp], #16
        ret

        .section .text.el1, "ax"
el1_main:
        .if OP == 0
        adr_l   x0, shared_buf                  // destination
        mov     x1, #64                         // one line
        mov     x2, #0x5a                       // the byte
        glabel  el1_setp
        setp    [x0]!, x1!, x2
        glabel  el1_setm
        setm    [x0]!, x1!, x2
        glabel  el1_sete
        sete    [x0]!, x1!, x2
        .else
        adr_l   x0, dst_buf
        adr_l   x3, shared_buf                  // source, through the NC view
        mov     x1, #64
        glabel  el1_cpyp
        cpyfp   [x0]!, [x3]!, x1!
        glabel  el1_cpym
        cpyfm   [x0]!, [x3]!, x1!
        glabel  el1_cpye
        cpyfe   [x0]!, [x3]!, x1!
        .endif
        dsb     sy
        hvc     #0

        shared_page shared_buf
        shared_page dst_buf
