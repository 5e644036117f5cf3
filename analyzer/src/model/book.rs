//! The model's bookkeeping, apart from the rules: the page table holding each page's line indices and its
//! speculative-mode evidence (with caches in front: consecutive accesses mostly hit the same line and a
//! few pages), interned regimes and writer sites, per-vCPU state, the devices and their names, and what
//! the trace said about the CPU.

use super::config::{DeviceStats, DmaPolicy};
use super::line::{Line, Site, Writer, WriterRef};
use crate::event::{CacheOp, DEVICE_NAME_PART_LEN, DeviceName, Dma};
use crate::regime::Regime;
use hashbrown::HashMap;

pub const PAGE_SHIFT: u32 = 12;
/// Entries of the direct-mapped cache in front of the page table: real code moves among a few dozen pages
/// at a time, and a hash probe per line was a sixth of a Linux replay.
const NEAR: usize = 256;
const NO_LINE: u32 = u32::MAX;

/// How many lines a page keeps inline before it allocates a slot for every line of the page (sparse
/// traces touch one or two lines of most pages).
const INLINE_LINES: usize = 2;

/// One 4 KB physical page: the indices of its lines' state, and the page-level evidence speculative mode
/// needs (docs/model.md, "Modes").
struct Page {
    /// (slot, line index) of the page's first lines, until `lines` exists.
    inline: [(u16, u32); INLINE_LINES],
    inline_len: u8,
    /// A slot per line of the page (NO_LINE where none), once more than INLINE_LINES lines exist.
    lines: Option<Box<[u32]>>,
    evidence: PageEvidence,
}

/// What speculative mode knows of a page.
#[derive(Clone, Copy, Default)]
pub struct PageEvidence {
    /// A cacheable data access touched the page: a live cacheable mapping may allocate any of its lines.
    pub cacheable: bool,
    /// Code was fetched from the page: the I-cache may hold any of its lines.
    pub fetched: bool,
}

#[derive(Clone, Copy, Default)]
pub struct VcpuState {
    pub regime: u16,
    /// The last set/way maintenance instruction this vCPU executed: (seq, pc, op).
    pub set_way: Option<(u64, u64, CacheOp)>,
}

/// Values numbered in order of first appearance, the default value first (id 0): lines and writer
/// records store the small number (regimes, writer sites).
struct Interner<K> {
    list: Vec<K>,
    ids: HashMap<K, u32>,
}

impl<K: Copy + Eq + std::hash::Hash + Default> Interner<K> {
    fn new() -> Interner<K> {
        let mut i = Interner { list: Vec::new(), ids: HashMap::new() };
        i.intern(K::default());
        i
    }

    fn intern(&mut self, k: K) -> u32 {
        let next = self.list.len() as u32;
        let id = *self.ids.entry(k).or_insert(next);
        if id == next {
            self.list.push(k);
        }
        id
    }

    fn get(&self, id: u32) -> K {
        self.list.get(id as usize).copied().unwrap_or_default()
    }
}

/// Interned writer sites (`line::Site`; id 0 is `Writer::default()`, "nobody"), with a direct-mapped cache
/// in front: a store interns its site (the same few instructions write again and again).
pub struct Sites {
    interner: Interner<Site>,
    near: Box<[(Site, u32); NEAR_SITES]>,
    /// The site interned last (a loop's store writes from the same place again).
    last: (Site, u32),
}

/// Entries of the sites' direct-mapped cache: a kernel stores from thousands of places.
const NEAR_SITES: usize = 4096;

impl Page {
    /// The index of the line in `slot`, or NO_LINE.
    #[inline(always)]
    fn find(&self, slot: usize) -> u32 {
        if let Some(lines) = &self.lines {
            return lines.get(slot).copied().unwrap_or(NO_LINE);
        }
        for &(s, i) in &self.inline[..self.inline_len as usize] {
            if s as usize == slot {
                return i;
            }
        }
        NO_LINE
    }
}

impl Sites {
    fn new() -> Sites {
        let near = vec![(Site::default(), 0); NEAR_SITES].into_boxed_slice().try_into().unwrap_or_else(|_| unreachable!());
        Sites { interner: Interner::new(), near, last: (Site::default(), 0) }
    }

    #[inline(always)]
    fn intern(&mut self, site: Site) -> u32 {
        if self.last.0 == site {
            return self.last.1;
        }
        let key = site.pc ^ (site.action as u64) << 48 ^ (site.mem as u64) << 32 ^ (site.regime as u64) << 16 ^ site.vcpu as u64;
        let slot = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 52) as usize % NEAR_SITES;
        let (s, id) = self.near[slot];
        let id = if s == site { id } else { self.intern_slow(site, slot) };
        self.last = (site, id);
        id
    }

    #[inline(never)]
    fn intern_slow(&mut self, site: Site, slot: usize) -> u32 {
        let id = self.interner.intern(site);
        self.near[slot] = (site, id);
        id
    }

    fn get(&self, id: u32) -> Site {
        self.interner.get(id)
    }
}

