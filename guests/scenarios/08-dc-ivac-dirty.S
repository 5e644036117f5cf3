// 08-dc-ivac-dirty: the host (EL2) writes the buffer through its WB mapping and then invalidates the
// line with DC IVAC (say, "to make room for a device's data"): the dirty data is discarded ->
// lost-write, observer the DC IVAC, cause the WB write. (At EL2 DC IVAC really is an invalidate;
// at EL1 with stage 2 on, the architecture upgrades it to a clean and invalidate.)
//   FIXED=1  DC CIVAC: the data is written back first.
// EL2 only; nothing reads the line afterwards.

        .include "guest.inc"

        .section .text.el2, "ax"
        glabel  scenario_tables
        ret

        glabel  scenario_main
        adr_l   x19, shared_buf
        mov64   x1, 0x0808080808080808
        glabel  el2_write
        str     x1, [x19]               // dirty in the cache
        dsb     sy
        .if FIXED
        glabel  el2_dc
        dc      civac, x19
        .else
        glabel  el2_dc
        glabel  el2_dc_ivac
        dc      ivac, x19               // discards the dirty data
        .endif
        dsb     sy
        ret

        shared_page shared_buf
