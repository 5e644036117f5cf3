//! The rules of docs/model.md, one function each, named after the rule (R1-R16). Each changes the line's
//! state as the rule says and, where the rule finds a hazard, hands it to `annotate` with its missing
//! maintenance. The dispatch to them is in `mod.rs` (accesses by direction and type, events) and in
//! `maintenance` below.

use super::config::{Mode, ResetState};
use super::book::PageEvidence;
use super::line::{self, CachedCopy, Writer, WriterRef, byte_mask};
use super::Model;
use crate::event::{Access, AccessKind, CacheOp, Maintenance};
use crate::memtype::{Cacheability, MemType};
use crate::report::{HazardClass, SideAction};

impl Model {
    /// Whether a type's outer level allocates in the modelled system cache.
    fn allocates_in_system_cache(&self, mem: MemType) -> bool {
        self.cfg.system_cache && mem.outer().is_some_and(|o| o != Cacheability::NonCacheable)
    }

    /// The I-cache may hold an old copy of any line of a page code was fetched from (speculative mode):
    /// the epoch a write leaves such a copy in.
    #[inline(always)]
    fn speculative_icache(speculative: bool, page: &PageEvidence, epoch: u32) -> Option<u32> {
        (speculative && page.fetched).then_some(epoch)
    }

    /// R1, cacheable read (inner WB or WT): hits the PE cache copy, else the PoU-to-PoC copy, else memory;
    /// a miss allocates. Reading a version other than the newest (in the bytes read) is a stale-read.
    #[inline(always)]
    pub(super) fn r1_cacheable_read(&mut self, line_pa: u64, w: &WriterRef, mem: MemType, mask: u64) {
        let write_through = mem.inner_class() == Cacheability::WriteThrough;
        let system_cache = self.allocates_in_system_cache(mem);
        let (line, page) = self.book.line_and_page(line_pa);
        page.cacheable = true;
        let got = if line.pe.present() {
            line.pe.ver
        } else if line.beyond_pou.present() {
            let v = line.beyond_pou.ver;
            line.pe = CachedCopy::clean(v, write_through);
            v
        } else {
            let v = line.mem;
            line.pe = CachedCopy::clean(v, write_through);
            if system_cache {
                line.beyond_pou = CachedCopy::clean(v, false);
            }
            v
        };
        if line.stale_in(got, mask) {
            let (cause, speculative) = (line.latest_by, line.pe.is_speculative());
            let cause = self.book.expand(cause);
            let missing = if speculative {
                "DC IVAC or DC CIVAC (to PoC) by the reader after the write and before the read \
                 (the reader's live cacheable mapping of the page lets the cache hold an old copy)"
            } else {
                "DC IVAC or DC CIVAC (to PoC) by the reader after the write and before the read"
            };
            self.hazard(HazardClass::StaleRead, line_pa, w, &cause, missing);
        }
    }

    /// R2, non-cacheable read (NC or Device): reads memory (or a system cache the type is outer-cacheable
    /// in). Newer data still dirty in a cache is a dirty-bypass.
    #[inline(always)]
    pub(super) fn r2_noncacheable_read(&mut self, line_pa: u64, w: &WriterRef, mem: MemType, mask: u64) {
        let system_cache = self.allocates_in_system_cache(mem);
        let line = self.book.line(line_pa);
        let got = if system_cache && line.beyond_pou.present() { line.beyond_pou.ver } else { line.mem };
        if line.stale_in(got, mask) {
            let only_beyond_pou = line.beyond_pou.dirty() && !line.pe.dirty();
            let cause = line.dirty_writer();
            let cause = self.book.expand(cause);
            let missing = if only_beyond_pou {
                "DC CVAC or DC CIVAC (to PoC) by the writer after the write: DC CVAU only cleans to PoU, which is not PoC"
            } else {
                "DC CVAC or DC CIVAC (to PoC) by the writer after the write and before the non-cacheable read"
            };
            self.hazard(HazardClass::DirtyBypass, line_pa, w, &cause, missing);
        }
    }

