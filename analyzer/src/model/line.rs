//! Per-line state and the state transitions of docs/model.md. Hazard judgement stays in `Model`.

use crate::event::{AccessKind, BulkOp, CacheOp, Dma, DmaPath, NO_VCPU};
use crate::memtype::MemType;
use crate::trace::record::{walk_info, walk_info_fields};
use crate::report::SideAction;

/// Who made a version (or did an access): enough to rebuild a report side without keeping the event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterRef {
    pub pc: u64,
    pub va: u64,
    pub seq: u64,
    pub regime: u16,
    pub vcpu: u16,
    pub mem: u16,
    pub action: u16,
}

#[inline(always)]
pub fn action_code(a: SideAction) -> u16 {
    match a {
        SideAction::Access { kind, size } => {
            (if kind == AccessKind::Store { 0x100 } else { 0 }) | size.min(255) as u16
        }
        SideAction::Fetch => 0x200,
        SideAction::Maintenance(op) => {
            0x400 | op.code() as u16
        }
        // The walk record's info byte carries exactly what a walk side needs.
        SideAction::Walk { stage, level, update, cause } => 0x800 | walk_info(stage, level, update, cause, 8) as u16,
        SideAction::Bulk { op, store } => 0x1000 | if store { 4 } else { 0 } | op.code() as u16,
        // The device and the length do not fit: `WriterRef::dma` keeps them in the site's PC.
        SideAction::Dma { write, path, .. } => 0x2000 | if write { 8 } else { 0 } | path.code() as u16,
    }
}

/// A side's action, from the code alone; a DMA side's device and length are in its PC (`WriterRef::action`).
pub fn action_from_code(c: u16) -> SideAction {
    if c & 0x2000 != 0 {
        SideAction::Dma { write: c & 8 != 0, len: 0, device: 0, path: DmaPath::from_code(c as u8 & 7).unwrap_or(DmaPath::Rw) }
    } else if c & 0x1000 != 0 {
        SideAction::Bulk { op: BulkOp::from_code(c as u8).unwrap_or(BulkOp::Set), store: c & 4 != 0 }
    } else if c & 0x800 != 0 {
        let (stage, level, update, cause, _) = walk_info_fields(c as u8);
        SideAction::Walk { stage, level, update, cause }
    } else if c & 0x400 != 0 {
        SideAction::Maintenance(CacheOp::from_code((c & 0xff) as u8, 0).unwrap_or(CacheOp::DcCivac))
    } else if c & 0x200 != 0 {
        SideAction::Fetch
    } else {
        SideAction::Access {
            kind: if c & 0x100 != 0 { AccessKind::Store } else { AccessKind::Load },
            size: (c & 0xff) as u32,
        }
    }
}

/// The part of a writer that repeats (an instruction in a regime with a type and an action), interned
/// per model (`book::Sites`) so that a line stores a 4-byte id instead of 24 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Site {
    pub pc: u64,
    pub regime: u16,
    pub vcpu: u16,
    pub mem: u16,
    pub action: u16,
}

impl WriterRef {
    /// A device transfer as a writer or observer: no vCPU, regime or PC. The site's PC holds the device
    /// and the length (so a device's sites intern like an instruction's), the VA the bus address.
    pub fn dma(seq: u64, d: &Dma, mem: MemType) -> WriterRef {
        let action = action_code(SideAction::Dma { write: d.write, len: d.len, device: d.device, path: d.path });
        WriterRef { pc: (d.device as u64) << 32 | d.len as u64, va: d.pa, seq, regime: 0, vcpu: NO_VCPU, mem: mem.to_bits(), action }
    }

    /// What this side did, in full.
    pub fn action(&self) -> SideAction {
        match action_from_code(self.action) {
            SideAction::Dma { write, path, .. } => SideAction::Dma { write, path, len: self.pc as u32, device: (self.pc >> 32) as u32 },
            a => a,
        }
    }

    #[inline(always)]
    pub fn site(&self) -> Site {
        Site { pc: self.pc, regime: self.regime, vcpu: self.vcpu, mem: self.mem, action: self.action }
    }

