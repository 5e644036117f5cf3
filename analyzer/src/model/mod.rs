//! The shadow cache model: replays events and reports coherency hazards. docs/model.md states every rule and
//! its Arm ARM reasoning; the comments here only point at the rule.
//!
//! Per physical line it keeps versions, not data: the version at the Point of Coherency (memory), a copy in
//! the PE caches up to the Point of Unification (one coherent domain for all vCPUs: hardware keeps cacheable
//! accesses coherent among PEs), a copy between PoU and PoC (where DC CVAU leaves data, and where a system
//! cache would allocate), an instruction-cache copy, and the newest write with who made it. A hazard is an
//! observer getting a version other than the newest, or a write whose data is certain to be lost.

mod line;

use crate::event::{Access, AccessKind, CacheOp, Event, Marker, MarkerKind, Regime, SysReg};
use crate::memtype::{Cacheability, MemType};
use crate::report::{Hazard, HazardClass, HazardLog, Side, SideAction};
use hashbrown::{HashMap, HashSet};
use line::{Copy as LineCopy, Line, WriterRef, byte_mask};

/// When the cache may hold a line (docs/model.md, "Modes").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// A line of a page that a live translation maps cacheable may be allocated at any time (Arm ARM
    /// B2.12/D8.2: speculative accesses and prefetches); evidence of a live cacheable mapping is a
    /// cacheable access to the page.
    #[default]
    Speculative,
    /// Only lines actually accessed cacheably are cached.
    Precise,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "speculative" => Some(Mode::Speculative),
            "precise" => Some(Mode::Precise),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Speculative => "speculative",
            Mode::Precise => "precise",
        }
    }
}

/// What the caches may hold at reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ResetState {
    /// Caches come out of firmware invalid: nothing is stale until something maps a page cacheable.
    #[default]
    Invalid,
    /// Any line may hold stale data from before the trace started (every page counts as mapped cacheable).
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelConfig {
    pub mode: Mode,
    pub line_size: u32,
    /// Model a system cache between PoU and PoC that outer-cacheable accesses allocate into.
    pub system_cache: bool,
    pub reset: ResetState,
    /// The CPU's effective CTR_EL0.IDC: instruction fetches see data still in the PE's data cache (no clean
    /// to PoU needed for instruction-data coherence; also when CLIDR_EL1.LoC = 0 or LoUIS = LoUU = 0).
    pub idc: bool,
    /// CTR_EL0.DIC: the instruction cache is coherent with data (no IC invalidation to PoU needed).
    pub dic: bool,
    /// Take IDC and DIC from the CTR_EL0 and CLIDR_EL1 the trace recorded (the CPU it ran on) instead of
    /// the portable rule (both 0). `idc` / `dic` still force them on.
    pub cpu_coherence: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            mode: Mode::Speculative,
            line_size: 64,
            system_cache: false,
            reset: ResetState::Invalid,
            idc: false,
            dic: false,
            cpu_coherence: false,
        }
    }
}

const PAGE_SHIFT: u32 = 12;

/// Inner cacheability by canonical attribute byte (Device and unknown behave as Non-cacheable), so the
/// hot path does one load instead of decoding.
static INNER_CLASS: [Cacheability; 256] = {
    let mut t = [Cacheability::NonCacheable; 256];
    let mut b = 0;
    while b < 256 {
        let (hi, lo) = (b >> 4, b & 0xf);
        if hi != 0 && b != 0x01 {
            // Normal memory; an inner nibble of 0 (FEAT_XS/MTE encodings) takes the outer one.
            let n = if lo == 0 { hi } else { lo };
            t[b] = if n == 0b0100 {
                Cacheability::NonCacheable
            } else if n & 0b0100 == 0 {
                Cacheability::WriteThrough
            } else {
                Cacheability::WriteBack
            };
        }
        b += 1;
    }
    t
};

/// Event counts, for `cohtrace stats` and progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelStats {
    pub events: u64,
    pub accesses: u64,
    pub mmio: u64,
    pub unknown_type: u64,
    pub fetches: u64,
    pub maintenance: u64,
    pub untranslated_maintenance: u64,
}

