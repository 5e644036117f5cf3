/*
 * A minimal QEMU plugin that exercises qemu-patches/0002 on its own: for every data access to the
 * physical range given by `start=` and `end=`, print the pc, the access kind and the raw
 * qemu_plugin_hwaddr_arm_attrs() word. Built and run by analyzer/tests/patch_api.rs.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>
#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

static uint64_t range_start, range_end;

static void on_mem(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata)
{
    struct qemu_plugin_hwaddr *h = qemu_plugin_get_hwaddr(info, vaddr);
    if (!h) {
        return;
    }
    uint64_t pa = qemu_plugin_hwaddr_phys_addr(h);
    if (pa < range_start || pa >= range_end) {
        return;
    }
    fprintf(stderr, "attrs pc=0x%" PRIx64 " pa=0x%" PRIx64 " %s word=0x%016" PRIx64 "\n",
            (uint64_t)(uintptr_t)udata, pa, qemu_plugin_mem_is_store(info) ? "store" : "load",
            qemu_plugin_hwaddr_arm_attrs(h));
}

static void on_tb(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    for (size_t i = 0; i < qemu_plugin_tb_n_insns(tb); i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        qemu_plugin_register_vcpu_mem_cb(insn, on_mem, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_RW,
                                         (void *)(uintptr_t)qemu_plugin_insn_vaddr(insn));
    }
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                           char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "start=", 6) == 0) {
            range_start = strtoull(argv[i] + 6, NULL, 0);
        } else if (strncmp(argv[i], "end=", 4) == 0) {
            range_end = strtoull(argv[i] + 4, NULL, 0);
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb);
    return 0;
}
