//! Per-vCPU state: the tracked control registers, the regime and memory-type cache of the hot path, and the
//! record buffer. Only the vCPU's own thread touches it (QEMU runs each vCPU's callbacks on its thread).

use crate::qemu::RegBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use crate::qemu_abi::{ArmWalk, TlbAttrs, WALK_FLAG_S2, regime_of_mmu_idx};
use cohtrace_analyzer::event::SysReg;
use cohtrace_analyzer::memtype::{
    Controls, HCR_DC, HCR_E2H, HCR_TGE, HCR_VM, MemType, SCTLR_M, effective_memtype, walk_memtype,
};
use cohtrace_analyzer::regime::{Regime, RegimeKind};
use cohtrace_analyzer::trace::Record;

/// Registers whose values decide memory types (Controls) and regime identifiers (ASID, VMID).
#[derive(Clone, Copy, Debug, Default)]
pub struct Tracked {
    pub ctl: Controls,
    pub ttbr0_el1: u64,
    pub ttbr1_el1: u64,
    pub tcr_el1: u64,
    pub ttbr0_el2: u64,
    pub ttbr1_el2: u64,
    pub tcr_el2: u64,
    pub vttbr_el2: u64,
    pub vtcr_el2: u64,
    pub mair_el1: u64,
    pub mair_el2: u64,
}

const TCR_A1: u64 = 1 << 22;
const TCR_AS: u64 = 1 << 36;
const VTCR_VS: u64 = 1 << 19;

impl Tracked {
    pub fn set(&mut self, reg: SysReg, v: u64) {
        match reg {
            SysReg::SctlrEl1 => self.ctl.sctlr_el1 = v,
            SysReg::SctlrEl2 => self.ctl.sctlr_el2 = v,
            SysReg::HcrEl2 => self.ctl.hcr_el2 = v,
            SysReg::MairEl1 => self.mair_el1 = v,
            SysReg::MairEl2 => self.mair_el2 = v,
            SysReg::TcrEl1 => self.tcr_el1 = v,
            SysReg::TcrEl2 => self.tcr_el2 = v,
            SysReg::Ttbr0El1 => self.ttbr0_el1 = v,
            SysReg::Ttbr1El1 => self.ttbr1_el1 = v,
            SysReg::Ttbr0El2 => self.ttbr0_el2 = v,
            SysReg::Ttbr1El2 => self.ttbr1_el2 = v,
            SysReg::VttbrEl2 => self.vttbr_el2 = v,
            SysReg::VtcrEl2 => self.vtcr_el2 = v,
            // Identification registers: recorded for the model, no effect on memory types.
            SysReg::CtrEl0 | SysReg::ClidrEl1 => {}
        }
    }

    fn asid(ttbr0: u64, ttbr1: u64, tcr: u64) -> u16 {
        let ttbr = if tcr & TCR_A1 != 0 { ttbr1 } else { ttbr0 };
        let asid = (ttbr >> 48) as u16;
        if tcr & TCR_AS != 0 { asid } else { asid & 0xff }
    }

    /// The regime (with VMID/ASID where they apply) of an access in `kind` at `el`.
    pub fn regime(&self, kind: RegimeKind, el: u8) -> Regime {
        let hcr = self.ctl.hcr_el2;
        match kind {
            RegimeKind::El10 => {
                let vmid = (hcr & HCR_VM != 0).then(|| {
                    let v = (self.vttbr_el2 >> 48) as u16;
                    if self.vtcr_el2 & VTCR_VS != 0 { v } else { v & 0xff }
                });
                let s1_on = self.ctl.sctlr_el1 & SCTLR_M != 0 && hcr & HCR_DC == 0;
                let asid = s1_on.then(|| Tracked::asid(self.ttbr0_el1, self.ttbr1_el1, self.tcr_el1));
                Regime { el, kind, vmid, asid, secure: false }
            }
            RegimeKind::El20 => {
                let s1_on = self.ctl.sctlr_el2 & SCTLR_M != 0;
                let asid = s1_on.then(|| Tracked::asid(self.ttbr0_el2, self.ttbr1_el2, self.tcr_el2));
                Regime { el, kind, vmid: None, asid, secure: false }
            }
            RegimeKind::El2 | RegimeKind::El3 => Regime { el, kind, vmid: None, asid: None, secure: kind == RegimeKind::El3 },
        }
    }

