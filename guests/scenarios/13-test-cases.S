// 13-test-cases: the shape of a fuzzing harness. Three test cases between BEGIN/END markers
// (guests/common/markers.inc, docs/markers.md), each the scenario-01 exchange: the guest (EL1) writes
// the buffer through a Normal-NC mapping, the host (EL2) reads it through Write-Back.
//   case 1, case 3: the host invalidates the line to PoC before reading: correct.
//   case 2:         no maintenance: stale-read (observer case2_read, cause el1_write).
// The buffer is named "framebuffer" by a NAME marker, so reports say where they are. A second buffer
// has the same bug in every run but sits in a range a SUPPRESS marker silences.
//   FIXED=1  case 2 invalidates too: no hazard at all.
// Under model=online,on_hazard=exit the run stops at the END of case 2, before case 3.

        .include "guest.inc"
        .include "markers.inc"

        .section .text.el2, "ax"
        glabel  scenario_tables
        map_el1 shared_buf, shared_buf, S1_EL1_NC
        map_el1 quiet_buf, quiet_buf, S1_EL1_NC
        ret

// One exchange: prime the host's cache, run the guest writer x0, optionally invalidate, read.
        .macro  exchange buf, writer, invalidate, readlabel
        adr_l   x19, \buf
        ldr     x0, [x19]               // the host's clean WB copy
        adr_l   x0, \writer
        bl      run_el1
        .if \invalidate
        dc      ivac, x19
        dsb     sy
        .endif
        glabel  \readlabel
        ldr     x0, [x19]
        .endm

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        guest_regimes_on                // stage 2 (HCR_GUEST) and the EL1 regime, MMU and caches on
        cohtrace_name fb_name, shared_buf, PAGE_SIZE
        cohtrace_suppress quiet_buf, PAGE_SIZE

        cohtrace_begin 1
        exchange shared_buf, el1_write, 1, case1_read
        cohtrace_end 1

        cohtrace_begin 2
        exchange shared_buf, el1_write, FIXED, case2_read
        cohtrace_end 2

        cohtrace_begin 3
        adr_l   x19, shared_buf
        dc      civac, x19              // start from a clean slate: drop case 2's stale copy
        dsb     sy
        exchange shared_buf, el1_write, 1, case3_read
        cohtrace_end 3

        exchange quiet_buf, el1_write_quiet, 0, quiet_read    // suppressed
        ldp     x29, x30, [sp], #16
        ret

        .section .rodata
fb_name:
        .asciz  "framebuffer"

        .section .text.el1, "ax"
el1_write:
        adr_l   x1, shared_buf
        ldr     x2, [x1]                // (NC read: the guest's own view)
        add     x2, x2, #1
        glabel  el1_write_store
        str     x2, [x1]
        dsb     sy
        hvc     #0
el1_write_quiet:
        adr_l   x1, quiet_buf
        mov     x2, #7
        str     x2, [x1]
        dsb     sy
        hvc     #0

        shared_page shared_buf
        shared_page quiet_buf