    /// R3, Write-Back write: the PE cache copy becomes the newest version, dirty. Merging into (or
    /// allocating from) a copy that is stale in bytes this write does not cover is a lost-write: the dirty
    /// line's write-back will overwrite the newer data in memory.
    #[inline(always)]
    pub(super) fn r3_write_back_write(&mut self, line_pa: u64, w: &WriterRef, mask: u64) {
        let (line_size, granule) = (1u64 << self.line_shift, self.mask_granule);
        let (speculative, epoch) = (self.cfg.mode == Mode::Speculative, self.book.ic_epoch);
        let writer = self.book.writer(w);
        let (line, page) = self.book.line_and_page(line_pa);
        page.cacheable = true;
        let spec_icache = Self::speculative_icache(speculative, page, epoch);
        let base = if line.pe.present() {
            Some(line.pe.ver)
        } else if line.beyond_pou.present() {
            Some(line.beyond_pou.ver)
        } else {
            None
        };
        // Bytes this write covers are not clobbered: their newest data is this write's.
        let others = !mask & byte_mask(0, line_size, granule);
        let clobbers = base.is_some_and(|v| line.stale_in(v, others));
        let victim = line.latest_by;
        line.write_back(writer, mask, spec_icache);
        if clobbers {
            let victim = self.book.expand(victim);
            self.hazard(
                HazardClass::LostWrite,
                line_pa,
                &victim,
                w,
                "DC IVAC or DC CIVAC (to PoC) on the line before writing it through the cacheable mapping",
            );
        }
    }

    /// R15, a coherent device's read: it snoops the PE caches, so it gets a cached copy if there is one
    /// (dirty data too: no dirty-bypass), else memory; it allocates nothing in the PE caches and says
    /// nothing about how the CPUs map the page. A clean copy older than memory (left by a non-cacheable
    /// CPU write) answers the snoop: a stale-read.
    pub(super) fn r15_coherent_device_read(&mut self, line_pa: u64, w: &WriterRef, mask: u64) {
        let line = self.book.line(line_pa);
        let got = if line.pe.present() {
            line.pe.ver
        } else if line.beyond_pou.present() {
            line.beyond_pou.ver
        } else {
            line.mem
        };
        if line.stale_in(got, mask) {
            let cause = line.latest_by;
            let cause = self.book.expand(cause);
            self.hazard(
                HazardClass::StaleRead,
                line_pa,
                w,
                &cause,
                "DC IVAC or DC CIVAC (to PoC) of the cacheable copy the non-cacheable write left stale, before the coherent device reads: it snoops the PE caches and finds that copy",
            );
        }
    }

    /// R16, a coherent device's write: the interconnect snoops first (a dirty copy is written back and
    /// merged, so nothing is lost), the data lands at the Point of Coherency and every data copy above it
    /// is invalidated (write-invalidate). The instruction cache is not snooped.
    pub(super) fn r16_coherent_device_write(&mut self, line_pa: u64, w: &WriterRef, mask: u64) {
        let writer = self.book.writer(w);
        let line = self.book.line(line_pa);
        line.clean_to_poc();
        line.write_memory(writer, mask, false, false, None);
        line.invalidate_data();
    }

    /// R4, Write-Through write: updates memory, and a PE cache copy only if a Write-Through access
    /// allocated it; with a dirty copy, a lost-write as in R5.
    #[inline(always)]
    pub(super) fn r4_write_through_write(&mut self, line_pa: u64, w: &WriterRef, mask: u64) {
        self.write_around_caches(line_pa, w, mask, true);
    }

    /// R5, non-cacheable write (NC or Device): updates memory; every cached copy is now stale. A dirty copy
    /// is a lost-write: its eviction or clean will overwrite this write in memory.
    #[inline(always)]
    pub(super) fn r5_noncacheable_write(&mut self, line_pa: u64, w: &WriterRef, mask: u64) {
        self.write_around_caches(line_pa, w, mask, false);
    }

    /// What R4 and R5 share: a write that goes to memory (speculative mode: a page mapped cacheable may
    /// hold a clean copy of the previous version), judged against a dirty copy. A Write-Through write is
    /// itself evidence of a cacheable mapping (after the judgement of this write).
    #[inline(always)]
    fn write_around_caches(&mut self, line_pa: u64, w: &WriterRef, mask: u64, write_through: bool) {
        let (speculative, epoch, reset_unknown) =
            (self.cfg.mode == Mode::Speculative, self.book.ic_epoch, self.cfg.reset == ResetState::Unknown);
        let writer = self.book.writer(w);
        let (line, page) = self.book.line_and_page(line_pa);
        let spec_icache = Self::speculative_icache(speculative, page, epoch);
        let spec_mapped = speculative && (reset_unknown || page.cacheable);
        page.cacheable |= write_through;
        let dirty = line.is_dirty().then(|| line.dirty_writer());
        line.write_memory(writer, mask, write_through, spec_mapped, spec_icache);
        if let Some(cause) = dirty {
            self.lost_to(line_pa, w, cause, "DC CIVAC (clean and invalidate to PoC) by the holder of the dirty line before this write");
        }
    }

