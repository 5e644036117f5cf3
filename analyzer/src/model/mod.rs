//! The shadow cache model: replays events and reports coherency hazards. docs/model.md states every rule and
//! its Arm ARM reasoning; each rule is one function in `rules.rs`, named after it (`r1_cacheable_read` ...).
//!
//! Per physical line it keeps versions, not data: the version at the Point of Coherency (memory), a copy in
//! the PE caches up to the Point of Unification (one coherent domain for all vCPUs: hardware keeps cacheable
//! accesses coherent among PEs), a copy between PoU and PoC (where DC CVAU leaves data, and where a system
//! cache would allocate), an instruction-cache copy, and the newest write with who made it. A hazard is an
//! observer getting a version other than the newest, or a write whose data is certain to be lost.
//!
//! The rooms: `config` (what the model can be told), `book` (bookkeeping: line and page tables, regimes,
//! per-vCPU state), `line` (one line's state and transitions), `rules` (R1-R16), `annotate` (turning a
//! rule's finding into a reported hazard: suppression, set/way reclassification, range names). This file
//! is the public face and the dispatch from events to rules.

mod annotate;
mod book;
mod config;
mod line;
mod rules;

pub use book::Devices;
pub use crate::report::history::{CopySnapshot, LineSnapshot};

pub use config::{DeviceStats, DmaPolicy, Mode, ModelConfig, ModelStats, ResetState};

use crate::event::{Access, AccessKind, Bulk, BulkOp, Dma, Event, Marker, MarkerKind, PendingType, SysReg, Walk};
use crate::memtype::{Cacheability, MemType};
use crate::report::{Hazard, HazardLog, SideAction};
use book::Book;
use line::{WriterRef, byte_mask};

/// The embeddable consumer: feed events in global order, read hazards.
pub struct Model {
    cfg: ModelConfig,
    line_shift: u32,
    /// log2 of the bytes one bit of a line's byte mask stands for (0 up to 64-byte lines).
    mask_granule: u32,
    book: Book,
    /// Position of the event being judged.
    seq: u64,
    log: HazardLog,
    suppressed: Vec<(u64, u64)>,
    names: Vec<(u64, u64, String)>,
    test_case: Option<u64>,
    stats: ModelStats,
    /// This model judges only lines with (line number % shard_count) == shard_index (analysis on
    /// several threads); page-level facts still come from every access, so all shards agree on them.
    shard_index: u64,
    shard_count: u64,
    /// The other memory type the next access of its vCPU may have (an unsynchronized register write).
    pending_type: Option<PendingType>,
    /// Set while an access is judged under that other type: its hazards say why.
    judging_pending: Option<PendingType>,
    /// Which devices snoop the PE caches (not in the `Copy` config: it holds names).
    dma: DmaPolicy,
    /// (sequence number, place among the transfers with that number) of the last transfer, and the place
    /// of the event being judged (`u32::MAX` outside transfers: a vCPU's record comes after the device's
    /// with its number), so that hazards found at one sequence number keep their replay order in a
    /// sharded analysis's merge.
    dma_last: (u64, u32),
    found_tie: u32,
}

impl Model {
    pub fn new(cfg: ModelConfig) -> Model {
        Model {
            cfg,
            line_shift: cfg.line_size.max(16).trailing_zeros(),
            mask_granule: cfg.line_size.max(16).trailing_zeros().saturating_sub(6),
            book: Book::new(cfg.line_size.max(16).trailing_zeros()),
            seq: 0,
            log: HazardLog::default(),
            suppressed: Vec::new(),
            names: Vec::new(),
            test_case: None,
            pending_type: None,
            judging_pending: None,
            stats: ModelStats::default(),
            shard_index: 0,
            shard_count: 1,
            dma: DmaPolicy::default(),
            dma_last: (u64::MAX, 0),
            found_tie: u32::MAX,
        }
    }

    /// Which devices are coherent (default: all). Applies to every transfer from now on: set it before
    /// feeding.
    pub fn set_dma_policy(&mut self, policy: DmaPolicy) {
        self.book.devices.apply(&policy);
        self.dma = policy;
    }