    /// The regime of the current exception level (for instructions without a memory access).
    pub fn regime_at_el(&self, el: u8) -> Regime {
        let hcr = self.ctl.hcr_el2;
        let e2h = hcr & HCR_E2H != 0;
        let kind = match el {
            0 if e2h && hcr & HCR_TGE != 0 => RegimeKind::El20,
            0 | 1 => RegimeKind::El10,
            2 if e2h => RegimeKind::El20,
            2 => RegimeKind::El2,
            _ => RegimeKind::El3,
        };
        self.regime(kind, el)
    }
}

/// TLBI instructions executed so far, by any vCPU (a broadcast TLBI ends every vCPU's wait for one).
pub static TLBI_COUNT: AtomicU64 = AtomicU64::new(0);

/// A write of a memory-type register that is not yet synchronized (docs/model.md, "Pending memory-type
/// changes"): until a context synchronization event, and for a regime's own MAIR also a TLBI, an access
/// may still use the type the registers before it gave.
#[derive(Clone, Copy, Debug)]
pub struct PendingChange {
    /// The registers before the first write of the window.
    pub before: Tracked,
    pub reg: SysReg,
    pub pc: u64,
    pub needs_sync: bool,
    /// `Some(TLBI_COUNT at the write)` while a TLBI is still needed.
    pub needs_tlbi: Option<u64>,
}

pub struct Vcpu {
    pub index: u16,
    pub tracked: Tracked,
    pub pending: Option<PendingChange>,
    /// Bumped whenever a tracked register changes, invalidating the hot-path cache.
    pub generation: u32,
    // Hot-path cache: the last raw TLB attribute word and what it meant.
    cache_raw: u64,
    cache_generation: u32,
    cache_mem: MemType,
    cache_regime: u64,
    /// The walk path's cache, one entry per stage (a stage-1 walk under stage 2 alternates the two):
    /// (key of the walk's attributes, generation) -> type and regime.
    walk_cache: [(u32, u32, MemType, u64); 2],
    /// Packed regime of the last Regime record emitted (u64::MAX: none yet in this buffer).
    pub current_regime: u64,
    pub buf: Box<[Record]>,
    pub len: usize,
    pub base_seq: u64,
    pub local_seq: u64,
    /// With one vCPU, where `local_seq` is published for device records (its cell's `next_seq`; set once
    /// the cells have their final address, `Plugin::publish_cells`).
    pub seq_out: &'static std::sync::atomic::AtomicU64,
    pub dropped: u64,
    pub regbuf: Option<RegBuf>,
    /// The own walker's descriptor reads (own_walk.rs): its own buffer, since a walk can run inside a
    /// callback that has `regbuf` taken.
    pub physbuf: Option<RegBuf>,
    /// The plugin's own translation cache (see `Ptlb`).
    pub ptlb: [PtlbEntry; PTLB_ENTRIES],
    pub ptlb_mismatches: u64,
    /// `walker=verify`'s counts (own_walk.rs).
    pub verify: VerifyCounts,
    /// Stock mode (stock.rs): the EL, from exception entry and ERET; and the accesses the own walk could
    /// not type.
    pub el: u8,
    /// `el` was read from CPSR (not at vcpu_init: that runs before the CPU's reset).
    pub el_known: bool,
    pub own_walk_failures: u64,
    /// Stock mode's walk cache (empty otherwise).
    pub stock_walk_cache: Box<[WalkCacheEntry]>,
}

/// Entries of the per-vCPU translation cache (direct-mapped).
pub const PTLB_ENTRIES: usize = 256;

/// One translation the plugin remembers: (VA page, memory-operation word) -> PA page, with what the
/// access's record needs (size, direction, MMIO; effective memory type; regime). The memory-operation word
/// holds the MMU index, so a translation regime change is a different key; everything else that changes
/// translations or types (TLBI, and writes to TTBRx, VTTBR, TCR, VTCR, SCTLR, HCR, MAIR) bumps the global
/// generation, which empties every vCPU's cache. Software that changes a live translation without TLB
/// maintenance breaks the architecture's rules (break-before-make); QEMU's own TLB then also keeps the old
/// translation until it happens to refill.
#[derive(Clone, Copy, Debug)]
pub struct PtlbEntry {
    pub va_page: u64,
    pub meminfo: u32,
    pub generation: u32,
    pub pa_page: u64,
    pub regime: u64,
    /// The record's info byte (log2 size, store, MMIO) and memory type.
    pub info: u8,
    pub mem: u16,
}

impl PtlbEntry {
    pub const EMPTY: PtlbEntry =
        PtlbEntry { va_page: u64::MAX, meminfo: 0, generation: u32::MAX, pa_page: 0, regime: 0, info: 0, mem: 0 };
}

/// Entries of the stock mode's per-vCPU walk cache (direct-mapped, by 4K page): the translation cache's
/// 256 entries hold a few hundred pages, and a walk under stage 2 reads up to 24 descriptors.
pub const WALK_CACHE_ENTRIES: usize = 4096;