    /// A lost-write whose cause is the writer of a dirty copy (R4, R5, R9).
    fn lost_to(&mut self, line_pa: u64, observer: &WriterRef, dirty_writer: Writer, missing: &str) {
        let cause = self.book.expand(dirty_writer);
        self.hazard(HazardClass::LostWrite, line_pa, observer, &cause, missing);
    }

    /// Cache and TLB maintenance: set/way (R12), I-cache invalidation of everything (R11), TLBI (no
    /// effect), and the by-VA operations (R6-R11) on the line their VA translated to.
    pub(super) fn maintenance(&mut self, m: &Maintenance, w: &WriterRef) {
        if m.op.is_set_way() {
            return self.r12_set_way(m);
        }
        match (m.op, m.pa) {
            (CacheOp::IcIallu | CacheOp::IcIalluis, _) => {
                self.book.ic_epoch = self.book.ic_epoch.wrapping_add(1);
                self.book.ic_all_seq = Some(self.seq);
            }
            (CacheOp::Tlbi(_), _) => {}
            (_, None) => self.stats.untranslated_maintenance += 1,
            (CacheOp::DcZva, Some(pa)) => self.r6_dc_zva(pa, m.len, w, m.mem),
            (op, Some(pa)) => {
                let line_pa = pa & !(self.cfg.line_size as u64 - 1);
                if !self.owns(line_pa) {
                    return;
                }
                match op {
                    CacheOp::DcCvac | CacheOp::DcCvap | CacheOp::DcCvadp => self.r7_clean_to_poc(line_pa),
                    CacheOp::DcCivac => self.r8_clean_and_invalidate_to_poc(line_pa),
                    CacheOp::DcIvac if self.r9_invalidate_cleans(w) => self.r8_clean_and_invalidate_to_poc(line_pa),
                    CacheOp::DcIvac => self.r9_invalidate(line_pa, w),
                    CacheOp::DcCvau => self.r10_clean_to_pou(line_pa),
                    CacheOp::IcIvau => self.r11_invalidate_icache_line(line_pa),
                    _ => {}
                }
            }
        }
    }

    /// R6, DC ZVA: a write of zeros to the whole block (aligned to its size) with the mapping's type,
    /// byte-exact: exactly the block's bytes, no neighbouring line.
    pub(super) fn r6_dc_zva(&mut self, pa: u64, len: u32, w: &WriterRef, mem: MemType) {
        let len = len.max(1) as u64;
        self.access_range(AccessKind::Store, pa & !(len - 1), len, w, mem);
    }

    /// R7, DC CVAC / CVAP / CVADP: clean to PoC; copies stay, clean.
    fn r7_clean_to_poc(&mut self, line_pa: u64) {
        if let Some(line) = self.book.existing_line(line_pa) {
            line.clean_to_poc();
        }
    }

    /// R8, DC CIVAC: clean to PoC, then invalidate both data levels.
    fn r8_clean_and_invalidate_to_poc(&mut self, line_pa: u64) {
        if let Some(line) = self.book.existing_line(line_pa) {
            line.clean_to_poc();
            line.pe = CachedCopy::NONE;
            line.beyond_pou = CachedCopy::NONE;
        }
    }

    /// R9, DC IVAC: invalidate both data levels; discarding dirty data is a lost-write.
    fn r9_invalidate(&mut self, line_pa: u64, w: &WriterRef) {
        let Some(line) = self.book.existing_line(line_pa) else { return };
        let dirty = line.is_dirty().then(|| line.dirty_writer());
        line.invalidate_data();
        if let Some(cause) = dirty {
            self.lost_to(line_pa, w, cause, "DC CIVAC instead of DC IVAC: invalidating a dirty line discards the write");
        }
    }

