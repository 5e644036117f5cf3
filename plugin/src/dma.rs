//! Device DMA reports (qemu-patches/0007): every read or write a device model makes to guest RAM, with its
//! range, direction, path and device. Each report becomes one Dma record (longer transfers are split), and
//! the first report of a device is preceded by its DeviceName records, so a trace names its devices.
//!
//! Capture records facts only: whether a device snoops the caches is the analyzer's `--dma` decision.
//!
//! Where a record goes: DMA that runs on a vCPU's thread (inside its MMIO access: fw_cfg, an ITS) goes into
//! that vCPU's own buffer, exactly ordered after the vCPU's earlier records. DMA on the main loop or an I/O
//! thread (virtio after an ioeventfd kick, block completions) goes into the device stream
//! (`DEVICE_STREAM`), under a lock (one take per transfer, never per byte), with the vCPUs' sequence
//! number at that moment (docs/trace-format.md, "Ordering").

use crate::qemu_abi::DmaReport;
use crate::sink::{Chunk, Msg};
use crate::state::{ACTIVE, MAX_LAG, Plugin, SEQ, disable, plugin};
use cohtrace_analyzer::event::{Dma, DmaPath};
use cohtrace_analyzer::trace::Record;
use cohtrace_analyzer::trace::codes::DEVICE_STREAM;
use cohtrace_analyzer::trace::record::range_pieces;
use std::ffi::{CStr, c_uint};
use std::sync::atomic::Ordering;

/// Records the device stream holds before it hands them to the writer.
pub const DEVICE_BUFFER: usize = 4096;

/// The device stream's buffer and the devices already named in the trace.
#[derive(Default)]
pub struct DeviceStream {
    buf: Vec<Record>,
    base_seq: u64,
    named: std::collections::HashSet<u32>,
}

pub unsafe extern "C" fn on_dma(vcpu_index: c_uint, dma: *const DmaReport) {
    let Some(p) = plugin() else { return };
    if dma.is_null() || !ACTIVE.load(Ordering::Relaxed) {
        return;
    }
    // SAFETY: QEMU passes a report valid for the duration of the call.
    let d = unsafe { *dma };
    // One call per transfer: cheap enough for the panic guard.
    crate::state::guard("dma callback", (), || record_dma(p, vcpu_index, &d));
}

fn record_dma(p: &Plugin, vcpu_index: c_uint, d: &DmaReport) {
    let Some(path) = DmaPath::from_code(d.path) else { return };
    if d.len == 0 || (p.filtered_out(d.addr) && p.filtered_out(d.addr.saturating_add(d.len - 1))) {
        return;
    }
    let write = d.is_write != 0;
    let pieces = range_pieces(d.len).map(|(at, len)| Record::dma(&Dma { device: d.device_id, pa: d.addr.wrapping_add(at), len, write, path }));
    if (vcpu_index as usize) < p.vcpus.len() {
        let naming = first_sight(&mut p.devices.lock().unwrap_or_else(|e| e.into_inner()), d);
        p.enter(vcpu_index, |v| {
            for r in naming.into_iter().flatten().chain(pieces) {
                p.push(v, r);
            }
            Some(())
        });
    } else {
        // One lock for the name check and the records.
        let mut ds = p.devices.lock().unwrap_or_else(|e| e.into_inner());
        let naming = first_sight(&mut ds, d);
        push_device(p, &mut ds, naming.into_iter().flatten().chain(pieces));
    }
}

/// The DeviceName records of a device the trace has not named yet (its first transfer), else `None`.
fn first_sight(ds: &mut DeviceStream, d: &DmaReport) -> Option<Vec<Record>> {
    if !ds.named.insert(d.device_id) {
        return None;
    }
    let name = if d.device.is_null() {
        format!("device#{}", d.device_id)
    } else {
        // SAFETY: the patch's name string lives for the whole run.
        unsafe { CStr::from_ptr(d.device) }.to_string_lossy().into_owned()
    };
    Some(Record::device_name_parts(d.device_id, &name))
}

/// The sequence number a device record takes now: the global counter with several vCPUs; with one, the
/// number the vCPU's next record will take (the device record sorts before it: the merge's tie rule).
fn device_seq(p: &Plugin) -> u64 {
    if p.multi {
        SEQ.fetch_add(1, Ordering::Relaxed)
    } else {
        p.vcpus.first().map(|c| c.next_seq.load(Ordering::Relaxed)).unwrap_or(0)
    }
}

fn push_device(p: &Plugin, ds: &mut DeviceStream, records: impl Iterator<Item = Record>) {
    for r in records {
        let seq = device_seq(p);
        if ds.buf.is_empty() {
            ds.base_seq = seq;
        } else if seq.saturating_sub(ds.base_seq) > MAX_LAG {
            flush_locked(p, ds);
            ds.base_seq = seq;
        }
        let off = seq.saturating_sub(ds.base_seq) as u32;
        ds.buf.push(Record { seq: off, ..r });
        if ds.buf.len() >= DEVICE_BUFFER {
            flush_locked(p, ds);
        }
    }
    // The online model replays up to a watermark that trusts older records to have arrived: hand device
    // records over at once there (a handful per transfer).
    if p.opts.model == crate::options::ModelMode::Online {
        flush_locked(p, ds);
    }
}

fn flush_locked(p: &Plugin, ds: &mut DeviceStream) {
    if ds.buf.is_empty() {
        return;
    }
    let buf = std::mem::take(&mut ds.buf).into_boxed_slice();
    let chunk = Chunk { vcpu: DEVICE_STREAM, base_seq: ds.base_seq, len: buf.len(), buf };
    if p.sink.tx.send(Msg::Chunk(chunk)).is_err() {
        disable();
    }
}

/// Hands over what the device stream holds (exit, and the guest's Sync markers).
pub fn flush_devices(p: &Plugin) {
    let mut ds = p.devices.lock().unwrap_or_else(|e| e.into_inner());
    flush_locked(p, &mut ds);
}
