//! The model's bookkeeping, apart from the rules: the line table (with a one-entry cache: consecutive
//! accesses mostly hit the same line), page-level evidence for speculative mode, interned regimes, per-vCPU
//! state, and what the trace said about the CPU.

use super::line::Line;
use crate::event::CacheOp;
use crate::regime::Regime;
use hashbrown::{HashMap, HashSet};

pub const PAGE_SHIFT: u32 = 12;

#[derive(Clone, Copy, Default)]
pub struct VcpuState {
    pub regime: u16,
    /// The last set/way maintenance instruction this vCPU executed: (seq, pc, op).
    pub set_way: Option<(u64, u64, CacheOp)>,
}

pub struct Book {
    line_ids: HashMap<u64, u32>,
    pub lines: Vec<Line>,
    last_line_pa: u64,
    last_line_idx: usize,
    /// Pages with evidence of a live cacheable data mapping, and of an instruction fetch (speculative mode).
    cacheable_pages: HashSet<u64>,
    fetched_pages: HashSet<u64>,
    last_cacheable_page: u64,
    last_fetched_query: (u64, bool),
    /// Interned regimes, so writer records stay small.
    regimes: Vec<Regime>,
    regime_ids: HashMap<Regime, u16>,
    vcpus: Vec<VcpuState>,
    /// CTR_EL0 and CLIDR_EL1 as the trace recorded them (rules::coherence).
    pub ctr_el0: Option<u64>,
    pub clidr_el1: Option<u64>,
    /// Global I-cache invalidation epoch (IC IALLU/IALLUIS invalidate every line).
    pub ic_epoch: u32,
}

impl Book {
    pub fn new() -> Book {
        let mut b = Book {
            line_ids: HashMap::new(),
            lines: Vec::new(),
            last_line_pa: u64::MAX,
            last_line_idx: 0,
            cacheable_pages: HashSet::new(),
            fetched_pages: HashSet::new(),
            last_cacheable_page: u64::MAX,
            last_fetched_query: (u64::MAX, false),
            regimes: Vec::new(),
            regime_ids: HashMap::new(),
            vcpus: Vec::new(),
            ctr_el0: None,
            clidr_el1: None,
            ic_epoch: 0,
        };
        b.intern_regime(Regime::default());
        b
    }

    fn intern_regime(&mut self, r: Regime) -> u16 {
        if let Some(&id) = self.regime_ids.get(&r) {
            return id;
        }
        // A regime is EL x VMID x ASID: more than 65535 distinct ones in one trace share the last slot.
        let id = self.regimes.len().min(u16::MAX as usize) as u16;
        self.regimes.push(r);
        self.regime_ids.insert(r, id);
        id
    }

    pub fn regime(&self, id: u16) -> Regime {
        self.regimes.get(id as usize).copied().unwrap_or_default()
    }

    /// The interned regime vCPU `v` runs in now.
    #[inline(always)]
    pub fn regime_of(&self, v: u16) -> u16 {
        self.vcpus.get(v as usize).map_or(0, |s| s.regime)
    }

    pub fn set_regime(&mut self, v: u16, regime: Regime) {
        let id = self.intern_regime(regime);
        self.vcpu(v).regime = id;
    }

    pub fn vcpu(&mut self, v: u16) -> &mut VcpuState {
        let i = v as usize;
        if i >= self.vcpus.len() {
            self.vcpus.resize(i + 1, VcpuState::default());
        }
        &mut self.vcpus[i]
    }

    pub fn set_way_of(&self, v: u16) -> Option<(u64, u64, CacheOp)> {
        self.vcpus.get(v as usize).and_then(|s| s.set_way)
    }

    pub fn page_cacheably_mapped(&self, line_pa: u64) -> bool {
        self.cacheable_pages.contains(&(line_pa >> PAGE_SHIFT))
    }

    #[inline]
    pub fn note_cacheable(&mut self, line_pa: u64) {
        let page = line_pa >> PAGE_SHIFT;
        if page != self.last_cacheable_page {
            self.last_cacheable_page = page;
            self.cacheable_pages.insert(page);
        }
    }

    /// Code was fetched from the line's page.
    pub fn note_fetched(&mut self, line_pa: u64) {
        if self.fetched_pages.insert(line_pa >> PAGE_SHIFT) {
            self.last_fetched_query = (u64::MAX, false);
        }
    }

    /// Whether code was fetched from the page (speculative I-cache), with a one-entry cache.
    #[inline]
    pub fn fetched_page(&mut self, line_pa: u64) -> bool {
        let page = line_pa >> PAGE_SHIFT;
        if page != self.last_fetched_query.0 {
            self.last_fetched_query = (page, self.fetched_pages.contains(&page));
        }
        self.last_fetched_query.1
    }

    /// Index of a line's state, created on first use.
    #[inline(always)]
    fn line_index(&mut self, line_pa: u64) -> usize {
        if line_pa == self.last_line_pa {
            return self.last_line_idx;
        }
        let next = self.lines.len();
        let idx = *self.line_ids.entry(line_pa).or_insert(next as u32) as usize;
        if idx == next {
            self.lines.push(Line::new());
        }
        self.last_line_pa = line_pa;
        self.last_line_idx = idx;
        idx
    }

    #[inline]
    pub fn line(&mut self, line_pa: u64) -> &mut Line {
        let i = self.line_index(line_pa);
        &mut self.lines[i]
    }

    /// A line's state if it exists (maintenance of a line never accessed has nothing to do).
    pub fn existing_line(&mut self, line_pa: u64) -> Option<&mut Line> {
        let i = if line_pa == self.last_line_pa { self.last_line_idx } else { *self.line_ids.get(&line_pa)? as usize };
        self.lines.get_mut(i)
    }
}