    /// R9's exception: with stage 2 on (HCR_EL2.VM = 1), DC IVAC at EL1 is performed as a clean and
    /// invalidate (Arm ARM, HCR_EL2.VM: "data cache invalidate instructions executed at EL1 perform a data
    /// cache clean and invalidate"), so a guest cannot discard its hypervisor's dirty data. A regime has a
    /// VMID exactly when stage 2 is on; with E2H and TGE set EL0 runs in EL2&0, which has none.
    fn r9_invalidate_cleans(&self, w: &WriterRef) -> bool {
        let regime = self.book.regime(w.regime);
        regime.el == 1 && regime.vmid.is_some()
    }

    /// R10, DC CVAU: clean to PoU only; the data stays dirty with respect to PoC.
    fn r10_clean_to_pou(&mut self, line_pa: u64) {
        if let Some(line) = self.book.existing_line(line_pa) {
            line.clean_to_pou();
        }
    }

    /// R11, IC IVAU: drop the line's instruction-cache copy (IC IALLU/IALLUIS start a new epoch instead).
    fn r11_invalidate_icache_line(&mut self, line_pa: u64) {
        if let Some(line) = self.book.existing_line(line_pa) {
            line.invalidate_icache();
        }
    }

    /// R12, set/way maintenance: no effect on line state; remembered so that a hazard it was evidently
    /// meant to fix is reported as set-way-maintenance (`r12_set_way_verdict`).
    fn r12_set_way(&mut self, m: &Maintenance) {
        let seq = self.seq;
        self.book.vcpu(m.vcpu).set_way = Some((seq, m.pc, m.op));
    }

    /// R12's judgement: set/way maintenance by either side's vCPU between the cause and the observer of a
    /// stale-read, dirty-bypass or lost-write was meant to fix it and cannot. Returns the reclassified
    /// class and missing maintenance, or `None` to keep them.
    pub(super) fn r12_set_way_verdict(
        &self,
        class: HazardClass,
        observer: &WriterRef,
        cause: &WriterRef,
        missing: &str,
    ) -> Option<(HazardClass, String)> {
        if !matches!(class, HazardClass::StaleRead | HazardClass::DirtyBypass | HazardClass::LostWrite) {
            return None;
        }
        [observer.vcpu, cause.vcpu].into_iter().find_map(|v| {
            let (seq, pc, op) = self.book.set_way_of(v)?;
            (seq > cause.seq.min(observer.seq)).then(|| {
                let why = format!(
                    "{} at pc {pc:#x} works by set/way on one PE's caches only; use DC CIVAC/DC CVAC by VA to PoC ({missing})",
                    op.mnemonic()
                );
                (HazardClass::SetWayMaintenance, why)
            })
        })
    }

    /// The CPU's instruction-data coherence (R13): what the configuration forces, or (with `cpu_coherence`)
    /// what CTR_EL0 and CLIDR_EL1 as recorded say. Effective IDC: CTR_EL0.IDC, or CLIDR_EL1.LoC = 0, or
    /// CLIDR_EL1.LoUIS = LoUU = 0 (Arm ARM, CTR_EL0.IDC).
    fn coherence(&self) -> (bool, bool) {
        if !self.cfg.cpu_coherence {
            return (self.cfg.idc, self.cfg.dic);
        }
        let ctr = self.book.ctr_el0.unwrap_or(0);
        let idc_reg = ctr & (1 << 28) != 0
            || self.book.clidr_el1.is_some_and(|c| (c >> 24) & 7 == 0 || ((c >> 21) & 7 == 0 && (c >> 27) & 7 == 0));
        (self.cfg.idc || idc_reg, self.cfg.dic || ctr & (1 << 29) != 0)
    }

