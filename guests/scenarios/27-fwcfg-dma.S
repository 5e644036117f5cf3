// 27-fwcfg-dma: the virt board's fw_cfg as a DMA master. EL2 (MMU on, Normal WB) writes a
// FWCfgDmaAccess descriptor {be32 control, be32 length, be64 address} and kicks the device with one
// big-endian 64-bit store of the descriptor's address to the DMA register. Synchronously, inside that
// store, QEMU reads the descriptor, writes the 64-byte buffer (the "QEMU" signature of key 0, then
// zeros) and writes the status word (control = 0) back into the descriptor. A non-coherent master
// does all three at the Point of Coherency; whether fw_cfg is one is the analyzer's --dma decision,
// so every bug here is reported with --dma noncoherent and silent with --dma coherent.
//   BUG=1  the descriptor is written WB and never cleaned: the device reads memory under the dirty
//          line (dirty-bypass), then writes the status under it (lost-write).
//          FIXED=1: DC CVAC of the descriptor before the kick.
//   BUG=2  the buffer was read (a clean WB copy is cached) before the transfer and is read again
//          after it with no invalidate: stale-read of the device's data.
//          FIXED=1: DC IVAC of the buffer after the transfer.
//   BUG=3  the descriptor is cleaned, then the CPU writes a tag in the same line before the kick: the
//          device's status lands under a dirty line (lost-write; the bytes it reads are clean).
//          FIXED=1: DC CIVAC of the line after the tag, before the kick.
// In every variant the CPU invalidates (or, where its line may be dirty, cleans and invalidates)
// whatever the device wrote before reading it, except for the bug under test; the guest checks the
// status (0) and the signature ("QEMU"), which QEMU, having no caches, always gets right.

        .include "guest.inc"
        .ifndef BUG
        .equ    BUG, 1
        .endif
        .equ    FW_CFG_BASE,    0x09020000
        .equ    FW_CFG_DMA,     0x10            // DMA address register (big-endian, 64-bit write)
        .equ    DMA_CTL_READ_KEY0, 0x0000000a   // selector 0 (signature) << 16 | SELECT | READ
        .equ    DMA_LEN,        64
        .equ    SIGNATURE,      0x554d4551      // "QEMU" read as a little-endian word

        .section .text.el2, "ax"
        glabel  scenario_tables
        ret

        glabel  scenario_main
        stp     x29, x30, [sp, #-16]!
        adr_l   x21, dma_desc
        adr_l   x22, dma_buf
        mov64   x20, FW_CFG_BASE
        .if BUG == 2
        glabel  el2_prime
        ldr     x0, [x22]                       // a clean WB copy of the buffer
        .endif
        // The descriptor, big-endian fields stored as little-endian words.
        mov64   x0, DMA_CTL_READ_KEY0
        rev     w0, w0
        str     w0, [x21]
        mov     w0, #DMA_LEN
        rev     w0, w0
        str     w0, [x21, #4]
        rev     x0, x22
        glabel  el2_desc_write
        str     x0, [x21, #8]
        .if BUG != 1 || FIXED
        dc      cvac, x21                       // the device reads it at PoC
        dsb     sy
        .endif
        .if BUG == 3
        mov     w0, #0x77
        glabel  el2_tag_write
        str     w0, [x21, #32]                  // same line: dirty again
        .if FIXED
        dc      civac, x21
        dsb     sy
        .endif
        .endif
        .if BUG != 2
        dc      ivac, x22                       // no copy of the buffer survives the transfer
        dsb     sy
        .endif
        rev     x0, x21
        glabel  el2_kick
        str     x0, [x20, #FW_CFG_DMA]          // QEMU runs the whole transfer inside this store
        dsb     sy
        // What the device wrote: the status word and the buffer.
        .if (BUG == 1 || BUG == 3) && !FIXED
        dc      civac, x21                      // this line may be dirty: clean and invalidate
        .else
        dc      ivac, x21
        .endif
        .if BUG != 2 || FIXED
        dc      ivac, x22
        .endif
        dsb     sy
        glabel  el2_status_read
        ldr     w1, [x21]
        cbz     w1, 1f
        adr_l   x0, msg_bad_status
        b       guest_fail
1:      glabel  el2_data_read
        ldr     w1, [x22]
        mov64   x2, SIGNATURE
        cmp     w1, w2
        b.eq    2f
        adr_l   x0, msg_bad_data
        b       guest_fail
2:      ldp     x29, x30, [sp], #16
        ret

        .section .rodata, "a"
msg_bad_status: .asciz "fw_cfg DMA status is not 0"
msg_bad_data:   .asciz "fw_cfg DMA buffer does not hold the signature"

        shared_page dma_desc
        shared_page dma_buf