#[derive(Clone, Copy, Debug)]
pub struct WalkCacheEntry {
    /// VA page, regime kind and fetch bit (`stock::lookup`); `u64::MAX`: empty.
    pub key: u64,
    pub generation: u32,
    pub mem: u16,
    pub pa_page: u64,
}

impl WalkCacheEntry {
    pub const EMPTY: WalkCacheEntry = WalkCacheEntry { key: u64::MAX, generation: 0, mem: 0, pa_page: 0 };
}

/// Counts of `walker=verify` (own_walk.rs), per vCPU.
#[derive(Clone, Copy, Debug, Default)]
pub struct VerifyCounts {
    pub compared: u64,
    pub disagreements: u64,
    /// Accesses not compared: EL3, or a memory-type write not yet synchronized (QEMU's TLB may then
    /// rightly hold the type from before it).
    pub skipped: u64,
}

impl VerifyCounts {
    pub fn add(&mut self, o: &VerifyCounts) {
        self.compared += o.compared;
        self.disagreements += o.disagreements;
        self.skipped += o.skipped;
    }
}

/// Multiplicative hash, top bits: a load and a store of the same page differ only in high bits of the
/// memory-operation word, and must not share a slot.
#[inline(always)]
pub fn ptlb_index(va_page: u64, meminfo: u32) -> usize {
    ((va_page ^ (meminfo as u64) << 40).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - PTLB_ENTRIES.trailing_zeros())) as usize
}

impl Vcpu {
    pub fn new(index: u16, buffer: usize) -> Vcpu {
        Vcpu {
            index,
            tracked: Tracked::default(),
            pending: None,
            generation: 1,
            cache_raw: 0,
            cache_generation: 0,
            cache_mem: MemType::UNKNOWN,
            cache_regime: u64::MAX,
            walk_cache: [(u32::MAX, 0, MemType::UNKNOWN, u64::MAX); 2],
            current_regime: u64::MAX,
            buf: vec![Record::default(); buffer].into_boxed_slice(),
            len: 0,
            base_seq: 0,
            local_seq: 0,
            seq_out: &crate::state::UNPUBLISHED_SEQ,
            dropped: 0,
            regbuf: None,
            physbuf: None,
            ptlb: [PtlbEntry::EMPTY; PTLB_ENTRIES],
            ptlb_mismatches: 0,
            verify: Default::default(),
            el: 1,
            el_known: false,
            stock_walk_cache: Box::new([]),
            own_walk_failures: 0,
        }
    }

    /// Before `set_reg`: a write of `reg` (the register it lands in) with `value` at `el` from `pc` opens or
    /// extends a window in which the memory type is not yet settled. A regime's own MAIR (MAIR_EL1 written
    /// at EL1, MAIR_EL2 at EL2) with its stage 1 on can be held in its TLB entries, so it also needs a TLBI;
    /// a hypervisor restoring a guest's MAIR_EL1 at EL2 is not changing the attributes that guest's
    /// (VMID-tagged) entries were made with.
    pub fn note_type_write(&mut self, reg: SysReg, value: u64, el: u8, pc: u64) {
        let old = match reg {
            SysReg::SctlrEl1 => self.tracked.ctl.sctlr_el1,
            SysReg::SctlrEl2 => self.tracked.ctl.sctlr_el2,
            SysReg::HcrEl2 => self.tracked.ctl.hcr_el2,
            SysReg::MairEl1 => self.tracked.mair_el1,
            SysReg::MairEl2 => self.tracked.mair_el2,
            _ => return,
        };
        if old == value {
            return;
        }
        // TLB entries can hold the old attributes only if the regime's stage 1 was on (firmware and kernels
        // set MAIR with the MMU off, when the TLB holds no stage-1 entry of the regime).
        let own_mair_live = match (reg, el) {
            (SysReg::MairEl1, 1) => self.tracked.ctl.sctlr_el1 & SCTLR_M != 0,
            (SysReg::MairEl2, 2) => self.tracked.ctl.sctlr_el2 & SCTLR_M != 0,
            _ => false,
        };
        let tlbi = own_mair_live.then(|| TLBI_COUNT.load(Ordering::Relaxed));
        match &mut self.pending {
            Some(p) => {
                p.needs_sync = true;
                p.needs_tlbi = p.needs_tlbi.or(tlbi);
            }
            None => self.pending = Some(PendingChange { before: self.tracked, reg, pc, needs_sync: true, needs_tlbi: tlbi }),
        }
    }