    /// R13, instruction fetch of the bytes in `mask` of the line: the I-cache copy if valid, else a fill
    /// from the PoU (data dirty in the PE cache is invisible without IDC); non-cacheable fetches read
    /// memory. Instructions other than the newest are a stale-ifetch, and its missing maintenance names
    /// every step the line lacked (`fetch_missing`).
    pub(super) fn r13_fetch(&mut self, line_pa: u64, w: &WriterRef, mem: MemType, mask: u64) {
        self.book.note_fetched(line_pa);
        if !self.owns(line_pa) {
            return;
        }
        let epoch = self.book.ic_epoch;
        let cacheable = mem.inner_class() != Cacheability::NonCacheable;
        let (idc, dic) = self.coherence();
        let ic_all_seq = self.book.ic_all_seq;
        let line = self.book.line(line_pa);
        if !cacheable {
            if line.stale_in(line.mem, mask) {
                let missing = if line.beyond_pou.dirty() && !line.pe.dirty() {
                    "DC CVAC (to PoC) after writing the code: instruction fetches here are non-cacheable, and DC CVAU \
                     only cleans to PoU, which is not PoC"
                } else {
                    "DC CVAC (to PoC) after writing the code: instruction fetches here are non-cacheable"
                };
                let cause = line.latest_by;
                let cause = self.book.expand(cause);
                self.hazard(HazardClass::StaleIfetch, line_pa, w, &cause, missing);
            }
            return;
        }
        // Instruction fetches fill from the PoU: data still dirty in the PE's data cache is not visible,
        // unless CTR_EL0.IDC says the data cache is coherent with instruction fetches.
        let fill = if idc && line.pe.present() {
            line.pe.ver
        } else if line.beyond_pou.present() {
            line.beyond_pou.ver
        } else {
            line.mem
        };
        let hit = !dic && line.ic.present() && line.ic_epoch == epoch;
        let got = if hit { line.ic.ver } else { fill };
        if !line.stale_in(got, mask) {
            if !hit {
                line.ic = CachedCopy::clean(fill, false);
                line.ic_epoch = epoch;
            }
            return;
        }
        // The steps the line lacked, judged before the fill replaces the I-cache's state.
        let data = if !line.stale_in(fill, mask) {
            let pou = if line.beyond_pou.present() { line.beyond_pou.ver } else { line.mem };
            DataStep::Done { at_pou: !line.stale_in(pou, mask) }
        } else if !idc && line.pe.dirty() && !line.stale_in(line.pe.ver, mask) {
            DataStep::Clean
        } else {
            DataStep::InvalidateStaleCopy
        };
        let icache = if dic {
            IcacheStep::Coherent
        } else if hit {
            IcacheStep::HoldsOld { speculative: line.ic.is_speculative() }
        } else if line.icache_invalidated_since_newest() || ic_all_seq.is_some_and(|s| s > line.latest_by.seq()) {
            IcacheStep::Invalidated
        } else {
            IcacheStep::NotInvalidated
        };
        if !hit {
            line.ic = CachedCopy::clean(fill, false);
            line.ic_epoch = epoch;
        }
        let cause = line.latest_by;
        let cause = self.book.expand(cause);
        self.hazard(HazardClass::StaleIfetch, line_pa, w, &cause, &fetch_missing(data, icache));
    }

    /// R14, a pending memory-type change (docs/model.md, "Pending memory-type changes"): the access may
    /// also have the other type, so it is
    /// judged under that type too, on a copy of each line's state that is then put back; the state
    /// carries on from the captured type, one legal execution. Hazards found so name the register write.
    #[cold]
    pub(super) fn r14_pending_type(&mut self, seq: u64, a: &Access) {
        let Some(t) = self.pending_type.take() else { return };
        if t.mem == a.mem || !t.mem.is_known() {
            return;
        }
        let w = self.writer_ref(seq, a.vcpu, a.pc, a.va, t.mem, line::action_code(SideAction::Access { kind: a.kind, size: a.size }));
        self.judging_pending = Some(t);
        for (line_pa, lo, hi) in line::line_spans(self.line_shift, a.pa, super::judged_size(a)) {
            if self.owns(line_pa) {
                let (line, page) = self.book.line_and_page(line_pa);
                let saved = (line.clone(), *page);
                self.access_line(a.kind, line_pa, &w, t.mem, byte_mask(lo, hi, self.mask_granule));
                let (line, page) = self.book.line_and_page(line_pa);
                (*line, *page) = saved;
            }
        }
        self.judging_pending = None;
    }

}

/// The data side of a stale fetch (R13): what the line needed so that an I-cache fill gets the new code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DataStep {
    /// A fill would get the new code already: it is at the PoU, or (not `at_pou`) IDC lets fetches see
    /// the data cache.
    Done { at_pou: bool },
    /// The new code is dirty in the PE's data cache, which fills from the PoU do not see: DC CVAU.
    Clean,
    /// The new code is in memory (or beyond the PoU) and an older data copy a fill would get shadows it:
    /// DC IVAC or DC CIVAC.
    InvalidateStaleCopy,
}