    /// As `Model::new`, with a DMA policy.
    pub fn with_dma(cfg: ModelConfig, policy: DmaPolicy) -> Model {
        let mut m = Model::new(cfg);
        m.set_dma_policy(policy);
        m
    }

    pub fn dma_policy(&self) -> &DmaPolicy {
        &self.dma
    }

    /// Every device the events named or showed transferring, in order of first appearance.
    pub fn devices(&self) -> Vec<DeviceStats> {
        self.book.devices.all()
    }

    /// A model for shard `index` of `count`: fed every event, it judges only its share of the lines.
    /// Merging the shards' logs (`HazardLog::merge`) gives the single model's report.
    pub fn sharded(cfg: ModelConfig, index: u32, count: u32) -> Model {
        let mut m = Model::new(cfg);
        m.shard_count = count.max(1) as u64;
        m.shard_index = index as u64 % m.shard_count;
        m
    }

    #[inline(always)]
    fn owns(&self, line_pa: u64) -> bool {
        self.shard_count == 1 || (line_pa >> self.line_shift) % self.shard_count == self.shard_index
    }

    /// One line's state now (`explain`): `None` if no event has touched it. Read only; the hot path never
    /// calls it.
    pub fn line_snapshot(&mut self, line_pa: u64) -> Option<LineSnapshot> {
        let line_pa = line_pa >> self.line_shift << self.line_shift;
        let epoch = self.book.ic_epoch;
        let l = self.book.existing_line(line_pa)?;
        let copy = |c: line::CachedCopy| {
            c.present().then_some(CopySnapshot { ver: c.ver, dirty: c.dirty(), speculative: c.is_speculative() })
        };
        Some(LineSnapshot {
            latest: l.latest,
            mem: l.mem,
            pe: copy(l.pe),
            beyond_pou: copy(l.beyond_pou),
            icache: if l.ic_epoch == epoch { copy(l.ic) } else { None },
        })
    }

    pub fn hazards(&self) -> &[Hazard] {
        self.log.hazards()
    }

    pub fn log(&self) -> &HazardLog {
        &self.log
    }

    pub fn into_log(self) -> HazardLog {
        self.log
    }

    pub fn stats(&self) -> ModelStats {
        ModelStats { events: self.stats.events + self.stats.accesses, ..self.stats }
    }

    /// Forgets the hazards found so far (a fuzzer's new test case); the cache state carries on, as it
    /// does on hardware.
    pub fn clear_hazards(&mut self) {
        self.log.clear();
    }

    /// Forgets everything: cache state, hazards, names (not the DMA policy).
    pub fn reset(&mut self) {
        let dma = std::mem::take(&mut self.dma);
        *self = Model::with_dma(self.cfg, dma);
    }

    /// The test case the guest's last Begin marker opened, if it is still open.
    pub fn test_case(&self) -> Option<u64> {
        self.test_case
    }

    /// Suppresses hazards on a physical range (guest markers, or a harness through the library).
    pub fn suppress_range(&mut self, start: u64, len: u64) {
        self.suppressed.push((start, start.saturating_add(len)));
    }

    /// Feeds one event. Events must come in global order.
    #[inline]
    pub fn feed(&mut self, ev: &Event) {
        let seq = self.seq + 1;
        self.feed_at(seq, ev);
    }

    /// Feeds one event with its position in the global order (a trace's sequence number). Positions must
    /// increase; they order causes against set/way maintenance and identify sides in reports.
    #[inline]
    pub fn feed_at(&mut self, seq: u64, ev: &Event) {
        match ev {
            Event::Access(a) => self.access_at(seq, a),
            Event::Walk(w) => self.walk_at(seq, w),
            _ => self.feed_other(seq, ev),
        }
    }

    /// Who did an event, as a line remembers it (a report side).
    #[inline(always)]
    fn writer_ref(&self, seq: u64, vcpu: u16, pc: u64, va: u64, mem: MemType, action: u16) -> WriterRef {
        WriterRef { pc, va, seq, regime: self.book.regime_of(vcpu), vcpu, mem: mem.to_bits(), action }
    }

