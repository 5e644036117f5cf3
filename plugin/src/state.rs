//! The plugin's state: the one `Plugin` (options, extension, per-vCPU cells, the writer's handle), the
//! global counters, and the two operations every callback shares: push a record into the vCPU's buffer,
//! and hand a full buffer to the writer thread.

use crate::decode::{self, Decoded};
use crate::options::Options;
use crate::qemu::{Extension, RegHandles};
use crate::sink::{Chunk, Msg, Sink};
use crate::vcpu::Vcpu;
use cohtrace_analyzer::trace::{Record, RecordKind};
use std::cell::{Cell, UnsafeCell};
use std::collections::HashMap;
use std::ffi::c_uint;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// Per-instruction record, interned at translation and never freed: callbacks get a pointer to it.
pub struct InsnInfo {
    pub id: u32,
    pub pc: u64,
    pub decoded: Option<Decoded>,
    /// ERET/ERETAA/ERETAB: in stock mode the EL after it comes from SPSR (stock.rs).
    pub eret: bool,
}

/// One vCPU's state and its "inside a callback" flag (`lifecycle::quiesce`).
pub struct VcpuCell {
    state: UnsafeCell<Vcpu>,
    busy: AtomicBool,
    /// With one vCPU: the sequence number its next record takes, for device records from other threads
    /// (`dma::device_seq`). A plain store by the vCPU's thread, a load by the others.
    pub next_seq: AtomicU64,
}

// SAFETY: a vCPU's state is touched only by the thread running that vCPU, inside `Plugin::enter`, and by
// `lifecycle::finish` once every vCPU has left its callbacks for good (quiesce).
unsafe impl Sync for VcpuCell {}

impl VcpuCell {
    pub fn new(v: Vcpu) -> VcpuCell {
        VcpuCell { state: UnsafeCell::new(v), busy: AtomicBool::new(false), next_seq: AtomicU64::new(0) }
    }

    pub fn busy(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }
}

struct Leave<'a>(&'a AtomicBool);

impl Drop for Leave<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

pub struct Plugin {
    pub opts: Options,
    /// The translation cache answers hits on its own (no physical filters, tlb=on).
    pub fast_path: bool,
    /// The patched QEMU's functions; `None` in stock mode (stock.rs: the plugin's own walk instead).
    pub ext: Option<Extension>,
    pub vcpus: Box<[VcpuCell]>,
    /// More than one vCPU: records carry a global sequence number (one atomic increment per record).
    pub multi: bool,
    pub insns: Mutex<HashMap<(u64, u32), &'static InsnInfo>>,
    pub next_insn: AtomicU32,
    pub sink: Sink,
    pub regs: OnceLock<Result<RegHandles, String>>,
    /// DMA off the vCPU threads (`dma`): the device stream and the devices named so far.
    pub devices: Mutex<crate::dma::DeviceStream>,
}

pub static PLUGIN: OnceLock<Plugin> = OnceLock::new();
/// The global event order with several vCPUs (docs/trace-format.md, "Ordering").
pub static SEQ: AtomicU64 = AtomicU64::new(0);
/// A vCPU hands over its buffer once its oldest record is this far behind the global order.
pub const MAX_LAG: u64 = 1 << 20;
/// Bumped by TLB maintenance and translation-register writes on any vCPU: empties every PtlbEntry cache.
pub static PTLB_GENERATION: AtomicU32 = AtomicU32::new(0);
/// Where a vCPU publishes its sequence number until `publish_cells` points it at its cell (never read).
pub static UNPUBLISHED_SEQ: AtomicU64 = AtomicU64::new(0);
/// Cleared by `disable` (internal error) and at exit: callbacks then return at once.
pub static ACTIVE: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The vCPU this thread runs (MTTCG: one thread per vCPU). Used by translation callbacks, which QEMU
    /// calls without a vCPU index; under round-robin TCG it names the last vCPU initialised on the thread.
    pub static THREAD_VCPU: Cell<u32> = const { Cell::new(u32::MAX) };
}

pub fn invalidate_translations() {
    PTLB_GENERATION.fetch_add(1, Ordering::Relaxed);
}

pub fn disable() {
    ACTIVE.store(false, Ordering::Relaxed);
}

/// Runs `f`, turning a panic into a message: a panic must never unwind into QEMU's C frames.
pub fn guard<T>(what: &str, default: T, f: impl FnOnce() -> T) -> T {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(e) => {
            let msg = e
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| e.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            eprintln!("cohtrace: internal error in {what}: {msg}; capture stops");
            disable();
            default
        }
    }
}

pub fn plugin() -> Option<&'static Plugin> {
    PLUGIN.get()
}

/// Every record older than this has reached the writer (the online model's merge watermark): vCPUs flush
/// when their oldest record is MAX_LAG behind the global counter, and when they go idle; a single vCPU's
/// buffer holds at most `buffer` records; the device stream hands over each transfer at once online.
pub fn watermark() -> u64 {
    match plugin() {
        Some(p) if !p.multi => {
            let now = p.vcpus.first().map(|c| c.next_seq.load(Ordering::Relaxed)).unwrap_or(0);
            now.saturating_sub(2 * MAX_LAG.max(p.opts.buffer as u64))
        }
        _ => SEQ.load(Ordering::Relaxed).saturating_sub(2 * MAX_LAG),
    }
}