    pub fn from_parts(site: Site, w: Writer) -> WriterRef {
        WriterRef {
            pc: site.pc,
            va: w.va(),
            seq: w.seq(),
            regime: site.regime,
            vcpu: site.vcpu,
            mem: site.mem,
            action: site.action,
        }
    }
}

/// A writer as a line stores it: the interned site, the VA and the position in the event stream
/// (20 bytes, 4-aligned, instead of `WriterRef`'s 32).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Writer {
    pub site: u32,
    va: [u32; 2],
    seq: [u32; 2],
}

impl Writer {
    #[inline(always)]
    pub fn new(site: u32, w: &WriterRef) -> Writer {
        Writer { site, va: [w.va as u32, (w.va >> 32) as u32], seq: [w.seq as u32, (w.seq >> 32) as u32] }
    }

    pub fn va(self) -> u64 {
        self.va[0] as u64 | (self.va[1] as u64) << 32
    }

    pub fn seq(self) -> u64 {
        self.seq[0] as u64 | (self.seq[1] as u64) << 32
    }
}

const PRESENT: u8 = 1;
const DIRTY: u8 = 2;
/// Allocated by a Write-Through access: later WT writes keep it up to date.
const WT: u8 = 4;
/// Not allocated by an access we saw: what a speculative allocation could have left.
const SPECULATIVE: u8 = 8;
/// Not present: an I-cache copy IC IVAU dropped, `ver` holding the line's version count at that moment
/// (R13 tells from it whether the invalidation came after the newest write).
const INVALIDATED: u8 = 16;

/// A cached copy of a line (in the PE cache, beyond the PoU, or in the I-cache): which version it holds
/// and its state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, packed)]
pub struct CachedCopy {
    pub ver: u32,
    flags: u8,
}

impl CachedCopy {
    pub const NONE: CachedCopy = CachedCopy { ver: 0, flags: 0 };

    pub fn clean(ver: u32, write_through: bool) -> CachedCopy {
        CachedCopy { ver, flags: PRESENT | if write_through { WT } else { 0 } }
    }

    pub fn speculative(ver: u32) -> CachedCopy {
        CachedCopy { ver, flags: PRESENT | SPECULATIVE }
    }

    pub fn dirty_copy(ver: u32) -> CachedCopy {
        CachedCopy { ver, flags: PRESENT | DIRTY }
    }

    #[inline(always)]
    pub fn present(self) -> bool {
        self.flags & PRESENT != 0
    }

    #[inline(always)]
    pub fn dirty(self) -> bool {
        self.flags & DIRTY != 0
    }

    pub fn write_through(self) -> bool {
        self.flags & WT != 0
    }

    pub fn is_speculative(self) -> bool {
        self.flags & SPECULATIVE != 0
    }

    /// The line's version count when IC IVAU dropped this (I-cache) copy, if that is what left it absent.
    pub fn invalidated_at(self) -> Option<u32> {
        (self.flags & INVALIDATED != 0).then_some(self.ver)
    }
}

/// How many of a line's most recent writes keep their byte masks (`Line::written_since`).
const RECENT: usize = 4;

/// The bits of a line's byte mask that bytes `[lo, hi)` of the line cover: bit i stands for bytes
/// `[i << granule, (i + 1) << granule)` (granule 0 for lines up to 64 bytes; bigger lines share bits).
#[inline(always)]
pub fn byte_mask(lo: u64, hi: u64, granule: u32) -> u64 {
    let first = (lo >> granule).min(63);
    let last = ((hi.max(lo + 1) - 1) >> granule).min(63);
    let n = last - first + 1;
    let bits = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
    bits << first
}

/// The lines (of `1 << shift` bytes) that `[pa, pa + size)` touches, each with the bytes of it covered:
/// (line PA, offset of the first byte, offset after the last).
#[inline(always)]
pub fn line_spans(shift: u32, pa: u64, size: u64) -> impl Iterator<Item = (u64, u64, u64)> {
    let end = pa.saturating_add(size.max(1));
    ((pa >> shift)..=((end - 1) >> shift)).map(move |l| {
        let line_pa = l << shift;
        (line_pa, pa.max(line_pa) - line_pa, end.min(line_pa.saturating_add(1 << shift)) - line_pa)
    })
}

