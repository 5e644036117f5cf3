//! cohtrace's QEMU TCG plugin: `qemu-system-aarch64 -plugin libcohtrace.so,out=trace.ctrace`.
//!
//! One file per callback kind: `lifecycle` (install, vCPU start/idle, exit), `translate` (translation
//! time: decode, register, record fetches), `access` (the per-access hot path, atomics), `sysinsn` (MSR,
//! maintenance, markers, context synchronization), `walk` (the MMU's table walks, qemu-patches/0003),
//! `bulk` (MOPS steps and DC ZVA blocks, qemu-patches/0004), `dma` (device DMA, qemu-patches/0007); `state` holds the shared state, the panic
//! guard and the push/flush every callback uses; `sink` is the writer thread. No callback lets a panic
//! unwind into QEMU.

mod access;
mod decode;
mod lifecycle;
mod options;
mod own_walk;
mod qemu;
mod qemu_abi;
mod sink;
mod state;
mod stock;
mod sysinsn;
mod translate;
mod vcpu;
mod bulk;
mod dma;
mod walk;

use qemu_plugin_sys::{qemu_info_t, qemu_plugin_id_t};
use std::ffi::{CStr, c_char, c_int};

#[allow(non_upper_case_globals)]
#[unsafe(no_mangle)]
pub static qemu_plugin_version: c_int = qemu_plugin_sys::QEMU_PLUGIN_VERSION as c_int;

/// # Safety
/// Called by QEMU once, with valid `info` and `argc` strings in `argv`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn qemu_plugin_install(
    id: qemu_plugin_id_t,
    info: *const qemu_info_t,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    // Keep the default hook's output short: guard() prints our own message.
    std::panic::set_hook(Box::new(|_| {}));
    state::guard("install", -1, || {
        let args: Vec<String> = (0..argc.max(0) as usize)
            // SAFETY: QEMU passes argc valid C strings.
            .map(|i| unsafe { CStr::from_ptr(*argv.add(i)) }.to_string_lossy().into_owned())
            .collect();
        // SAFETY: valid for the duration of this call.
        let info = unsafe { &*info };
        match lifecycle::install(id, info, &args) {
            Ok(()) => 0,
            Err(msg) => {
                eprintln!("cohtrace: {msg}");
                -1
            }
        }
    })
}
