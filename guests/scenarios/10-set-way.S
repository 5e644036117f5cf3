// 10-set-way: the host (EL2) writes the buffer through its WB mapping, then "cleans" the data caches
// with a DC CISW loop over every set and way of every data/unified level up to the Level of
// Coherency (from CLIDR_EL1/CCSIDR_EL1), and the guest reads the buffer through a Normal-NC
// mapping. Set/way operations are for power management, not for coherency: another agent (or a
// speculative refill) can move the line around during the loop, so only VA maintenance to the PoC
// is a guarantee -> set-way-maintenance (the underlying hazard is a dirty-bypass).
//   FIXED=1  DC CIVAC by VA on the buffer instead of the set/way loop.

        .include "guest.inc"

        .section .text.el2, "ax"
        glabel  scenario_tables
        map_el1 shared_buf, shared_buf, S1_EL1_NC
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        guest_regimes_on                // stage 2 (HCR_GUEST) and the EL1 regime, MMU and caches on
        adr_l   x19, shared_buf
        mov64   x1, 0x1010101010101010
        glabel  el2_write
        str     x1, [x19]
        .if FIXED
        dc      civac, x19
        dsb     sy
        .else
        bl      dcache_cisw_all
        .endif
        adr_l   x0, el1_main
        bl      run_el1
        ldp     x29, x30, [sp], #16
        ret

// dcache_cisw_all: clean and invalidate every data or unified cache level below the LoC, by set
// and way (the classic "flush all" loop). Handles both CCSIDR_EL1 layouts (FEAT_CCIDX or not).
// Leaf; clobbers x0-x11.
dcache_cisw_all:
        dsb     sy
        mrs     x0, clidr_el1
        ubfx    x3, x0, #24, #3         // LoC
        cbz     x3, 9f
        mrs     x8, id_aa64mmfr2_el1
        ubfx    x8, x8, #20, #4         // CCIDX: 64-bit CCSIDR_EL1 layout
        mov     x10, #0                 // level << 1
1:      add     x2, x10, x10, lsr #1    // 3 * level
        lsr     x1, x0, x2
        and     x1, x1, #7              // Ctype<level+1>
        cmp     x1, #2
        b.lt    8f                      // no data cache at this level
        msr     csselr_el1, x10
        isb
        mrs     x1, ccsidr_el1
        and     x2, x1, #7
        add     x2, x2, #4              // log2(line size in bytes)
        cbz     x8, 2f
        ubfx    x4, x1, #3, #21         // ways - 1
        ubfx    x7, x1, #32, #24        // sets - 1
        b       3f
2:      ubfx    x4, x1, #3, #10
        ubfx    x7, x1, #13, #15
3:      clz     w5, w4                  // the way field sits at the top of bits 31:0
4:      mov     x9, x4
5:      lsl     x6, x9, x5
        orr     x11, x10, x6
        lsl     x6, x7, x2
        orr     x11, x11, x6
        glabel  el2_dc_cisw
        dc      cisw, x11
        subs    x9, x9, #1
        b.ge    5b
        subs    x7, x7, #1
        b.ge    4b
8:      add     x10, x10, #2
        cmp     x3, x10, lsr #1
        b.gt    1b
9:      dsb     sy
        isb
        ret

        .section .text.el1, "ax"
el1_main:
        adr_l   x1, shared_buf
        glabel  el1_read
        ldr     x2, [x1]                // Normal-NC
        hvc     #0

        shared_page shared_buf
