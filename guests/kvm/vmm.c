// The VMM of the Linux KVM demo (docs/kvm-demo.md): a minimal /dev/kvm user, static, run as root from
// the demo's initramfs.
//
//   vmm [--guest nc|mmu-off] [--maintenance]
//
// One VM, one memslot of 4 MB at IPA 0x80000000 over an anonymous mmap (the VMM's own cacheable view of
// guest memory), one vCPU started at 0x80000000 with the L2 guest image (guest.S) copied there. The VMM
// initialises the framebuffer (IPA 0x80200000) through its mapping, then runs the vCPU; each time the
// guest rings the doorbell (an MMIO write at IPA 0x10000000, KVM_EXIT_MMIO) it reads the frame through its
// mapping and prints what it saw. After two frames it stops.
//
// --maintenance: clean and invalidate the framebuffer to the Point of Coherency (DC CIVAC, allowed at EL0
// on Linux: SCTLR_EL1.UCI = 1) before each read, so that a line the VMM's cache still holds from an
// earlier read cannot hide what the guest wrote around the cache. That is the userspace fix the 2015
// thread settled on.
//
// QEMU has no caches, so the VMM always sees the new frame here; on hardware without FEAT_S2FWB the second
// frame would read back the first one. cohtrace sees the difference.

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUEST_IPA 0x80000000ULL
#define GUEST_BYTES (4UL << 20)
#define FB_OFFSET 0x200000UL
#define FB_BYTES 1024
#define DOORBELL 0x10000000ULL
#define FRAMES 2

extern const unsigned char guest_nc_start[], guest_nc_end[];
extern const unsigned char guest_mmu_off_start[], guest_mmu_off_end[];

static void die(const char *what) {
    fprintf(stderr, "vmm: %s: %s\n", what, strerror(errno));
    exit(1);
}

// Clean and invalidate [p, p + len) to the PoC, one line at a time (CTR_EL0.DminLine).
__attribute__((noinline)) void vmm_dc_civac(const volatile void *p, size_t len) {
    uint64_t ctr;
    __asm__ volatile("mrs %0, ctr_el0" : "=r"(ctr));
    size_t line = 4UL << ((ctr >> 16) & 0xf);
    uintptr_t a = (uintptr_t)p & ~(line - 1);
    for (; a < (uintptr_t)p + len; a += line)
        __asm__ volatile("dc civac, %0" ::"r"(a) : "memory");
    __asm__ volatile("dsb sy" ::: "memory");
}

// The VMM's read of the framebuffer through its mapping: how many bytes hold the expected value.
__attribute__((noinline)) size_t vmm_read_frame(const volatile unsigned char *fb, unsigned char want) {
    size_t good = 0;
    for (size_t i = 0; i < FB_BYTES; i++)
        good += fb[i] == want;
    return good;
}

// The VMM's initialisation of the framebuffer through its mapping (a blank screen).
__attribute__((noinline)) void vmm_clear_frame(volatile unsigned char *fb) {
    for (size_t i = 0; i < FB_BYTES; i++)
        fb[i] = 0;
}

static void set_reg(int vcpu, uint64_t id, uint64_t value) {
    struct kvm_one_reg reg = {.id = id, .addr = (uint64_t)(uintptr_t)&value};
    if (ioctl(vcpu, KVM_SET_ONE_REG, &reg) < 0)
        die("KVM_SET_ONE_REG");
}

int main(int argc, char **argv) {
    int mmu_off = 0, maintenance = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--guest") && i + 1 < argc) {
            i++;
            if (!strcmp(argv[i], "nc"))
                mmu_off = 0;
            else if (!strcmp(argv[i], "mmu-off"))
                mmu_off = 1;
            else {
                fprintf(stderr, "vmm: unknown guest '%s' (nc, mmu-off)\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--maintenance")) {
            maintenance = 1;
        } else {
            fprintf(stderr, "usage: vmm [--guest nc|mmu-off] [--maintenance]\n");
            return 2;
        }
    }
    const unsigned char *img = mmu_off ? guest_mmu_off_start : guest_nc_start;
    size_t img_len = (size_t)((mmu_off ? guest_mmu_off_end : guest_nc_end) - img);

    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        die("/dev/kvm");
    if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
        die("KVM_GET_API_VERSION");
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0)
        die("KVM_CREATE_VM");

    unsigned char *mem = mmap(NULL, GUEST_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        die("mmap");
    memcpy(mem, img, img_len);
    unsigned char *fb = mem + FB_OFFSET;
    vmm_clear_frame(fb);

    struct kvm_userspace_memory_region slot = {
        .slot = 0,
        .guest_phys_addr = GUEST_IPA,
        .memory_size = GUEST_BYTES,
        .userspace_addr = (uint64_t)(uintptr_t)mem,
    };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
        die("KVM_SET_USER_MEMORY_REGION");

    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0)
        die("KVM_CREATE_VCPU");
    struct kvm_vcpu_init init;
    if (ioctl(vm, KVM_ARM_PREFERRED_TARGET, &init) < 0)
        die("KVM_ARM_PREFERRED_TARGET");
    if (ioctl(vcpu, KVM_ARM_VCPU_INIT, &init) < 0)
        die("KVM_ARM_VCPU_INIT");
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < (int)sizeof(struct kvm_run))
        die("KVM_GET_VCPU_MMAP_SIZE");
    struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED)
        die("mmap kvm_run");
    set_reg(vcpu, KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | (offsetof(struct kvm_regs, regs.pc) / 4),
            GUEST_IPA);

    printf("vmm: guest %s (%zu bytes), %s\n", mmu_off ? "mmu-off" : "nc", img_len,
           maintenance ? "DC CIVAC before each read" : "no cache maintenance");
    for (int frame = 1; frame <= FRAMES; frame++) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0)
            die("KVM_RUN");
        if (run->exit_reason != KVM_EXIT_MMIO || run->mmio.phys_addr != DOORBELL || !run->mmio.is_write) {
            fprintf(stderr, "vmm: unexpected exit %u (mmio %#llx)\n", run->exit_reason,
                    (unsigned long long)run->mmio.phys_addr);
            return 1;
        }
        if (maintenance)
            vmm_dc_civac(fb, FB_BYTES);
        unsigned char want = (unsigned char)('A' + frame - 1);
        size_t good = vmm_read_frame(fb, want);
        printf("vmm: frame %d: %zu/%d bytes are '%c'\n", frame, good, FB_BYTES, want);
        if (good != FB_BYTES)
            return 1;
    }
    printf("vmm: done\n");
    return 0;
}