/// The instruction side of a stale fetch (R13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IcacheStep {
    /// CTR_EL0.DIC: the instruction cache is coherent, no invalidation is needed.
    Coherent,
    /// The I-cache holds (or, in speculative mode, may hold) the old instructions: IC IVAU was needed.
    HoldsOld { speculative: bool },
    /// IC IVAU (or IC IALLU/IALLUIS) came after the newest write: only the data side was missing.
    Invalidated,
    /// No I-cache invalidation came after the newest write: the portable sequence needs one too.
    NotInvalidated,
}

/// The missing maintenance of a stale-ifetch, naming every step the line lacked, in the order the
/// sequence DC CVAU, DSB ISH, IC IVAU, DSB ISH, ISB takes them (Arm ARM D7.5.2, B2.5). The model sees no
/// barriers, so they are named as part of the sequence, never as the only thing missing.
fn fetch_missing(data: DataStep, icache: IcacheStep) -> String {
    const CLEAN: &str = "DC CVAU (clean to PoU)";
    const INVALIDATE: &str = "DC IVAC or DC CIVAC (to PoC) of the stale data copy";
    const IC: &str = "IC IVAU (invalidate the I-cache)";
    let old = |speculative: bool| {
        if speculative {
            "the I-cache may hold the old instructions, since code was fetched from this page before the write"
        } else {
            "the I-cache holds the old instructions"
        }
    };
    match (data, icache) {
        (DataStep::Done { at_pou }, icache) => {
            let speculative = matches!(icache, IcacheStep::HoldsOld { speculative: true });
            let data = if at_pou { "the new code is at PoU" } else { "the data side needs no clean (CTR_EL0.IDC)" };
            format!("{IC}, DSB ISH, ISB after writing the code: {data}, but {}", old(speculative))
        }
        (DataStep::Clean, IcacheStep::HoldsOld { speculative }) => format!(
            "{CLEAN} then {IC} after writing the code, as DC CVAU, DSB ISH, IC IVAU, DSB ISH, ISB: neither was \
             done ({}, and the new code is still dirty in the data cache, which a refill from PoU does not see)",
            old(speculative)
        ),
        (DataStep::Clean, IcacheStep::NotInvalidated) => format!(
            "{CLEAN} then {IC} after writing the code, as DC CVAU, DSB ISH, IC IVAU, DSB ISH, ISB: neither was \
             done (the new code is still dirty in the data cache, which the I-cache's fill from PoU does not see)"
        ),
        (DataStep::Clean, IcacheStep::Invalidated) => format!(
            "{CLEAN}, DSB ISH before the I-cache invalidation: the I-cache was invalidated after the code was written, but it \
             refills from PoU, where the new code is not (it is still dirty in the data cache)"
        ),
        (DataStep::Clean, IcacheStep::Coherent) => format!(
            "{CLEAN}, DSB ISH, ISB after writing the code: the instruction cache is coherent (CTR_EL0.DIC), but \
             fetches fill from PoU, where the new code is not (it is still dirty in the data cache)"
        ),
        (DataStep::InvalidateStaleCopy, IcacheStep::HoldsOld { speculative }) => format!(
            "{INVALIDATE}, then {IC}, DSB ISH, ISB after writing the code: neither was done ({}, and a refill \
             would get an older copy of the line from the data caches, not the new code in memory)",
            old(speculative)
        ),
        (DataStep::InvalidateStaleCopy, IcacheStep::NotInvalidated) => format!(
            "{INVALIDATE}, then {IC}, DSB ISH, ISB after writing the code: neither was done (the I-cache fills \
             from an older copy of the line in the data caches, not from the new code in memory)"
        ),
        (DataStep::InvalidateStaleCopy, IcacheStep::Invalidated) => format!(
            "{INVALIDATE} before the I-cache invalidation: the I-cache was invalidated after the code was written, but it \
             refills from an older copy of the line in the data caches, not from the new code in memory"
        ),
        (DataStep::InvalidateStaleCopy, IcacheStep::Coherent) => format!(
            "{INVALIDATE} after writing the code: the instruction cache is coherent (CTR_EL0.DIC), but fetches \
             fill from an older copy of the line in the data caches, not from the new code in memory"
        ),
    }
}