/// The longest device name (four DeviceName parts).
const DEVICE_NAME_MAX: usize = 4 * DEVICE_NAME_PART_LEN;

struct Device {
    stats: DeviceStats,
    /// The name's bytes as its parts arrived (NUL padded).
    name: [u8; DEVICE_NAME_MAX],
}

/// The devices a trace showed, by id in order of first appearance: their names (assembled from
/// DeviceName parts), whether the policy makes them coherent, and what they transferred.
#[derive(Default)]
pub struct Devices {
    list: Vec<Device>,
    ids: HashMap<u32, usize>,
}

impl Devices {
    fn get(&mut self, id: u32, policy: &DmaPolicy) -> &mut Device {
        let next = self.list.len();
        let i = *self.ids.entry(id).or_insert(next);
        if i == next {
            let name = format!("device#{id}");
            let coherent = policy.is_coherent(&name);
            self.list.push(Device { stats: DeviceStats { id, name, coherent, ..Default::default() }, name: [0; DEVICE_NAME_MAX] });
        }
        &mut self.list[i]
    }

    /// A part of a device's name: part 0 starts it afresh (a device model may be named again).
    pub fn name_part(&mut self, n: &DeviceName, policy: &DmaPolicy) {
        let at = n.part as usize * DEVICE_NAME_PART_LEN;
        if at >= DEVICE_NAME_MAX {
            return;
        }
        let d = self.get(n.id, policy);
        if n.part == 0 {
            d.name = [0; DEVICE_NAME_MAX];
        }
        d.name[at..at + DEVICE_NAME_PART_LEN].copy_from_slice(&n.bytes);
        let end = d.name.iter().position(|b| *b == 0).unwrap_or(DEVICE_NAME_MAX);
        let name = String::from_utf8_lossy(&d.name[..end]).into_owned();
        d.stats.name = if name.is_empty() { format!("device#{}", n.id) } else { name };
        d.stats.coherent = policy.is_coherent(&d.stats.name);
    }

    /// Counts a transfer; whether its device snoops the PE caches.
    pub fn transfer(&mut self, t: &Dma, policy: &DmaPolicy) -> bool {
        let s = &mut self.get(t.device, policy).stats;
        if t.write {
            s.writes += 1;
            s.write_bytes += t.len as u64;
        } else {
            s.reads += 1;
            s.read_bytes += t.len as u64;
        }
        s.coherent
    }

    /// A new policy applies to every device from now on.
    pub fn apply(&mut self, policy: &DmaPolicy) {
        for d in &mut self.list {
            d.stats.coherent = policy.is_coherent(&d.stats.name);
        }
    }

    pub fn name(&self, id: u32) -> String {
        self.ids.get(&id).map_or_else(|| format!("device#{id}"), |&i| self.list[i].stats.name.clone())
    }

    pub fn all(&self) -> Vec<DeviceStats> {
        self.list.iter().map(|d| d.stats.clone()).collect()
    }
}

pub struct Book {
    pub sites: Sites,
    pub devices: Devices,
    line_shift: u32,
    page_ids: HashMap<u64, u32>,
    pages: Vec<Page>,
    /// (page number, index) of recently used pages, by page number modulo NEAR.
    near_pages: Box<[(u64, u32); NEAR]>,
    lines: Vec<Line>,
    /// (line PA, line index, page index) of the line used last.
    last_line: (u64, u32, u32),
    /// Interned regimes, so writer records stay small.
    regimes: Interner<Regime>,
    vcpus: Vec<VcpuState>,
    /// CTR_EL0 and CLIDR_EL1 as the trace recorded them (rules::coherence).
    pub ctr_el0: Option<u64>,
    pub clidr_el1: Option<u64>,
    /// Global I-cache invalidation epoch (IC IALLU/IALLUIS invalidate every line).
    pub ic_epoch: u32,
    /// Sequence number of the last IC IALLU/IALLUIS (R13 names IC IVAU as missing only if no invalidation
    /// came after the code was written).
    pub ic_all_seq: Option<u64>,
}

impl Book {
    pub fn new(line_shift: u32) -> Book {
        Book {
            sites: Sites::new(),
            devices: Devices::default(),
            line_shift: line_shift.min(PAGE_SHIFT),
            page_ids: HashMap::new(),
            pages: Vec::new(),
            near_pages: Box::new([(u64::MAX, 0); NEAR]),
            lines: Vec::new(),
            last_line: (u64::MAX, 0, 0),
            regimes: Interner::new(),
            vcpus: Vec::new(),
            ctr_el0: None,
            clidr_el1: None,
            ic_epoch: 0,
            ic_all_seq: None,
        }
    }