    /// The hot path: one data access, judged line by line.
    #[inline(always)]
    pub fn access_at(&mut self, seq: u64, a: &Access) {
        self.seq = seq;
        self.stats.accesses += 1;
        if a.mmio || !a.mem.is_known() {
            self.skip_access(a);
            return;
        }
        if self.pending_type.is_some_and(|t| t.vcpu == a.vcpu) {
            self.r14_pending_type(seq, a);
        }
        let w = self.writer_ref(seq, a.vcpu, a.pc, a.va, a.mem, line::action_code(SideAction::Access { kind: a.kind, size: a.size }));
        // The common case: an access within one line of at most 64 bytes (one mask bit per byte).
        let size = judged_size(a);
        let line_bytes = 1u64 << self.line_shift;
        let off = a.pa & (line_bytes - 1);
        if self.mask_granule == 0 && off + size <= line_bytes {
            let line_pa = a.pa - off;
            if !self.owns(line_pa) {
                self.note_page_only(line_pa, a.mem);
                return;
            }
            let mask = if size >= 64 { u64::MAX } else { ((1u64 << size) - 1) << off };
            self.access_line(a.kind, line_pa, &w, a.mem, mask);
            return;
        }
        self.access_range(a.kind, a.pa, size, &w, a.mem);
    }

    /// Whether an access must reach `access_at` even if this shard owns none of its lines (it consumes a
    /// pending type).
    #[inline(always)]
    pub fn has_pending_type(&self) -> bool {
        self.pending_type.is_some()
    }

    /// An access of `size` bytes at `pa` that may span lines (unaligned, wide, or a bulk range): each
    /// line judged on the bytes of it the access covers.
    pub(super) fn access_range(&mut self, kind: AccessKind, pa: u64, size: u64, w: &WriterRef, mem: MemType) {
        for (line_pa, lo, hi) in line::line_spans(self.line_shift, pa, size) {
            if !self.owns(line_pa) {
                self.note_page_only(line_pa, mem);
            } else {
                self.access_line(kind, line_pa, w, mem, byte_mask(lo, hi, self.mask_granule));
            }
        }
    }

    /// A bulk access (a MOPS SET/CPY step, a DC ZVA block; docs/model.md, "Bulk accesses"): a MOPS step
    /// is an ordinary access of its whole range, R1-R5 line by line; a zeroing block is R6.
    pub fn bulk_at(&mut self, seq: u64, b: &Bulk) {
        self.seq = seq;
        self.stats.bulk += 1;
        self.stats.bulk_bytes += b.len as u64;
        self.stats.events += 1;
        if !b.mem.is_known() {
            self.stats.unknown_type += 1;
            return;
        }
        let w = self.writer_ref(seq, b.vcpu, b.pc, b.va, b.mem, line::action_code(SideAction::Bulk { op: b.op, store: b.store }));
        match b.op {
            BulkOp::Zero => self.r6_dc_zva(b.pa, b.len, &w, b.mem),
            BulkOp::Set | BulkOp::Copy => {
                let kind = if b.store { AccessKind::Store } else { AccessKind::Load };
                self.access_range(kind, b.pa, b.len as u64, &w, b.mem);
            }
        }
    }