impl Plugin {
    /// Runs `f` on vCPU `index`'s state if capture is active, with the vCPU marked busy so that exit waits
    /// for it (`lifecycle::quiesce`). The flag is two plain stores on the vCPU's own line; the exit path
    /// pays for the ordering with a process-wide barrier instead.
    #[inline(always)]
    pub fn enter<T>(&self, index: c_uint, f: impl FnOnce(&mut Vcpu) -> Option<T>) -> Option<T> {
        let cell = self.vcpus.get(index as usize)?;
        cell.busy.store(true, Ordering::Relaxed);
        // Clears the flag on the way out, also when `f` unwinds into a callback's panic guard.
        let _leave = Leave(&cell.busy);
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        if !ACTIVE.load(Ordering::Relaxed) {
            return None;
        }
        // SAFETY: see VcpuCell: only this vCPU's thread gets here for this index.
        f(unsafe { &mut *cell.state.get() })
    }

    /// Points each vCPU at its cell's published sequence number. Called once, after the plugin is in its
    /// static (its final address) and before capture is active.
    pub fn publish_cells(&'static self) {
        for cell in self.vcpus.iter() {
            // SAFETY: capture is not active yet: no callback touches the state.
            unsafe { (*cell.state.get()).seq_out = &cell.next_seq };
        }
    }

    /// A vCPU's state without the busy protocol: only for `lifecycle::finish`, after quiesce.
    #[allow(clippy::mut_from_ref)]
    pub fn vcpu_after_quiesce(&self, index: usize) -> Option<&mut Vcpu> {
        // SAFETY: every vCPU has left its callbacks and sees ACTIVE false (quiesce).
        self.vcpus.get(index).map(|c| unsafe { &mut *c.state.get() })
    }

    /// Appends a record to the vCPU's buffer, handing the buffer to the writer when full.
    #[inline(always)]
    pub fn push(&self, v: &mut Vcpu, mut r: Record) {
        if self.multi {
            let s = SEQ.fetch_add(1, Ordering::Relaxed);
            if v.len == 0 {
                v.base_seq = s;
            }
            let off = s - v.base_seq;
            if off > MAX_LAG {
                // Hand over records that are old in the global order: the online model replays up to a
                // watermark that trusts every record older than MAX_LAG to have arrived.
                self.flush(v);
                v.base_seq = s;
                r.seq = 0;
            } else {
                r.seq = off as u32;
            }
        } else {
            if v.len == 0 {
                v.base_seq = v.local_seq;
            }
            r.seq = (v.local_seq - v.base_seq) as u32;
            v.local_seq += 1;
            // One plain store on x86, with no address to compute (seq_out: `publish_cells`).
            v.seq_out.store(v.local_seq, Ordering::Relaxed);
        }
        // SAFETY: len < buf.len() is an invariant: flush() runs as soon as the buffer fills.
        unsafe { *v.buf.get_unchecked_mut(v.len) = r };
        v.len += 1;
        if v.len == v.buf.len() {
            self.flush(v);
        }
    }

    #[cold]
    pub fn flush(&self, v: &mut Vcpu) {
        if v.len == 0 {
            return;
        }
        let fresh = self
            .sink
            .free
            .try_recv()
            .unwrap_or_else(|_| vec![Record::default(); self.opts.buffer].into_boxed_slice());
        let buf = std::mem::replace(&mut v.buf, fresh);
        let chunk = Chunk { vcpu: v.index, base_seq: v.base_seq, buf, len: v.len };
        v.len = 0;
        // Every chunk starts with its regime, so chunks decode on their own.
        v.current_regime = u64::MAX;
        if self.sink.tx.send(Msg::Chunk(chunk)).is_err() {
            disable();
        }
    }

    #[inline(always)]
    pub fn ensure_regime(&self, v: &mut Vcpu, packed: u64) {
        if packed != v.current_regime && packed != u64::MAX {
            v.current_regime = packed;
            self.push(v, Record { kind: RecordKind::Regime as u8, a: packed, ..Default::default() });
        }
    }

    pub fn intern(&self, pc: u64, opcode: u32) -> &'static InsnInfo {
        let mut map = self.insns.lock().unwrap_or_else(|e| e.into_inner());
        map.entry((pc, opcode)).or_insert_with(|| {
            let id = self.next_insn.fetch_add(1, Ordering::Relaxed);
            Box::leak(Box::new(InsnInfo { id, pc, decoded: decode::decode(opcode), eret: decode::is_eret(opcode) }))
        })
    }

    pub fn filtered_out(&self, pa: u64) -> bool {
        !self.opts.filters.is_empty() && !self.opts.filters.iter().any(|&(s, e)| pa >= s && pa < e)
    }
}
