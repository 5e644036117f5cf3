//! What the plugin needs from QEMU beyond the qemu-plugin-sys bindings: the patched-QEMU extension
//! (resolved with dlsym, so the plugin still loads into a stock QEMU and can refuse with a message), glib's
//! byte arrays for register reads, and register handles by name.

use qemu_plugin_sys::{GArray, GByteArray, qemu_plugin_hwaddr, qemu_plugin_reg_descriptor, qemu_plugin_register};
use std::ffi::{CStr, c_char, c_int, c_uint, c_void};

unsafe extern "C" {
    fn g_byte_array_new() -> *mut GByteArray;
    fn g_byte_array_set_size(array: *mut GByteArray, length: c_uint) -> *mut GByteArray;
    fn g_array_free(array: *mut GArray, free_segment: c_int) -> *mut c_char;
    fn g_byte_array_free(array: *mut GByteArray, free_segment: c_int) -> *mut u8;
}

pub type ArmAttrsFn = unsafe extern "C" fn(*const qemu_plugin_hwaddr) -> u64;
pub type ProbeFn = unsafe extern "C" fn(u64) -> *const qemu_plugin_hwaddr;
pub type LookupFn = unsafe extern "C" fn(qemu_plugin_sys::qemu_plugin_meminfo_t, u64, *mut u64) -> u64;
pub type WalkCb = unsafe extern "C" fn(c_uint, *const crate::qemu_abi::ArmWalk);
pub type RegisterWalkFn = unsafe extern "C" fn(Option<WalkCb>);
pub type BulkCb = unsafe extern "C" fn(c_uint, *const crate::qemu_abi::ArmBulk);
pub type RegisterBulkFn = unsafe extern "C" fn(Option<BulkCb>);
pub type DmaCb = unsafe extern "C" fn(c_uint, *const crate::qemu_abi::DmaReport);
pub type RegisterDmaFn = unsafe extern "C" fn(Option<DmaCb>);

/// The functions qemu-patches/0002 adds.
#[derive(Clone, Copy)]
pub struct Extension {
    pub arm_attrs: ArmAttrsFn,
    pub probe_vaddr: ProbeFn,
    /// Physical address and attributes of a memory callback's access in one call (the hot path).
    pub mem_lookup: LookupFn,
    /// qemu-patches/0003: table-walk reports (`None` in a QEMU built without that patch).
    pub register_walk: Option<RegisterWalkFn>,
    /// qemu-patches/0004: ranges helpers access through host pointers (MOPS, DC ZVA).
    pub register_bulk: RegisterBulkFn,
    /// qemu-patches/0007: device DMA to guest RAM.
    pub register_dma: RegisterDmaFn,
}

fn lookup(name: &CStr) -> *mut c_void {
    // RTLD_DEFAULT: QEMU's own executable exports the plugin API (it is linked with --dynamic-list).
    unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) }
}

impl Extension {
    pub fn resolve() -> Result<Extension, String> {
        let attrs = lookup(c"qemu_plugin_hwaddr_arm_attrs");
        let probe = lookup(c"qemu_plugin_probe_vaddr");
        let mem_lookup = lookup(c"qemu_plugin_mem_arm_lookup");
        if attrs.is_null() || probe.is_null() || mem_lookup.is_null() {
            return Err("this QEMU lacks cohtrace's attribute API (qemu_plugin_hwaddr_arm_attrs, \
                        qemu_plugin_probe_vaddr, qemu_plugin_mem_arm_lookup; scripts/setup-qemu builds a QEMU \
                        with qemu-patches/)."
                .into());
        }
        let walk = lookup(c"qemu_plugin_register_arm_walk_cb");
        let bulk = lookup(c"qemu_plugin_register_arm_bulk_cb");
        if bulk.is_null() {
            return Err("this QEMU lacks qemu_plugin_register_arm_bulk_cb (qemu-patches/0004): without it FEAT_MOPS \
                        SET*/CPY* and DC ZVA write memory unseen. Rebuild QEMU with scripts/setup-qemu."
                .into());
        }
        let dma = lookup(c"qemu_plugin_register_dma_cb");
        if dma.is_null() {
            return Err("this QEMU lacks qemu_plugin_register_dma_cb (qemu-patches/0007): without it device DMA \
                        to guest RAM is unseen. Rebuild QEMU with scripts/setup-qemu."
                .into());
        }
        // SAFETY: the symbols come from qemu-patches/0002, 0003, 0004 and 0007 with exactly these signatures.
        unsafe {
            Ok(Extension {
                arm_attrs: std::mem::transmute::<*mut c_void, ArmAttrsFn>(attrs),
                probe_vaddr: std::mem::transmute::<*mut c_void, ProbeFn>(probe),
                mem_lookup: std::mem::transmute::<*mut c_void, LookupFn>(mem_lookup),
                register_walk: (!walk.is_null()).then(|| std::mem::transmute::<*mut c_void, RegisterWalkFn>(walk)),
                register_bulk: std::mem::transmute::<*mut c_void, RegisterBulkFn>(bulk),
                register_dma: std::mem::transmute::<*mut c_void, RegisterDmaFn>(dma),
            })
        }
    }
}

/// Reads guest virtual memory of the current vCPU (debug access: no fault, no TLB change).
pub fn read_guest(va: u64, len: usize) -> Option<Vec<u8>> {
    // SAFETY: a fresh glib byte array, freed here; QEMU fills it.
    unsafe {
        let buf = g_byte_array_new();
        let ok = qemu_plugin_sys::qemu_plugin_read_memory_vaddr(va, buf, len);
        let out = ok.then(|| std::slice::from_raw_parts((*buf).data, ((*buf).len as usize).min(len)).to_vec());
        g_byte_array_free(buf, 1);
        out
    }
}