    /// ISB, exception entry or return on this vCPU.
    pub fn context_synchronized(&mut self) {
        if let Some(p) = &mut self.pending {
            p.needs_sync = false;
        }
        self.settle();
    }

    /// Ends the window once every requirement is met (a TLBI counts from any vCPU).
    fn settle(&mut self) {
        if let Some(p) = &mut self.pending {
            if p.needs_tlbi.is_some_and(|at| TLBI_COUNT.load(Ordering::Relaxed) > at) {
                p.needs_tlbi = None;
            }
            if !p.needs_sync && p.needs_tlbi.is_none() {
                self.pending = None;
            }
        }
    }

    /// While a window is open: the other memory type an access with TLB attribute word `raw` and captured
    /// type `mem` may have (under the registers before the window, or under the registers now where
    /// QEMU's TLB entry still holds the old attributes), and the window's write.
    #[cold]
    pub fn other_type(&mut self, raw: u64, mem: MemType) -> Option<(MemType, PendingChange)> {
        self.settle();
        let p = self.pending?;
        let tlb = TlbAttrs::decode(raw)?;
        let (kind, _) = regime_of_mmu_idx(tlb.mmu_idx)?;
        let mair = |t: &Tracked| if matches!(kind, RegimeKind::El10) { t.mair_el1 } else { t.mair_el2 };
        let under = |t: &Tracked| {
            let mut tr = tlb.translation();
            if let (Some(_), Some(i)) = (tr.s1, tlb.attr_index) {
                tr.s1 = Some((mair(t) >> (8 * i)) as u8);
            }
            effective_memtype(&tr, &t.ctl, kind, false)
        };
        [under(&p.before), under(&self.tracked)].into_iter().find(|m| *m != mem && m.is_known()).map(|m| (m, p))
    }

    pub fn set_reg(&mut self, reg: SysReg, v: u64) {
        self.tracked.set(reg, v);
        self.generation = self.generation.wrapping_add(1);
    }

    /// Effective memory type and packed regime of an access with TLB attribute word `raw`.
    #[inline(always)]
    pub fn classify(&mut self, raw: u64, fetch: bool) -> (MemType, u64) {
        if raw == self.cache_raw && self.generation == self.cache_generation && !fetch {
            return (self.cache_mem, self.cache_regime);
        }
        let (mem, regime) = self.classify_slow(raw, fetch);
        if !fetch {
            self.cache_raw = raw;
            self.cache_generation = self.generation;
            self.cache_mem = mem;
            self.cache_regime = regime;
        }
        (mem, regime)
    }

    /// Memory type and packed regime of a table walk: a descriptor of the same walk attributes, stage and
    /// MMU index as the last one (the other levels of a walk, the next walk) costs one compare.
    #[inline(always)]
    pub fn classify_walk(&mut self, w: &ArmWalk) -> Option<(MemType, u64)> {
        let key = w.tcr_attrs as u32 | (w.s2_memattr as u32 & 0xf) << 8 | (w.flags as u32 & WALK_FLAG_S2 as u32) << 12
            | (w.stage as u32) << 16 | (w.mmu_idx as u32) << 24;
        let slot = (w.stage & 1) as usize;
        let (k, generation, mem, regime) = self.walk_cache[slot];
        if k == key && generation == self.generation {
            return Some((mem, regime));
        }
        let (mem, regime) = self.classify_walk_slow(w)?;
        self.walk_cache[slot] = (key, self.generation, mem, regime);
        Some((mem, regime))
    }

    /// The walk's memory type and packed regime from what QEMU reported and the tracked registers.
    #[cold]
    fn classify_walk_slow(&self, w: &ArmWalk) -> Option<(MemType, u64)> {
        let (kind, el) = regime_of_mmu_idx(w.mmu_idx)?;
        let s2 = (w.flags & WALK_FLAG_S2 != 0).then_some(w.s2_memattr & 0xf);
        let mem = walk_memtype(w.tcr_attrs, s2, w.stage, &self.tracked.ctl, kind);
        Some((mem, self.tracked.regime(kind, el).pack()))
    }

    #[cold]
    fn classify_slow(&self, raw: u64, fetch: bool) -> (MemType, u64) {
        let Some(tlb) = TlbAttrs::decode(raw) else {
            return (MemType::UNKNOWN, self.current_regime);
        };
        let Some((kind, el)) = regime_of_mmu_idx(tlb.mmu_idx) else {
            return (MemType::UNKNOWN, self.current_regime);
        };
        let mem = effective_memtype(&tlb.translation(), &self.tracked.ctl, kind, fetch);
        (mem, self.tracked.regime(kind, el).pack())
    }
}