/// The embeddable consumer: feed events in global order, read hazards.
pub struct Model {
    cfg: ModelConfig,
    line_shift: u32,
    /// log2 of the bytes one bit of a line's byte mask stands for (0 up to 64-byte lines).
    mask_granule: u32,
    line_ids: HashMap<u64, u32>,
    lines: Vec<Line>,
    last_line_pa: u64,
    last_line_idx: usize,
    last_fetched_query: (u64, bool),
    /// Pages with evidence of a live cacheable data mapping, and of an instruction fetch (speculative mode).
    cacheable_pages: HashSet<u64>,
    fetched_pages: HashSet<u64>,
    last_cacheable_page: u64,
    /// Interned regimes, so writer records stay small.
    regimes: Vec<Regime>,
    regime_ids: HashMap<Regime, u16>,
    vcpus: Vec<VcpuState>,
    /// CTR_EL0 and CLIDR_EL1 as the trace recorded them (coherence()).
    ctr_el0: Option<u64>,
    clidr_el1: Option<u64>,
    /// Global I-cache invalidation epoch (IC IALLU/IALLUIS invalidate every line).
    ic_epoch: u32,
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
}

#[derive(Clone, Copy, Default)]
struct VcpuState {
    regime: u16,
    /// The last set/way maintenance instruction this vCPU executed: (seq, pc, op).
    set_way: Option<(u64, u64, CacheOp)>,
}

