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
use cohtrace_analyzer::trace::codes::{DEVICE_STREAM, MAX_RANGE_LEN};
use cohtrace_analyzer::trace::Record;
use std::ffi::{CStr, c_uint};
use std::sync::atomic::Ordering;

/// The longest transfer one Dma record holds (the format's bound); longer ones are split.
const MAX_RECORD_LEN: u64 = MAX_RANGE_LEN as u64;
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
    let name = if d.device.is_null() {
        format!("device#{}", d.device_id)
    } else {
        // SAFETY: the patch's name string lives for the whole run.
        unsafe { CStr::from_ptr(d.device) }.to_string_lossy().into_owned()
    };
    let naming = {
        let mut ds = p.devices.lock().unwrap_or_else(|e| e.into_inner());
        ds.named.insert(d.device_id).then(|| Record::device_name_parts(d.device_id, &name))
    };
    let mut records: Vec<Record> = naming.unwrap_or_default();
    let mut at = 0u64;
    while at < d.len {
        let len = (d.len - at).min(MAX_RECORD_LEN);
        records.push(Record::dma(&Dma { device: d.device_id, pa: d.addr.wrapping_add(at), len: len as u32, write: d.is_write != 0, path }));
        at += len;
    }
    if (vcpu_index as usize) < p.vcpus.len() {
        p.enter(vcpu_index, |v| {
            for r in &records {
                p.push(v, *r);
            }
            Some(())
        });
    } else {
        push_device(p, &records);
    }
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

fn push_device(p: &Plugin, records: &[Record]) {
    let mut ds = p.devices.lock().unwrap_or_else(|e| e.into_inner());
    for r in records {
        let seq = device_seq(p);
        if ds.buf.is_empty() {
            ds.base_seq = seq;
        } else if seq.saturating_sub(ds.base_seq) > MAX_LAG {
            flush_locked(p, &mut ds);
            ds.base_seq = seq;
        }
        let off = seq.saturating_sub(ds.base_seq) as u32;
        ds.buf.push(Record { seq: off, ..*r });
        if ds.buf.len() >= DEVICE_BUFFER {
            flush_locked(p, &mut ds);
        }
    }
    // The online model replays up to a watermark that trusts older records to have arrived: hand device
    // records over at once there (a handful per transfer).
    if p.opts.model == crate::options::ModelMode::Online {
        flush_locked(p, &mut ds);
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