/// One physical line. Versions count writes to the line; 0 is its content when the trace started.
#[derive(Clone, Debug, Default)]
pub struct Line {
    /// The last version number handed out; numbers are never reused.
    counter: u32,
    /// Byte masks (`byte_mask`) of the last `RECENT` writes, indexed by version modulo `RECENT`.
    recent: [u64; RECENT],
    /// Version of the newest data (normally the newest write; older when a write was lost).
    pub latest: u32,
    /// Version at the Point of Coherency.
    pub mem: u32,
    /// PE data caches up to the Point of Unification.
    pub pe: CachedCopy,
    /// Between PoU and PoC: where DC CVAU cleans to, and a system cache.
    pub beyond_pou: CachedCopy,
    /// Instruction cache, valid while `ic_epoch` matches the model's.
    pub ic: CachedCopy,
    pub ic_epoch: u32,
    pub latest_by: Writer,
    /// Writer of the PE cache's dirty data when `pe_by_latest` is false (most often it is the newest
    /// write, and a Write-Back store then updates one record instead of two).
    pe_by: Writer,
    pe_by_latest: bool,
    pub beyond_pou_by: Writer,
}

impl Line {
    pub fn new() -> Line {
        Line::default()
    }

    pub fn pe_writer(&self) -> Writer {
        if self.pe_by_latest { self.latest_by } else { self.pe_by }
    }

    /// Bytes (a `byte_mask`) that writes newer than version `ver` changed: where a copy holding version
    /// `ver` differs from the line's newest data. All bytes when more writes came since than are remembered.
    pub fn written_since(&self, ver: u32) -> u64 {
        let n = self.counter.wrapping_sub(ver) as usize;
        if n > RECENT {
            return u64::MAX;
        }
        let mut m = 0;
        for k in 0..n {
            m |= self.recent[(self.counter as usize - k) % RECENT];
        }
        m
    }

    /// Whether a copy holding version `ver` is stale in any of the bytes of `mask`.
    #[inline]
    pub fn stale_in(&self, ver: u32, mask: u64) -> bool {
        ver != self.latest && self.written_since(ver) & mask != 0
    }

    /// Hands out the next version, for a write of the bytes in `mask`.
    #[inline]
    fn next_version(&mut self, mask: u64) -> u32 {
        self.counter += 1;
        self.recent[self.counter as usize % RECENT] = mask;
        self.counter
    }

    /// Some copy (in the PE cache or beyond the PoU) holds data memory does not have.
    #[inline(always)]
    pub fn is_dirty(&self) -> bool {
        self.pe.dirty() || self.beyond_pou.dirty()
    }

    /// Writer of the dirty data a clean would push to memory (the PE cache's if both levels are dirty).
    pub fn dirty_writer(&self) -> Writer {
        if self.pe.dirty() { self.pe_writer() } else { self.beyond_pou_by }
    }

    /// The newest version now comes from `w` (and not from the PE cache's writer).
    fn set_latest_by(&mut self, w: Writer) {
        if self.pe_by_latest {
            self.pe_by = self.latest_by;
            self.pe_by_latest = false;
        }
        self.latest_by = w;
    }

    /// A Write-Back write of the bytes in `mask`: the PE cache's copy becomes the newest version, dirty.
    #[inline(always)]
    pub fn write_back(&mut self, w: Writer, mask: u64, spec_icache: Option<u32>) {
        if let Some(epoch) = spec_icache {
            self.speculative_icache(epoch);
        }
        self.latest = self.next_version(mask);
        self.pe = CachedCopy::dirty_copy(self.latest);
        self.latest_by = w;
        self.pe_by_latest = true;
    }