impl Model {
    pub fn new(cfg: ModelConfig) -> Model {
        let mut m = Model {
            cfg,
            line_shift: cfg.line_size.max(16).trailing_zeros(),
            mask_granule: cfg.line_size.max(16).trailing_zeros().saturating_sub(6),
            line_ids: HashMap::new(),
            lines: Vec::new(),
            last_line_pa: u64::MAX,
            last_line_idx: 0,
            last_fetched_query: (u64::MAX, false),
            cacheable_pages: HashSet::new(),
            fetched_pages: HashSet::new(),
            last_cacheable_page: u64::MAX,
            regimes: Vec::new(),
            regime_ids: HashMap::new(),
            vcpus: Vec::new(),
            ctr_el0: None,
            clidr_el1: None,
            ic_epoch: 0,
            seq: 0,
            log: HazardLog::default(),
            suppressed: Vec::new(),
            names: Vec::new(),
            test_case: None,
            stats: ModelStats::default(),
            shard_index: 0,
            shard_count: 1,
        };
        m.intern_regime(Regime::default());
        m
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

    pub fn config(&self) -> ModelConfig {
        self.cfg
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

    /// Lines the model currently tracks (memory use grows with this).
    pub fn tracked_lines(&self) -> usize {
        self.lines.len()
    }

    /// Forgets the hazards found so far (a fuzzer's new test case); the cache state carries on, as it
    /// does on hardware.
    pub fn clear_hazards(&mut self) {
        self.log.clear();
    }

    /// Forgets everything: cache state, hazards, names.
    pub fn reset(&mut self) {
        *self = Model::new(self.cfg);
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

    fn vcpu(&mut self, v: u16) -> &mut VcpuState {
        let i = v as usize;
        if i >= self.vcpus.len() {
            self.vcpus.resize(i + 1, VcpuState::default());
        }
        &mut self.vcpus[i]
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
            _ => self.feed_other(seq, ev),
        }
    }

    /// The hot path: one data access.
    #[inline(always)]
    pub fn access_at(&mut self, seq: u64, a: &Access) {
        self.seq = seq;
        self.stats.accesses += 1;
        if a.mmio || !a.mem.is_known() {
            self.skip_access(a);
            return;
        }
        let regime = match self.vcpus.get(a.vcpu as usize) {
            Some(v) => v.regime,
            None => 0,
        };
        let w = WriterRef {
            pc: a.pc,
            va: a.va,
            seq,
            regime,
            vcpu: a.vcpu,
            mem: a.mem.to_bits(),
            action: line::action_code(SideAction::Access { kind: a.kind, size: a.size }),
        };
        // The common case: an access within one line of at most 64 bytes (one mask bit per byte).
        let size = a.size.max(1) as u64;
        let line_bytes = 1u64 << self.line_shift;
        let off = a.pa & (line_bytes - 1);
        if self.mask_granule == 0 && off + size <= line_bytes {
            let line_pa = a.pa - off;
            if !self.owns(line_pa) {
                self.note_page_only(line_pa, a.mem);
                return;
            }
            let mask = if size >= 64 { u64::MAX } else { ((1u64 << size) - 1) << off };
            match a.kind {
                AccessKind::Load => self.load(line_pa, &w, a.mem, mask),
                AccessKind::Store => self.store(line_pa, &w, a.mem, mask),
            }
            return;
        }
        let first = a.pa >> self.line_shift;
        let last = a.pa.saturating_add(size - 1) >> self.line_shift;
        let mut l = first;
        loop {
            let line_pa = l << self.line_shift;
            if !self.owns(line_pa) {
                self.note_page_only(line_pa, a.mem);
            } else {
                // The bytes of this line the access covers.
                let lo = a.pa.max(line_pa) - line_pa;
                let hi = a.pa.saturating_add(a.size.max(1) as u64).min(line_pa.saturating_add(1 << self.line_shift)) - line_pa;
                let mask = byte_mask(lo, hi, self.mask_granule);
                match a.kind {
                    AccessKind::Load => self.load(line_pa, &w, a.mem, mask),
                    AccessKind::Store => self.store(line_pa, &w, a.mem, mask),
                }
            }
            if l == last {
                break;
            }
            l += 1;
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
        if Self::inner(mem) != Cacheability::NonCacheable {
            self.note_cacheable(line_pa);
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
        if let Event::Access(a) = ev {
            return self.access_at(seq, a);
        }
        self.seq = seq;
        self.stats.events += 1;
        match *ev {
            Event::Access(_) => {}
            Event::Fetch(f) => {
                self.stats.fetches += 1;
                let regime = self.vcpu(f.vcpu).regime;
                let w = WriterRef {
                    pc: f.pc,
                    va: f.pc,
                    seq: self.seq,
                    regime,
                    vcpu: f.vcpu,
                    mem: f.mem.to_bits(),
                    action: line::action_code(SideAction::Fetch),
                };
                // The bytes fetched: from the first instruction to the last one the plugin saw in the line
                // (`Fetch::pa` bit 0 set), else to the end of the line (older traces).
                let line_size = 1u64 << self.line_shift;
                let lo = f.pc & (line_size - 1);
                let hi = if f.pa & 1 != 0 { (f.pa & (line_size - 1) & !3) + 4 } else { line_size };
                let mask = byte_mask(lo, hi.max(lo + 1), self.mask_granule);
                self.fetch(f.pa & !(line_size - 1), &w, f.mem, mask);
            }
            Event::Maintenance(m) => {
                self.stats.maintenance += 1;
                let regime = self.vcpu(m.vcpu).regime;
                let w = WriterRef {
                    pc: m.pc,
                    va: m.operand,
                    seq: self.seq,
                    regime,
                    vcpu: m.vcpu,
                    mem: m.mem.to_bits(),
                    action: line::action_code(SideAction::Maintenance(m.op)),
                };
                if m.op.is_set_way() {
                    let seq = self.seq;
                    self.vcpu(m.vcpu).set_way = Some((seq, m.pc, m.op));
                    return;
                }
                match m.op {
                    CacheOp::IcIallu | CacheOp::IcIalluis => self.ic_epoch = self.ic_epoch.wrapping_add(1),
                    CacheOp::Tlbi(_) => {}
                    op => match m.pa {
                        None => self.stats.untranslated_maintenance += 1,
                        Some(pa) => self.maintain(op, pa, m.len, &w, m.mem),
                    },
                }
            }
            Event::SysReg(w) => match w.reg {
                SysReg::CtrEl0 => self.ctr_el0 = Some(w.value),
                SysReg::ClidrEl1 => self.clidr_el1 = Some(w.value),
                _ => {}
            },
            Event::Regime { vcpu, regime } => {
                let id = self.intern_regime(regime);
                self.vcpu(vcpu).regime = id;
            }
            Event::Marker(m) => self.marker(&m),
        }
    }

    fn marker(&mut self, m: &Marker) {
        let [id, start, len] = m.args;
        match m.kind {
            MarkerKind::Suppress => self.suppressed.push((start, start.saturating_add(len))),
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

    /// The test case the guest's last Begin marker opened, if it is still open.
    pub fn test_case(&self) -> Option<u64> {
        self.test_case
    }

    /// Gives a physical range a name reports use (guest markers, or a harness through the library).
    pub fn name_range(&mut self, start: u64, len: u64, name: &str) {
        self.names.push((start, start.saturating_add(len), name.to_string()));
    }

    pub fn suppress_range(&mut self, start: u64, len: u64) {
        self.suppressed.push((start, start.saturating_add(len)));
    }

    fn page_cacheably_mapped(&self, line_pa: u64) -> bool {
        self.cfg.reset == ResetState::Unknown || self.cacheable_pages.contains(&(line_pa >> PAGE_SHIFT))
    }

    #[inline]
    fn note_cacheable(&mut self, line_pa: u64) {
        let page = line_pa >> PAGE_SHIFT;
        if page != self.last_cacheable_page {
            self.last_cacheable_page = page;
            self.cacheable_pages.insert(page);
        }
    }

    /// Index of a line's state, created on first use. Consecutive accesses mostly hit the same line.
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
    fn line(&mut self, line_pa: u64) -> &mut Line {
        let i = self.line_index(line_pa);
        &mut self.lines[i]
    }

    /// A line's state if it exists (maintenance of a line never accessed has nothing to do).
    fn existing_line(&mut self, line_pa: u64) -> Option<&mut Line> {
        let i = if line_pa == self.last_line_pa { self.last_line_idx } else { *self.line_ids.get(&line_pa)? as usize };
        self.lines.get_mut(i)
    }

    /// Whether code was fetched from the page (speculative I-cache), with a one-entry cache.
    #[inline]
    fn fetched_page(&mut self, line_pa: u64) -> bool {
        let page = line_pa >> PAGE_SHIFT;
        if page != self.last_fetched_query.0 {
            self.last_fetched_query = (page, self.fetched_pages.contains(&page));
        }
        self.last_fetched_query.1
    }

    /// Inner (PE cache) behaviour of a type: WB and WT allocate on reads, only WB on writes.
    #[inline(always)]
    fn inner(mem: MemType) -> Cacheability {
        INNER_CLASS[mem.attrs() as usize]
    }

    /// A read of the bytes in `mask` (a `byte_mask`) of the line: a hazard only if some of those bytes are
    /// stale in what it reads (a newer write to other bytes of the line is no hazard to it).
    #[inline(always)]
    fn load(&mut self, line_pa: u64, w: &WriterRef, mem: MemType, mask: u64) {
        let inner = Self::inner(mem);
        let system_cache = self.cfg.system_cache && mem.outer().is_some_and(|o| o != Cacheability::NonCacheable);
        if inner == Cacheability::NonCacheable {
            // NC and Device reads go to PoC (or a system cache the type is outer-cacheable in).
            let line = self.line(line_pa);
            let got = if system_cache && line.l2.present() { line.l2.ver } else { line.mem };
            if line.stale_in(got, mask) {
                let cause = line.dirty_writer();
                let class = HazardClass::DirtyBypass;
                let missing = if line.l2.dirty() && !line.l1.dirty() {
                    "DC CVAC or DC CIVAC (to PoC) by the writer after the write: DC CVAU only cleans to PoU, which is not PoC"
                } else {
                    "DC CVAC or DC CIVAC (to PoC) by the writer after the write and before the non-cacheable read"
                };
                self.hazard(class, line_pa, w, &cause, missing);
            }
            return;
        }
        self.note_cacheable(line_pa);
        let line = self.line(line_pa);
        let got = if line.l1.present() {
            line.l1.ver
        } else if line.l2.present() {
            let v = line.l2.ver;
            line.l1 = LineCopy::clean(v, inner == Cacheability::WriteThrough);
            v
        } else {
            let v = line.mem;
            line.l1 = LineCopy::clean(v, inner == Cacheability::WriteThrough);
            if system_cache {
                line.l2 = LineCopy::clean(v, false);
            }
            v
        };
        if line.stale_in(got, mask) {
            let cause = line.latest_by;
            let missing = if line.l1.is_speculative() {
                "DC IVAC or DC CIVAC (to PoC) by the reader after the write and before the read \
                 (the reader's live cacheable mapping of the page lets the cache hold an old copy)"
            } else {
                "DC IVAC or DC CIVAC (to PoC) by the reader after the write and before the read"
            };
            self.hazard(HazardClass::StaleRead, line_pa, w, &cause, missing);
        }
    }

    /// A write of the bytes in `mask` of the line.
    #[inline(always)]
    fn store(&mut self, line_pa: u64, w: &WriterRef, mem: MemType, mask: u64) {
        let inner = Self::inner(mem);
        let speculative = self.cfg.mode == Mode::Speculative;
        // The I-cache may hold an old copy of any line of a page code was fetched from.
        let spec_icache = (speculative && self.fetched_page(line_pa)).then_some(self.ic_epoch);
        if inner == Cacheability::WriteBack {
            let (line_size, granule) = (1u64 << self.line_shift, self.mask_granule);
            self.note_cacheable(line_pa);
            let line = self.line(line_pa);
            // Writing into a stale copy leaves a dirty line whose other bytes are stale: its write-back
            // will overwrite the newer data in memory.
            let base = if line.l1.present() { Some(line.l1.ver) } else if line.l2.present() { Some(line.l2.ver) } else { None };
            // Bytes this write covers are not clobbered: their newest data is this write's.
            let others = !mask & byte_mask(0, line_size, granule);
            let clobbers = base.is_some_and(|v| line.stale_in(v, others));
            let victim = if clobbers { line.latest_by } else { WriterRef::default() };
            line.write_back(w, mask, spec_icache);
            if clobbers {
                self.hazard(
                    HazardClass::LostWrite,
                    line_pa,
                    &victim,
                    w,
                    "DC IVAC or DC CIVAC (to PoC) on the line before writing it through the cacheable mapping",
                );
            }
            return;
        }
        // Write-Through, Non-cacheable and Device writes update memory.
        let spec_mapped = speculative && self.page_cacheably_mapped(line_pa);
        if inner == Cacheability::WriteThrough {
            self.note_cacheable(line_pa);
        }
        let line = self.line(line_pa);
        let dirty_by = line.l1.dirty() || line.l2.dirty();
        let cause = if dirty_by { line.dirty_writer() } else { WriterRef::default() };
        line.write_memory(w, mask, inner == Cacheability::WriteThrough, spec_mapped, spec_icache);
        if dirty_by {
            self.hazard(
                HazardClass::LostWrite,
                line_pa,
                w,
                &cause,
                "DC CIVAC (clean and invalidate to PoC) by the holder of the dirty line before this write",
            );
        }
    }

    /// The CPU's instruction-data coherence (R13): what the configuration forces, or (with `cpu_coherence`)
    /// what CTR_EL0 and CLIDR_EL1 as recorded say. Effective IDC: CTR_EL0.IDC, or CLIDR_EL1.LoC = 0, or
    /// CLIDR_EL1.LoUIS = LoUU = 0 (Arm ARM, CTR_EL0.IDC).
    fn coherence(&self) -> (bool, bool) {
        if !self.cfg.cpu_coherence {
            return (self.cfg.idc, self.cfg.dic);
        }
        let ctr = self.ctr_el0.unwrap_or(0);
        let idc_reg = ctr & (1 << 28) != 0
            || self.clidr_el1.is_some_and(|c| (c >> 24) & 7 == 0 || ((c >> 21) & 7 == 0 && (c >> 27) & 7 == 0));
        (self.cfg.idc || idc_reg, self.cfg.dic || ctr & (1 << 29) != 0)
    }

    /// An instruction fetch of the bytes in `mask` of the line.
    fn fetch(&mut self, line_pa: u64, w: &WriterRef, mem: MemType, mask: u64) {
        if self.fetched_pages.insert(line_pa >> PAGE_SHIFT) {
            self.last_fetched_query = (u64::MAX, false);
        }
        if !self.owns(line_pa) {
            return;
        }
        let epoch = self.ic_epoch;
        let cacheable = Self::inner(mem) != Cacheability::NonCacheable;
        let (idc, dic) = self.coherence();
        let line = self.line(line_pa);
        let (got, missing) = if !cacheable {
            (line.mem, "DC CVAC (to PoC) after writing the code: instruction fetches here are non-cacheable")
        } else if !dic && line.ic.present() && line.ic_epoch == epoch {
            (line.ic.ver, "IC IVAU (then DSB, ISB) after cleaning the new code to PoU")
        } else {
            // Instruction fetches fill from the PoU: data still dirty in the PE's data cache is not visible,
            // unless CTR_EL0.IDC says the data cache is coherent with instruction fetches.
            let pou = if idc && line.l1.present() {
                line.l1.ver
            } else if line.l2.present() {
                line.l2.ver
            } else {
                line.mem
            };
            line.ic = LineCopy::clean(pou, false);
            line.ic_epoch = epoch;
            (pou, "DC CVAU (clean to PoU), DSB, IC IVAU, DSB, ISB after writing the code")
        };
        if line.stale_in(got, mask) {
            let cause = line.latest_by;
            self.hazard(HazardClass::StaleIfetch, line_pa, w, &cause, missing);
        }
    }

    fn maintain(&mut self, op: CacheOp, pa: u64, len: u32, w: &WriterRef, mem: MemType) {
        let line_size = self.cfg.line_size as u64;
        match op {
            CacheOp::DcZva => {
                // A zeroing write of the whole block with the mapping's type.
                let start = pa & !(len.max(1) as u64 - 1);
                let mut l = start;
                while l < start.saturating_add(len.max(self.cfg.line_size) as u64) {
                    if self.owns(l) {
                        self.store(l, w, mem, byte_mask(0, line_size, self.mask_granule));
                    } else {
                        self.note_page_only(l, mem);
                    }
                    match l.checked_add(line_size) {
                        Some(next) => l = next,
                        None => break,
                    }
                }
            }
            _ if !self.owns(pa & !(line_size - 1)) => {}
            CacheOp::DcCvac | CacheOp::DcCvap | CacheOp::DcCvadp => {
                let line_pa = pa & !(line_size - 1);
                if let Some(line) = self.existing_line(line_pa) {
                    line.clean_to_poc();
                }
            }
            CacheOp::DcCivac => {
                let line_pa = pa & !(line_size - 1);
                if let Some(line) = self.existing_line(line_pa) {
                    line.clean_to_poc();
                    line.l1 = LineCopy::NONE;
                    line.l2 = LineCopy::NONE;
                }
            }
            CacheOp::DcIvac => {
                let line_pa = pa & !(line_size - 1);
                if let Some(line) = self.existing_line(line_pa) {
                    let dirty = line.l1.dirty() || line.l2.dirty();
                    let cause = line.dirty_writer();
                    line.invalidate_data();
                    if dirty {
                        self.hazard(
                            HazardClass::LostWrite,
                            line_pa,
                            w,
                            &cause,
                            "DC CIVAC instead of DC IVAC: invalidating a dirty line discards the write",
                        );
                    }
                }
            }
            CacheOp::DcCvau => {
                let line_pa = pa & !(line_size - 1);
                if let Some(line) = self.existing_line(line_pa) {
                    line.clean_to_pou();
                }
            }
            CacheOp::IcIvau => {
                let line_pa = pa & !(line_size - 1);
                if let Some(line) = self.existing_line(line_pa) {
                    line.ic = LineCopy::NONE;
                }
            }
            _ => {}
        }
    }

    fn side(&self, w: &WriterRef) -> Side {
        Side {
            vcpu: w.vcpu,
            regime: self.regimes.get(w.regime as usize).copied().unwrap_or_default(),
            pc: w.pc,
            va: w.va,
            mem: MemType::from_bits(w.mem),
            action: line::action_from_code(w.action),
            seq: w.seq,
            symbol: None,
        }
    }

    fn hazard(&mut self, class: HazardClass, line_pa: u64, observer: &WriterRef, cause: &WriterRef, missing: &str) {
        if self.suppressed.iter().any(|&(s, e)| line_pa < e && line_pa.saturating_add(self.cfg.line_size as u64) > s) {
            return;
        }
        let mut class = class;
        let mut missing = missing.to_string();
        // Set/way maintenance between the cause and the observer, by either side's vCPU, was meant to fix
        // this: it cannot (it reaches only that PE's caches and not caches beyond them).
        if matches!(class, HazardClass::StaleRead | HazardClass::DirtyBypass | HazardClass::LostWrite) {
            for v in [observer.vcpu, cause.vcpu] {
                if let Some((seq, pc, op)) = self.vcpus.get(v as usize).and_then(|s| s.set_way)
                    && seq > cause.seq.min(observer.seq)
                {
                    class = HazardClass::SetWayMaintenance;
                    missing = format!(
                        "{} at pc {pc:#x} works by set/way on one PE's caches only; use DC CIVAC/DC CVAC by VA to PoC ({})",
                        op.mnemonic(),
                        missing
                    );
                    break;
                }
            }
        }
        let range_name = self
            .names
            .iter()
            .find(|(s, e, _)| line_pa < *e && line_pa.saturating_add(self.cfg.line_size as u64) > *s)
            .map(|(_, _, n)| n.clone());
        let h = Hazard {
            class,
            line_pa,
            observer: self.side(observer),
            cause: self.side(cause),
            missing,
            count: 1,
            range_name,
            test_case: self.test_case,
            found_at: self.seq,
        };
        self.log.record(h);
    }
}

#[cfg(test)]
mod tests;