    /// A device's transfer (docs/model.md, "Device DMA"). A coherent device is one more observer in the
    /// Inner Shareable domain: its reads snoop the PE caches and allocate nothing (R15), its writes land at
    /// the PoC and invalidate the copies above it (R16); reports show it as Normal-WB. A non-coherent one
    /// reads and writes at the PoC without snooping: a Non-cacheable access of the range (R2/R5). Line by
    /// line, byte-exact, as `access_range`.
    pub fn dma_at(&mut self, seq: u64, d: &Dma) {
        self.seq = seq;
        self.stats.dma += 1;
        self.stats.dma_bytes += d.len as u64;
        self.stats.events += 1;
        let coherent = self.book.devices.transfer(d, &self.dma);
        let mem = if coherent { MemType::NORMAL_WB } else { MemType::NORMAL_NC };
        let w = WriterRef::dma(seq, d, mem);
        let kind = if d.write { AccessKind::Store } else { AccessKind::Load };
        let (last, place) = self.dma_last;
        self.dma_last = (seq, if last == seq { place.saturating_add(1).min(u32::MAX - 1) } else { 0 });
        self.found_tie = self.dma_last.1;
        if coherent {
            self.coherent_device_range(d.write, d.pa, d.len.max(1) as u64, &w);
        } else {
            // A non-coherent device reads and writes at PoC, exactly as a non-cacheable access (R2, R5).
            self.access_range(kind, d.pa, d.len.max(1) as u64, &w, mem);
        }
        self.found_tie = u32::MAX;
    }

    /// A coherent device's transfer, line by line and byte-exact like `access_range`: R15 or R16.
    fn coherent_device_range(&mut self, write: bool, pa: u64, len: u64, w: &WriterRef) {
        for (line_pa, lo, hi) in line::line_spans(self.line_shift, pa, len) {
            if !self.owns(line_pa) {
                continue;
            }
            let mask = byte_mask(lo, hi, self.mask_granule);
            if write {
                self.r16_coherent_device_write(line_pa, w, mask);
            } else {
                self.r15_coherent_device_read(line_pa, w, mask);
            }
        }
    }

    /// One line's share of an access: the rule for its direction and memory type.
    #[inline(always)]
    fn access_line(&mut self, kind: AccessKind, line_pa: u64, w: &WriterRef, mem: MemType, mask: u64) {
        match (kind, mem.inner_class()) {
            (AccessKind::Load, Cacheability::NonCacheable) => self.r2_noncacheable_read(line_pa, w, mem, mask),
            (AccessKind::Load, _) => self.r1_cacheable_read(line_pa, w, mem, mask),
            (AccessKind::Store, Cacheability::WriteBack) => self.r3_write_back_write(line_pa, w, mask),
            (AccessKind::Store, Cacheability::WriteThrough) => self.r4_write_through_write(line_pa, w, mask),
            (AccessKind::Store, Cacheability::NonCacheable) => self.r5_noncacheable_write(line_pa, w, mask),
        }
    }

    /// For a sharded model: an access that lies in one line another shard judges only counts as
    /// page-level evidence here (`true` when handled so). Lets a replay skip building the access.
    #[inline(always)]
    pub fn skip_foreign(&mut self, pa: u64, size: u32, mem: MemType, mmio: bool) -> bool {
        // MMIO is not modelled at all (no page evidence either): the full path counts and skips it.
        if self.shard_count == 1 || mmio {
            return false;
        }
        let line_pa = pa >> self.line_shift << self.line_shift;
        if pa.saturating_add(size.max(1) as u64 - 1) >> self.line_shift != pa >> self.line_shift || self.owns(line_pa) {
            return false;
        }
        self.stats.accesses += 1;
        self.note_page_only(line_pa, mem);
        true
    }

    /// Another shard judges this line; the page-level evidence still counts here.
    #[inline]
    fn note_page_only(&mut self, line_pa: u64, mem: MemType) {
        if mem.inner_class() != Cacheability::NonCacheable {
            self.book.note_cacheable(line_pa);
        }
    }

    #[cold]
    fn skip_access(&mut self, a: &Access) {
        if a.mmio {
            self.stats.mmio += 1;
        } else {
            self.stats.unknown_type += 1;
        }
    }