/// Register handles, found by name once (they are the same for every vCPU).
pub struct RegHandles {
    pub x: [*mut qemu_plugin_register; 31],
    pub cpsr: *mut qemu_plugin_register,
    /// SPSR_EL1..SPSR_EL3 at indices 1..=3 (null where QEMU does not expose them): the EL an ERET returns to.
    pub spsr: [*mut qemu_plugin_register; 4],
    /// Indexed by `SysReg::code()`; null where QEMU does not expose the register.
    pub sys: Vec<*mut qemu_plugin_register>,
}

// SAFETY: handles are opaque tokens QEMU hands out for the process lifetime; they are never dereferenced here.
unsafe impl Send for RegHandles {}
unsafe impl Sync for RegHandles {}

impl RegHandles {
    /// Call from a vCPU context (vcpu_init).
    pub fn find() -> Result<RegHandles, String> {
        use cohtrace_analyzer::event::SysReg;
        let mut h = RegHandles {
            x: [std::ptr::null_mut(); 31],
            cpsr: std::ptr::null_mut(),
            spsr: [std::ptr::null_mut(); 4],
            sys: vec![std::ptr::null_mut(); SysReg::ALL.len()],
        };
        // SAFETY: qemu_plugin_get_registers returns a GArray of descriptors we own and free.
        unsafe {
            let arr = qemu_plugin_sys::qemu_plugin_get_registers();
            if arr.is_null() {
                return Err("QEMU returned no register list".into());
            }
            let descs = std::slice::from_raw_parts((*arr).data as *const qemu_plugin_reg_descriptor, (*arr).len as usize);
            for d in descs {
                let name = CStr::from_ptr(d.name).to_string_lossy();
                if let Some(n) = name.strip_prefix('x').and_then(|n| n.parse::<usize>().ok())
                    && n < 31
                {
                    h.x[n] = d.handle;
                } else if name == "cpsr" {
                    h.cpsr = d.handle;
                } else if let Some(el) = name.strip_prefix("SPSR_EL").and_then(|n| n.parse::<usize>().ok())
                    && (1..=3).contains(&el)
                {
                    h.spsr[el] = d.handle;
                } else if let Some(r) = SysReg::ALL.iter().find(|r| r.name() == name || (name == "CLIDR" && **r == SysReg::ClidrEl1)) {
                    h.sys[r.code() as usize] = d.handle;
                }
            }
            g_array_free(arr, 1);
        }
        if h.x.iter().any(|p| p.is_null()) || h.cpsr.is_null() {
            return Err("QEMU does not expose x0..x30 and cpsr to plugins".into());
        }
        Ok(h)
    }
}

/// A per-vCPU scratch buffer for register reads and guest-physical reads (the own walker's descriptors).
pub struct RegBuf(*mut GByteArray);

// SAFETY: each RegBuf is used only by the vCPU that owns it.
unsafe impl Send for RegBuf {}

impl RegBuf {
    pub fn new() -> RegBuf {
        RegBuf(unsafe { g_byte_array_new() })
    }

    /// Reads a 64-bit (or smaller) register; `None` outside a register-reading context.
    pub fn read(&mut self, reg: *mut qemu_plugin_register) -> Option<u64> {
        if reg.is_null() || self.0.is_null() {
            return None;
        }
        // SAFETY: valid handle and buffer; QEMU appends the value in target (little-endian) byte order.
        unsafe {
            g_byte_array_set_size(self.0, 0);
            let n = qemu_plugin_sys::qemu_plugin_read_register(reg, self.0);
            if n <= 0 {
                return None;
            }
            Some(self.value())
        }
    }

    /// The buffer's first 8 bytes (fewer: zero-extended) as a little-endian value.
    ///
    /// # Safety
    /// The buffer is valid and QEMU has just filled it.
    unsafe fn value(&self) -> u64 {
        // SAFETY: per the contract; at most `len` bytes are read.
        unsafe {
            let len = ((*self.0).len as usize).min(8);
            let mut b = [0u8; 8];
            b[..len].copy_from_slice(std::slice::from_raw_parts((*self.0).data, len));
            u64::from_le_bytes(b)
        }
    }

    /// Reads the 8 bytes at guest physical address `pa` in the current vCPU's address space; `None` when
    /// QEMU cannot (no memory there). Valid in vCPU callbacks only.
    pub fn read_phys_u64(&mut self, pa: u64) -> Option<u64> {
        if self.0.is_null() {
            return None;
        }
        // SAFETY: valid buffer; QEMU resizes it to 8 bytes and fills it in target (little-endian) order.
        unsafe {
            g_byte_array_set_size(self.0, 0);
            let r = qemu_plugin_sys::qemu_plugin_read_memory_hwaddr(pa, self.0, 8);
            if r != qemu_plugin_sys::qemu_plugin_hwaddr_operation_result::QEMU_PLUGIN_HWADDR_OPERATION_OK || (*self.0).len < 8 {
                return None;
            }
            Some(self.value())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_patched_qemu_the_extension_is_refused_with_a_clear_message() {
        // The test process is not QEMU: the symbols are absent, exactly as in a stock QEMU 10.x.
        let e = Extension::resolve().err().expect("no extension outside the patched QEMU");
        assert!(e.contains("qemu_plugin_hwaddr_arm_attrs") && e.contains("scripts/setup-qemu"), "{e}");
    }
}
