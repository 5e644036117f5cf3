// bench-mix: a less regular benchmark workload (issue 5) at EL1, MMU and caches on, stage 2 active,
// over an 8 MB data area mapped with 2 MB blocks (big_area, map_blocks). No hazard: every access is
// Normal Write-Back on both stages, by one vCPU, and the cache maintenance is by VA to the PoC on
// Write-Back data (DC CVAC, DC CIVAC), which never loses or hides anything.
//
// mix_area (8 MB):  src (2 MB) | dst (2 MB) | ring (4 MB: 65536 nodes of 64 bytes, one per line)
//
// Setup (once): fill src with a pattern (stp, 16 bytes at a time); link the ring nodes into one
// cycle in random order (each node's first word points to the next node: Sattolo's shuffle driven
// by xorshift64, so the order is a single cycle through all nodes).
// Then ROUNDS rounds, each:
//   1. copy 1 MB from src + a per-round offset to dst + another per-round offset (memcpy-like:
//      ldp/ldp/stp/stp, 32 bytes per iteration);
//   2. DC CVAC over the copied destination range, every fourth round DC CIVAC over the source
//      range too, then DSB;
//   3. a quarter lap of the pointer chase (16384 dependent loads, each to a random line of the
//      4 MB ring; a full lap every fourth round must come back to node 0).
// Under bare QEMU the chase dominates the time (about 170 ns a step: with 1024 pages in play, nearly
// every step misses QEMU's software TLB and walks both stages); the copy runs at about 1 ns an access.
// Finally EL1 checks the last copy's first and last word against the source and returns 0, or an
// error code that EL2 reports as FAIL.
//   ROUNDS  number of rounds (a multiple of 4); set with --defsym by the manifest

        .include "guest.inc"
        .arch   armv8.8-a
        .arch_extension mops
        .ifndef MOPS
        .equ    MOPS, 0
        .endif
        .ifndef ROUNDS
        .equ    ROUNDS, 8
        .endif
        .equ    MIX_SIZE,       4 * BLOCK_SIZE
        .equ    SRC_OFF,        0
        .equ    DST_OFF,        BLOCK_SIZE
        .equ    RING_OFF,       2 * BLOCK_SIZE
        .equ    RING_SIZE,      2 * BLOCK_SIZE
        .equ    NODE_SIZE,      64
        .equ    NODES,          RING_SIZE / NODE_SIZE
        .equ    CHASE_STEPS,    NODES / 4       // a full lap every fourth round
        .equ    COPY_LEN,       0x100000
        .equ    OFF_MASK,       0xfffc0         // per-round offsets: 64-byte aligned, below 1 MB

        .section .text.el2, "ax"
        glabel  scenario_tables
        map_blocks el1_l2, mix_area, mix_area, MIX_SIZE, S1_EL1_WB
        map_blocks s2_l2, mix_area, mix_area, MIX_SIZE, S2_WB
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        .if MOPS
        mov     x0, #(1 << 11)          // HCRX_EL2.MSCEn: FEAT_MOPS at EL1
        msr     s3_4_c1_c2_2, x0
        isb
        .endif
        guest_regimes_on                // stage 2 (HCR_GUEST) and the EL1 regime, MMU and caches on
        adr_l   x0, el1_mix
        bl      run_el1
        cbnz    x0, 1f
        ldp     x29, x30, [sp], #16
        ret
1:      mov     x1, x0
        adr_l   x0, msg_check
        b       guest_fail

        .section .rodata, "a"
msg_check:      .asciz  "bench-mix: check failed (1 = ring not one cycle, 2 = copy mismatch)"

        .section .text.el1, "ax"
// Registers: x19 = src, x20 = dst, x21 = ring, x22 = round, x23 = chase pointer, x24 = rng state,
// x25/x26 = this round's source/destination offsets.
        glabel  el1_mix
        adr_l   x19, mix_area + SRC_OFF
        adr_l   x20, mix_area + DST_OFF
        adr_l   x21, mix_area + RING_OFF

