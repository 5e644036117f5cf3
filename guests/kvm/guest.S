// The L2 guest of the Linux KVM demo (docs/kvm-demo.md): a few instructions that KVM runs at EL1 under
// stage 2. The VMM (vmm.c) copies this image to guest IPA 0x80000000 and starts the vCPU there, with
// its MMU off (KVM's reset state: SCTLR_EL1.M = C = I = 0).
//
// It draws two frames into the framebuffer at IPA 0x80200000 and after each one tells the VMM with a
// store to the "doorbell" at IPA 0x10000000, which no memslot covers: KVM exits to the VMM with
// KVM_EXIT_MMIO. The VMM reads the frame through its own (cacheable) mapping of guest memory, then
// runs the vCPU again.
//
//   MMU_OFF = 0: the guest builds stage-1 tables that map its code Normal Write-Back and the framebuffer
//                Normal Non-cacheable (a guest framebuffer driver's usual choice), turns its MMU on and
//                writes the frames through the Non-cacheable mapping.
//   MMU_OFF = 1: the guest writes the frames with its MMU off (Device-nGnRnE: firmware, a boot loader).
//
// Without FEAT_S2FWB, stage 2 cannot make these accesses cacheable: they go to memory, while the VMM's
// reads hit whatever its cache holds. This is the 2015 arm64 KVM thread (shared/seed/).
//
// No stack, no literal pools, no data accesses but the table writes (MMU off, before the tables are
// used), the frames and the doorbell.

        .equ    FB_IPA,         0x80200000
        .equ    FB_BYTES,       1024
        .equ    DOORBELL,       0x10000000
        .equ    TABLES,         0x80001000      // L1 here, L2 at +0x1000 (inside the image's 2 MB block)

        .equ    MAIR_VALUE,     0x0044ff        // Attr0 Normal WB, Attr1 Normal NC, Attr2 Device-nGnRnE
        // T0SZ = 32 (4 GB, walks start at level 1), 4 KB granule, table walks Non-cacheable (the tables
        // are written with the MMU off), EPD1: no TTBR1 walks, IPS = 32 bits.
        .equ    TCR_VALUE,      (32 | (1 << 23))
        .equ    SCTLR_RES1,     0x30d00800
        .equ    SCTLR_ON,       (SCTLR_RES1 | (1 << 12) | (1 << 2) | 1)   // I, C, M

        .equ    PTE_TABLE,      0x3
        .equ    PTE_BLOCK,      0x1
        .equ    PTE_AF,         (1 << 10)
        .equ    PTE_ISH,        (3 << 8)
        .equ    PTE_XN,         (3 << 53)       // UXN, PXN
        .equ    ATTR_WB,        (0 << 2)
        .equ    ATTR_NC,        (1 << 2)
        .equ    ATTR_DEV,       (2 << 2)

.macro mov64 reg, val
        movz    \reg, #((\val) & 0xffff)
        movk    \reg, #(((\val) >> 16) & 0xffff), lsl #16
        movk    \reg, #(((\val) >> 32) & 0xffff), lsl #32
        movk    \reg, #(((\val) >> 48) & 0xffff), lsl #48
.endm

        .section .text, "ax"
        .global _start
_start:
.if MMU_OFF == 0
        // Stage-1 tables, written with the MMU off.
        mov64   x0, TABLES
        add     x1, x0, #0x1000                  // L2
        // L1[0]: 0..1 GB Device (the doorbell), L1[2] -> L2 (2..3 GB).
        mov64   x2, (0 | PTE_BLOCK | PTE_AF | ATTR_DEV | PTE_XN)
        str     x2, [x0]
        orr     x2, x1, #PTE_TABLE
        str     x2, [x0, #16]
        // L2[0]: this image, Normal WB; L2[1]: the framebuffer, Normal NC.
        mov64   x2, (0x80000000 | PTE_BLOCK | PTE_AF | PTE_ISH | ATTR_WB)
        str     x2, [x1]
        mov64   x2, (FB_IPA | PTE_BLOCK | PTE_AF | PTE_XN | ATTR_NC)
        str     x2, [x1, #8]
        dsb     sy

        mov64   x2, MAIR_VALUE
        msr     mair_el1, x2
        mov64   x2, TCR_VALUE
        msr     tcr_el1, x2
        msr     ttbr0_el1, x0
        isb
        tlbi    vmalle1
        dsb     nsh
        isb
        mov64   x2, SCTLR_ON
        msr     sctlr_el1, x2
        isb
.endif
        mov     x20, #1                          // frame number
        .global guest_frame
guest_frame:
        // Frame N: every byte of the framebuffer is 'A' + N - 1.
        add     x1, x20, #('A' - 1)
        mov64   x2, 0x0101010101010101
        mul     x1, x1, x2
        mov64   x0, FB_IPA
        add     x3, x0, #FB_BYTES
        .global guest_fb_store
guest_fb_store:
        stp     x1, x1, [x0], #16
        cmp     x0, x3
        b.lo    guest_fb_store
        dsb     sy
        // Doorbell: the VMM reads the frame, then resumes us here.
        mov64   x2, DOORBELL
        .global guest_doorbell
guest_doorbell:
        str     w20, [x2]
        add     x20, x20, #1
        cmp     x20, #2
        b.ls    guest_frame
        .global guest_idle
guest_idle:
        wfi
        b       guest_idle
