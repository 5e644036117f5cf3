// 01-nc-write-wb-read: the guest (EL1) writes a buffer through a Normal-NC stage-1 mapping; the host
// (EL2) reads it through its Write-Back mapping.
//
// The host reads the buffer once before running the guest, so a clean WB copy of the old data really
// is in its cache: the NC write goes to memory around it and the host's second read hits the stale
// copy (stale-read, in both model modes).
//   FIXED=1       the host invalidates the line to the PoC (DC IVAC) before reading again.
//   OTHER_LINE=1  the host's first read touches another line of the page instead: only the
//                 speculative model can assume the buffer's line was fetched into the cache.
// A NAME marker (docs/markers.md) calls the buffer "framebuffer" in the reports.

        .include "guest.inc"
        .include "markers.inc"
        .ifndef OTHER_LINE
        .equ    OTHER_LINE, 0
        .endif

        .section .text.el2, "ax"
        glabel  scenario_tables
        map_el1 shared_buf, shared_buf, S1_EL1_NC       // the guest's view: Normal-NC
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        guest_regimes_on                // stage 2 (HCR_GUEST) and the EL1 regime, MMU and caches on
        cohtrace_name fb_name, shared_buf, PAGE_SIZE   // reports say: in "framebuffer"
        adr_l   x19, shared_buf
        .if OTHER_LINE
        glabel  el2_prime
        ldr     x0, [x19, #0x800]       // another line of the same page
        .else
        glabel  el2_prime
        ldr     x0, [x19]               // a clean WB copy of the line now sits in the cache
        .endif
        adr_l   x0, el1_main
        bl      run_el1
        .if FIXED
        dc      ivac, x19               // drop the stale copy: the next read refills from the PoC
        dsb     sy
        .endif
        glabel  el2_read
        ldr     x0, [x19]
        ldp     x29, x30, [sp], #16
        ret

        .section .rodata
fb_name:
        .asciz  "framebuffer"

        .section .text.el1, "ax"
el1_main:
        adr_l   x1, shared_buf
        mov64   x2, 0x0101010101010101
        glabel  el1_write
        str     x2, [x1]                // Normal-NC: straight to memory
        dsb     sy
        hvc     #0

        shared_page shared_buf