// Fill src: word pair (i, ~i) at 16 * i.
        mov     x0, x19
        mov     x1, #0
        mov64   x3, BLOCK_SIZE / 16
1:      mvn     x2, x1
        stp     x1, x2, [x0], #16
        add     x1, x1, #1
        cmp     x1, x3
        b.lo    1b

// Ring: node i points to itself, then Sattolo: for i = NODES-1 .. 1, j = rand % i, swap next[i], next[j].
        mov     x0, x21
        mov64   x3, NODES
        mov     x1, #0
2:      add     x2, x21, x1, lsl #6
        str     x2, [x2]
        add     x1, x1, #1
        cmp     x1, x3
        b.lo    2b
        mov64   x24, 0x9e3779b97f4a7c15
        sub     x1, x3, #1              // i
3:      eor     x24, x24, x24, lsl #13  // xorshift64
        eor     x24, x24, x24, lsr #7
        eor     x24, x24, x24, lsl #17
        udiv    x2, x24, x1
        msub    x2, x2, x1, x24         // j = rand % i, 0 <= j < i
        add     x4, x21, x1, lsl #6     // &node[i]
        add     x5, x21, x2, lsl #6     // &node[j]
        ldr     x6, [x4]
        ldr     x7, [x5]
        str     x7, [x4]
        str     x6, [x5]
        subs    x1, x1, #1
        b.ne    3b

        mov     x22, #0
        mov     x23, x21                // the chase starts at node 0
round:
// 1. copy COPY_LEN bytes: src + x25 -> dst + x26.
        mov     x0, #0x1040
        mul     x25, x22, x0
        and     x25, x25, #OFF_MASK
        mov     x0, #0x2a80
        mul     x26, x22, x0
        and     x26, x26, #OFF_MASK
        add     x0, x19, x25
        add     x1, x20, x26
        .if MOPS
        mov64   x2, COPY_LEN            // one FEAT_MOPS memcpy (-mops variants): a step per page
        cpyfp   [x1]!, [x0]!, x2!
        cpyfm   [x1]!, [x0]!, x2!
        cpyfe   [x1]!, [x0]!, x2!
        .else
        mov64   x2, COPY_LEN / 32
4:      ldp     x3, x4, [x0], #16
        ldp     x5, x6, [x0], #16
        stp     x3, x4, [x1], #16
        stp     x5, x6, [x1], #16
        subs    x2, x2, #1
        b.ne    4b
        .endif
// 2. clean the copied destination to the PoC; every fourth round clean+invalidate the source.
        add     x0, x20, x26
        mov64   x2, COPY_LEN / 64
5:      dc      cvac, x0
        add     x0, x0, #64
        subs    x2, x2, #1
        b.ne    5b
        and     x0, x22, #3
        cmp     x0, #3
        b.ne    7f
        add     x0, x19, x25
        mov64   x2, COPY_LEN / 64
6:      dc      civac, x0
        add     x0, x0, #64
        subs    x2, x2, #1
        b.ne    6b
7:      dsb     ish
// 3. a quarter of a lap of the ring; after every fourth round the chase must be back at node 0.
        mov64   x2, CHASE_STEPS
8:      ldr     x23, [x23]
        subs    x2, x2, #1
        b.ne    8b
        and     x0, x22, #3
        cmp     x0, #3
        b.ne    10f
        mov     x0, #1
        cmp     x23, x21
        b.ne    9f                      // not back at node 0: the ring is not one cycle
10:     add     x22, x22, #1
        mov64   x0, ROUNDS
        cmp     x22, x0
        b.lo    round

// The last copy: first and last word of the destination equal the source's.
        mov     x0, #2
        add     x1, x19, x25
        add     x2, x20, x26
        ldr     x3, [x1]
        ldr     x4, [x2]
        cmp     x3, x4
        b.ne    9f
        mov64   x5, COPY_LEN - 8
        ldr     x3, [x1, x5]
        ldr     x4, [x2, x5]
        cmp     x3, x4
        b.ne    9f
        mov     x0, #0
9:      hvc     #0

        big_area mix_area, MIX_SIZE