    /// A Write-Through, Non-cacheable or Device write of the bytes in `mask`: memory gets the newest version. A WT write keeps a
    /// copy that WT allocated current; any other copy is now stale. `spec_mapped` leaves a possibly
    /// allocated clean copy of the previous version where none is known (speculative mode).
    pub fn write_memory(&mut self, w: Writer, mask: u64, write_through: bool, spec_mapped: bool, spec_icache: Option<u32>) {
        if let Some(epoch) = spec_icache {
            self.speculative_icache(epoch);
        }
        let previous = self.mem;
        if spec_mapped && !self.pe.present() {
            self.pe = CachedCopy::speculative(previous);
        }
        self.latest = self.next_version(mask);
        self.mem = self.latest;
        self.set_latest_by(w);
        if write_through && self.pe.present() && self.pe.write_through() && !self.pe.dirty() {
            self.pe.ver = self.latest;
        }
    }

    /// The I-cache may hold the line's current version before it is overwritten (speculative mode).
    fn speculative_icache(&mut self, epoch: u32) {
        if !(self.ic.present() && self.ic_epoch == epoch) {
            self.ic = CachedCopy::speculative(self.latest);
            self.ic_epoch = epoch;
        }
    }

    /// Writes a dirty copy's version back to memory. If memory already holds a newer version, that newer
    /// write is now lost (reported when it happened) and the line's newest version is the one written back.
    fn write_back_to_memory(&mut self, ver: u32, by: Writer) {
        if self.mem > ver && self.latest == self.mem {
            self.latest = ver;
            self.set_latest_by(by);
        }
        self.mem = ver;
    }

    pub fn clean_to_poc(&mut self) {
        if self.beyond_pou.dirty() {
            let (v, by) = (self.beyond_pou.ver, self.beyond_pou_by);
            self.write_back_to_memory(v, by);
            self.beyond_pou = CachedCopy::clean(v, false);
        }
        if self.pe.dirty() {
            let (v, by) = (self.pe.ver, self.pe_writer());
            self.write_back_to_memory(v, by);
            if self.beyond_pou.present() {
                self.beyond_pou = CachedCopy::clean(v, false);
            }
            self.pe = CachedCopy::clean(v, false);
        }
    }

    /// DC CVAU: the PE cache's dirty data moves to the PoU level, still dirty with respect to PoC.
    pub fn clean_to_pou(&mut self) {
        if self.pe.dirty() {
            self.beyond_pou = CachedCopy::dirty_copy(self.pe.ver);
            self.beyond_pou_by = self.pe_writer();
            self.pe = CachedCopy::clean(self.pe.ver, false);
        }
    }

    /// IC IVAU: drops the I-cache copy, remembering when (in versions) it was dropped.
    pub fn invalidate_icache(&mut self) {
        self.ic = CachedCopy { ver: self.counter, flags: INVALIDATED };
    }

    /// Whether an IC IVAU of the line came after the write of its newest data (version numbers follow
    /// the writes' order, so a drop at version count `c` came after every write numbered up to `c`).
    pub fn icache_invalidated_since_newest(&self) -> bool {
        self.ic.invalidated_at().is_some_and(|c| self.latest <= c)
    }

    /// DC IVAC: drops both data levels. Dirty data is discarded: memory's version is the newest again.
    pub fn invalidate_data(&mut self) {
        if self.is_dirty() {
            self.latest = self.mem;
        }
        self.pe = CachedCopy::NONE;
        self.beyond_pou = CachedCopy::NONE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_state_stays_small() {
        // docs/model.md and BENCHMARKS.md quote the per-line memory; a field added here shows up there.
        assert_eq!(std::mem::size_of::<Writer>(), 20);
        assert_eq!(std::mem::size_of::<CachedCopy>(), 5);
        assert!(std::mem::size_of::<Line>() <= 128, "{} bytes", std::mem::size_of::<Line>());
    }

    #[test]
    fn writers_round_trip_through_their_compact_form() {
        let w = WriterRef { pc: 0x4010_0000, va: 0xffff_8000_1234_5678, seq: 0x1_0000_0002, regime: 3, vcpu: 2, mem: 0x3ff, action: 0x108 };
        assert_eq!(WriterRef::from_parts(w.site(), Writer::new(7, &w)), w);
    }
}