    /// A writer as lines store it.
    #[inline(always)]
    pub fn writer(&mut self, w: &WriterRef) -> Writer {
        Writer::new(self.sites.intern(w.site()), w)
    }

    /// A stored writer in full, for a report.
    pub fn expand(&self, w: Writer) -> WriterRef {
        WriterRef::from_parts(self.sites.get(w.site), w)
    }

    fn intern_regime(&mut self, r: Regime) -> u16 {
        // A regime is EL x VMID x ASID: more than 65535 distinct ones in one trace share the last slot.
        self.regimes.intern(r).min(u16::MAX as u32) as u16
    }

    pub fn regime(&self, id: u16) -> Regime {
        self.regimes.get(id as u32)
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

    /// The page holding `line_pa`, created on first use.
    #[inline(always)]
    fn page(&mut self, line_pa: u64) -> &mut Page {
        let i = self.page_index(line_pa);
        &mut self.pages[i]
    }

    #[inline(always)]
    fn page_index(&mut self, line_pa: u64) -> usize {
        let page = line_pa >> PAGE_SHIFT;
        let (p, idx) = self.near_pages[page as usize % NEAR];
        if p == page { idx as usize } else { self.page_slow(page) }
    }

    #[inline(never)]
    fn page_slow(&mut self, page: u64) -> usize {
        let next = self.pages.len();
        let idx = *self.page_ids.entry(page).or_insert(next as u32) as usize;
        if idx == next {
            self.pages.push(Page { inline: [(0, NO_LINE); INLINE_LINES], inline_len: 0, lines: None, evidence: PageEvidence::default() });
        }
        self.near_pages[page as usize % NEAR] = (page, idx as u32);
        idx
    }

    fn existing_page(&self, line_pa: u64) -> Option<&Page> {
        let page = line_pa >> PAGE_SHIFT;
        let (p, idx) = self.near_pages[page as usize % NEAR];
        let i = if p == page { idx as usize } else { *self.page_ids.get(&page)? as usize };
        self.pages.get(i)
    }

    #[inline(always)]
    fn slot(&self, line_pa: u64) -> usize {
        ((line_pa & ((1 << PAGE_SHIFT) - 1)) >> self.line_shift) as usize
    }

    #[inline(always)]
    pub fn note_cacheable(&mut self, line_pa: u64) {
        self.page(line_pa).evidence.cacheable = true;
    }

    /// Code was fetched from the line's page.
    pub fn note_fetched(&mut self, line_pa: u64) {
        self.page(line_pa).evidence.fetched = true;
    }

    /// A line's state, created on first use.
    #[inline(always)]
    pub fn line(&mut self, line_pa: u64) -> &mut Line {
        self.line_and_page(line_pa).0
    }

    /// A line's state (created on first use) and its page's evidence, with one page lookup; consecutive
    /// accesses mostly hit the same line, which costs one compare (lines and pages never move).
    #[inline(always)]
    pub fn line_and_page(&mut self, line_pa: u64) -> (&mut Line, &mut PageEvidence) {
        let (last_pa, i, p) = self.last_line;
        if last_pa == line_pa {
            return (&mut self.lines[i as usize], &mut self.pages[p as usize].evidence);
        }
        let slot = self.slot(line_pa);
        let p = self.page_index(line_pa);
        let i = match self.pages[p].find(slot) {
            NO_LINE => self.add_line(p, slot),
            i => i,
        };
        self.last_line = (line_pa, i, p as u32);
        (&mut self.lines[i as usize], &mut self.pages[p].evidence)
    }

    #[inline(never)]
    fn add_line(&mut self, p: usize, slot: usize) -> u32 {
        let idx = self.lines.len() as u32;
        self.lines.push(Line::new());
        let slots = 1usize << (PAGE_SHIFT - self.line_shift);
        let page = &mut self.pages[p];
        if page.lines.is_none() && (page.inline_len as usize) < INLINE_LINES {
            page.inline[page.inline_len as usize] = (slot as u16, idx);
            page.inline_len += 1;
            return idx;
        }
        let lines = page.lines.get_or_insert_with(|| {
            let mut all = vec![NO_LINE; slots].into_boxed_slice();
            for &(s, i) in &page.inline[..page.inline_len as usize] {
                all[s as usize] = i;
            }
            all
        });
        lines[slot] = idx;
        idx
    }

    /// A line's state if it exists (maintenance of a line never accessed has nothing to do).
    pub fn existing_line(&mut self, line_pa: u64) -> Option<&mut Line> {
        let slot = self.slot(line_pa);
        match self.existing_page(line_pa)?.find(slot) {
            NO_LINE => None,
            i => self.lines.get_mut(i as usize),
        }
    }
}