    fn feed_other(&mut self, seq: u64, ev: &Event) {
        self.seq = seq;
        match *ev {
            Event::Access(ref a) => return self.access_at(seq, a),
            Event::Fetch(f) => {
                self.stats.fetches += 1;
                let w = self.writer_ref(seq, f.vcpu, f.pc, f.pc, f.mem, line::action_code(SideAction::Fetch));
                // The bytes fetched: from the first instruction to the last one the plugin saw in the line
                // (`Fetch::pa` bit 0 set), else to the end of the line (older traces).
                let line_size = 1u64 << self.line_shift;
                let lo = f.pc & (line_size - 1);
                let hi = if f.pa & 1 != 0 { (f.pa & (line_size - 1) & !3) + 4 } else { line_size };
                let mask = byte_mask(lo, hi.max(lo + 1), self.mask_granule);
                self.r13_fetch(f.pa & !(line_size - 1), &w, f.mem, mask);
            }
            Event::Maintenance(m) => {
                self.stats.maintenance += 1;
                let w = self.writer_ref(seq, m.vcpu, m.pc, m.operand, m.mem, line::action_code(SideAction::Maintenance(m.op)));
                self.maintenance(&m, &w);
            }
            Event::SysReg(w) => match w.reg {
                SysReg::CtrEl0 => self.book.ctr_el0 = Some(w.value),
                SysReg::ClidrEl1 => self.book.clidr_el1 = Some(w.value),
                _ => {}
            },
            Event::Regime { vcpu, regime } => self.book.set_regime(vcpu, regime),
            Event::Marker(m) => self.marker(&m),
            Event::Walk(ref walk) => return self.walk_at(seq, walk),
            Event::Bulk(ref b) => return self.bulk_at(seq, b),
            Event::PendingType(t) => self.pending_type = Some(t),
            Event::Dma(ref d) => return self.dma_at(seq, d),
            // Every shard sees every name: reports name a device the same whichever shard finds it.
            Event::DeviceName(ref n) => self.book.devices.name_part(n, &self.dma),
        }
        self.stats.events += 1;
    }

    /// A table-walk descriptor access: the walker is one more observer with its own memory type (a read,
    /// R1/R2), and a hardware update is a write with that type (R3-R5). docs/model.md, "Table walks".
    #[inline]
    pub fn walk_at(&mut self, seq: u64, walk: &Walk) {
        self.seq = seq;
        self.stats.walks += 1;
        self.stats.events += 1;
        if !walk.mem.is_known() {
            self.stats.unknown_type += 1;
            return;
        }
        let action = SideAction::Walk { stage: walk.stage, level: walk.level, update: walk.update, cause: walk.cause };
        let w = self.writer_ref(seq, walk.vcpu, walk.pc, walk.va, walk.mem, line::action_code(action));
        let kind = if walk.update { AccessKind::Store } else { AccessKind::Load };
        // A descriptor is 4 or 8 bytes, naturally aligned: always within one line.
        let line_bytes = 1u64 << self.line_shift;
        let off = walk.pa & (line_bytes - 1);
        let line_pa = walk.pa - off;
        if !self.owns(line_pa) {
            return self.note_page_only(line_pa, walk.mem);
        }
        let mask = byte_mask(off, (off + walk.size.max(1) as u64).min(line_bytes), self.mask_granule);
        self.access_line(kind, line_pa, &w, walk.mem, mask);
    }

    fn marker(&mut self, m: &Marker) {
        let [id, start, len] = m.args;
        match m.kind {
            MarkerKind::Suppress => self.suppress_range(start, len),
            MarkerKind::NameRange => {
                let name = m.name_str();
                let name = if name.is_empty() { format!("range-{id:#x}") } else { name };
                self.names.push((start, start.saturating_add(len), name));
            }
            MarkerKind::Begin => self.test_case = Some(id),
            MarkerKind::End => self.test_case = None,
            MarkerKind::Check => {}
        }
    }
}

#[cfg(test)]
mod tests;

/// The bytes of an access the model judges: those in its first 4 KiB page. QEMU reports one physical
/// address for an access that crosses a page boundary, and the next virtual page may map anywhere: its bytes
/// are not at `pa + size` (docs/model.md, "Known limits"). 4 KiB is the smallest translation granule, so
/// the first page is physically contiguous whatever granule the guest uses.
#[inline(always)]
pub(crate) fn judged_size(a: &Access) -> u64 {
    const PAGE: u64 = 4096;
    (a.size.max(1) as u64).min(PAGE - (a.pa & (PAGE - 1)))
}
