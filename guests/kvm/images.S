// The two L2 guest images (flat binaries of guest.S, built by scripts/setup-kvm-demo), linked into the VMM.
        .section .rodata, "a"
        .balign 16
        .global guest_nc_start, guest_nc_end, guest_mmu_off_start, guest_mmu_off_end
guest_nc_start:
        .incbin GUEST_NC_BIN
guest_nc_end:
        .balign 16
guest_mmu_off_start:
        .incbin GUEST_MMU_OFF_BIN
guest_mmu_off_end:
