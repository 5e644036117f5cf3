//! Hazard records, their deduplication, and renderings (text, JSON, SARIF, HTML; Perfetto for long
//! traces), and a line's history (`history`) for the renderings that tell it.

pub mod history;
pub mod html;
pub mod json;
#[cfg(feature = "perfetto")]
pub mod perfetto;
pub mod sarif;
pub mod text;

use crate::event::{AccessKind, BulkOp, CacheOp, DmaPath, NO_VCPU, WalkCause};
use crate::regime::Regime;
use crate::memtype::MemType;
use hashbrown::HashMap;
use serde::Serialize;

/// The hazard classes, named verbatim everywhere (CLI, JSON, manifests, docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HazardClass {
    StaleRead,
    DirtyBypass,
    LostWrite,
    StaleIfetch,
    SetWayMaintenance,
}

impl HazardClass {
    pub const ALL: [HazardClass; 5] = [
        HazardClass::StaleRead,
        HazardClass::DirtyBypass,
        HazardClass::LostWrite,
        HazardClass::StaleIfetch,
        HazardClass::SetWayMaintenance,
    ];

    pub fn name(self) -> &'static str {
        match self {
            HazardClass::StaleRead => "stale-read",
            HazardClass::DirtyBypass => "dirty-bypass",
            HazardClass::LostWrite => "lost-write",
            HazardClass::StaleIfetch => "stale-ifetch",
            HazardClass::SetWayMaintenance => "set-way-maintenance",
        }
    }

    /// The class as an identifier, for SARIF's rule `name`: `StaleRead`, `DirtyBypass`, ...
    pub fn pascal_name(self) -> String {
        self.name()
            .split('-')
            .map(|w| {
                let mut c = w.chars();
                c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
            })
            .collect()
    }

    /// The class's help, in Markdown: its paragraph of docs/model.md (the `#### <name>` heading under
    /// "Hazard classes", up to the next heading), read from that file when cohtrace is built, so the model's
    /// doc stays the one source. `summary` if the doc lacks it (a test makes sure it does not).
    pub fn help(self) -> &'static str {
        doc_section(MODEL_DOC, self.name()).unwrap_or(self.summary())
    }

    /// `help` as plain text: its paragraph joined into one line, without Markdown's `**` and backquotes.
    pub fn help_text(self) -> String {
        self.help().split_whitespace().collect::<Vec<_>>().join(" ").replace("**", "").replace('`', "")
    }

    /// The first sentence of `help`, as plain text (SARIF's `fullDescription`).
    pub fn description(self) -> String {
        let text = self.help_text();
        match text.find(": ").into_iter().chain(text.find(". ")).min() {
            Some(i) if text[..i].len() > 20 => format!("{}.", &text[..i]),
            _ => text,
        }
    }

    pub fn summary(self) -> &'static str {
        match self {
            HazardClass::StaleRead => "a cacheable read can return a stale cached copy",
            HazardClass::DirtyBypass => "a non-cacheable read bypasses newer data dirty in a cache",
            HazardClass::LostWrite => "a write can be lost (overwritten or discarded by cache maintenance or eviction)",
            HazardClass::StaleIfetch => "an instruction fetch can see stale code",
            HazardClass::SetWayMaintenance => "set/way maintenance used where maintenance by VA to PoC is needed",
        }
    }
}

/// docs/model.md, the source of every class's help text.
const MODEL_DOC: &str = include_str!("../../../docs/model.md");

/// The text under the heading `#### <name>` of `doc`, up to the next heading, trimmed.
fn doc_section(doc: &'static str, name: &str) -> Option<&'static str> {
    let heading = format!("#### {name}\n");
    let start = doc.find(&heading)? + heading.len();
    let rest = &doc[start..];
    let end = rest.find("\n#").map_or(rest.len(), |i| i + 1);
    Some(rest[..end].trim()).filter(|t| !t.is_empty())
}

impl std::fmt::Display for HazardClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a side of a hazard did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SideAction {
    Access { kind: AccessKind, size: u32 },
    Fetch,
    Maintenance(CacheOp),
    /// A descriptor access of the table walker: a read, or (`update`) a hardware access-flag or
    /// dirty-state write; for the translation of a `cause`.
    Walk { stage: u8, level: i8, update: bool, cause: WalkCause },
    /// A range one instruction step read or wrote as a whole (a MOPS SET/CPY step, a DC ZVA block).
    Bulk { op: BulkOp, store: bool },
    /// A device's transfer of `len` bytes to (`write`) or from guest memory (`Side::device` names it).
    Dma { write: bool, len: u32, device: u32, path: DmaPath },
}

impl SideAction {
    /// The kind of side, for machine-readable reports: load, store, fetch, maintenance, walk, walk-update,
    /// dma-read, dma-write.
    pub fn kind(self) -> &'static str {
        match self {
            SideAction::Access { kind: AccessKind::Load, .. } => "load",
            SideAction::Access { kind: AccessKind::Store, .. } => "store",
            SideAction::Fetch => "fetch",
            SideAction::Maintenance(_) => "maintenance",
            SideAction::Walk { update: false, .. } => "walk",
            SideAction::Walk { update: true, .. } => "walk-update",
            SideAction::Bulk { store: false, .. } => "load",
            SideAction::Bulk { store: true, .. } => "store",
            SideAction::Dma { write: false, .. } => "dma-read",
            SideAction::Dma { write: true, .. } => "dma-write",
        }
    }

    pub fn describe(self) -> String {
        match self {
            SideAction::Walk { stage, level, update: false, cause } => {
                format!("stage-{stage} table walk, level {level}, for {}", cause_text(cause))
            }
            SideAction::Walk { stage, level, update: true, cause } => {
                format!("hardware update (access flag / dirty state) of a stage-{stage} level-{level} descriptor, for {}", cause_text(cause))
            }
            SideAction::Access { kind: AccessKind::Load, size } => format!("load of {size} bytes"),
            SideAction::Access { kind: AccessKind::Store, size } => format!("store of {size} bytes"),
            SideAction::Fetch => "instruction fetch".to_string(),
            SideAction::Maintenance(op) => op.mnemonic().to_string(),
            SideAction::Bulk { op: BulkOp::Set, .. } => "MOPS set step (SETP/SETM/SETE), a store of a range".to_string(),
            SideAction::Bulk { op: BulkOp::Copy, store: false } => "MOPS copy step (CPY*), its read of the source".to_string(),
            SideAction::Bulk { op: BulkOp::Copy, store: true } => "MOPS copy step (CPY*), its write of the destination".to_string(),
            SideAction::Bulk { op: BulkOp::Zero, .. } => "DC ZVA (zeroing of a DCZID_EL0 block)".to_string(),
            SideAction::Dma { write, len, .. } => format!("DMA {} of {len} bytes", if write { "write" } else { "read" }),
        }
    }
}

fn cause_text(c: WalkCause) -> &'static str {
    match c {
        WalkCause::Load => "a load",
        WalkCause::Store => "a store",
        WalkCause::Fetch => "an instruction fetch",
        WalkCause::At => "an AT instruction",
    }
}

/// One side of a conflict: who did what, where, and with which memory type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Side {
    pub vcpu: u16,
    pub regime: Regime,
    pub pc: u64,
    pub va: u64,
    pub mem: MemType,
    pub action: SideAction,
    /// Position in the event stream.
    pub seq: u64,
    /// Filled by symbolization.
    pub symbol: Option<String>,
    /// A DMA side's device name (`device#<id>` when the trace never named it); `None` for a PE's side.
    pub device: Option<String>,
    /// The PC's source file and line, filled by symbolization when an ELF has DWARF line information.
    pub source: Option<SourceLine>,
}

/// A source file and line (from DWARF line information), shown as `file:line`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SourceLine {
    /// The path as the ELF's line table gives it (the compilation directory joined with the file's
    /// directory and name: absolute when the compiler saw absolute paths or recorded its directory).
    pub file: String,
    pub line: u32,
}

impl std::fmt::Display for SourceLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

impl Side {
    /// What the side did, in words: `SideAction::describe`, and for DMA the device, e.g. "DMA write of
    /// 512 bytes by virtio-blk@a003e00".
    pub fn describe(&self) -> String {
        match (self.action, &self.device) {
            (SideAction::Dma { .. }, Some(d)) => format!("{} by {d}", self.action.describe()),
            _ => self.action.describe(),
        }
    }

    /// The symbol and the source line, each when symbolization found it: `el2_read, guest.S:42`.
    pub fn symbol_and_source(&self) -> Option<String> {
        match (&self.symbol, &self.source) {
            (Some(sym), Some(src)) => Some(format!("{sym}, {src}")),
            (Some(sym), None) => Some(sym.clone()),
            (None, Some(src)) => Some(src.to_string()),
            (None, None) => None,
        }
    }

    /// A device's side (no vCPU, regime or PC).
    pub fn is_device(&self) -> bool {
        matches!(self.action, SideAction::Dma { .. })
    }

    /// What a side counts as in deduplication: its PC, or for a device its id (a device has no PC).
    pub fn site_key(&self) -> (u64, Option<u32>) {
        match self.action {
            SideAction::Dma { device, .. } => (0, Some(device)),
            _ => (self.pc, None),
        }
    }

    pub fn regime_text(&self) -> String {
        if self.is_device() || self.vcpu == NO_VCPU {
            return "device (no PE)".to_string();
        }
        let mut s = format!("EL{} ({} regime)", self.regime.el, self.regime.kind.name());
        if let Some(v) = self.regime.vmid {
            s.push_str(&format!(" VMID {v}"));
        }
        if let Some(a) = self.regime.asid {
            s.push_str(&format!(" ASID {a}"));
        }
        s
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hazard {
    pub class: HazardClass,
    /// Physical address of the line.
    pub line_pa: u64,
    /// The side that suffers: the stale read or fetch, the write that gets lost, the DC IVAC that drops data.
    pub observer: Side,
    /// The side responsible: the write the observer missed, or whose dirty data clobbers it.
    pub cause: Side,
    /// The maintenance that would have prevented it.
    pub missing: String,
    /// How many times this (class, observer PC, cause PC) occurred.
    pub count: u64,
    /// Name given to the physical range by a guest marker, if any.
    pub range_name: Option<String>,
    /// The guest's test case (Begin marker id) open when it first occurred.
    pub test_case: Option<u64>,
    /// Position of the event at which the model found it (first occurrence).
    pub found_at: u64,
    /// That event's place among the events with its sequence number: the device stream's transfers may
    /// share one (0, 1, ...), and the vCPU record that took the number comes after them (`u32::MAX`).
    pub found_tie: u32,
}

/// Deduplication key: (class, observer, cause), each side by `Side::site_key`.
type HazardKey = (HazardClass, (u64, Option<u32>), (u64, Option<u32>));

fn key_of(h: &Hazard) -> HazardKey {
    (h.class, h.observer.site_key(), h.cause.site_key())
}

/// Hazards deduplicated by (class, observer PC, cause PC) (a device side counts as its device), in order
/// of first occurrence.
#[derive(Default, Clone, Debug)]
pub struct HazardLog {
    hazards: Vec<Hazard>,
    index: HashMap<HazardKey, usize>,
    total: u64,
}

impl HazardLog {
    /// Records an occurrence; returns true when it is a new (class, PC pair).
    pub fn record(&mut self, h: Hazard) -> bool {
        self.total += 1;
        let key = key_of(&h);
        if let Some(&i) = self.index.get(&key) {
            self.hazards[i].count += 1;
            false
        } else {
            self.index.insert(key, self.hazards.len());
            self.hazards.push(Hazard { count: 1, ..h });
            true
        }
    }

    pub fn hazards(&self) -> &[Hazard] {
        &self.hazards
    }

    pub fn hazards_mut(&mut self) -> &mut [Hazard] {
        &mut self.hazards
    }

    pub fn into_hazards(self) -> Vec<Hazard> {
        self.hazards
    }

    /// Occurrences including repeats.
    pub fn occurrences(&self) -> u64 {
        self.total
    }

    pub fn len(&self) -> usize {
        self.hazards.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hazards.is_empty()
    }

    pub fn clear(&mut self) {
        self.hazards.clear();
        self.index.clear();
        self.total = 0;
    }

    /// Merges another log (e.g. from another shard), keeping first-occurrence order by sequence number.
    pub fn merge(logs: Vec<HazardLog>) -> HazardLog {
        let mut all: Vec<Hazard> = logs.into_iter().flat_map(|l| l.hazards).collect();
        // The order one model finds them in: by the event that revealed them, then by line (an access
        // spanning lines is judged line by line, upwards).
        all.sort_by_key(|h| (h.found_at, h.found_tie, h.line_pa, h.class, h.cause.seq));
        let mut out = HazardLog::default();
        for h in all {
            let key = key_of(&h);
            out.total += h.count;
            if let Some(&i) = out.index.get(&key) {
                out.hazards[i].count += h.count;
            } else {
                out.index.insert(key, out.hazards.len());
                out.hazards.push(h);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_class_has_its_help_in_docs_model_md() {
        for c in HazardClass::ALL {
            let help = c.help();
            assert_ne!(help, c.summary(), "docs/model.md has no \"#### {}\" section under \"Hazard classes\"", c.name());
            assert!(MODEL_DOC.contains(help), "{c}: the help is docs/model.md's text");
            assert!(help.len() > 200 && !help.contains('#'), "{c}: one paragraph, up to the next heading: {help}");
            assert!(help.contains("**R"), "{c}: the help names its rules: {help}");
            let d = c.description();
            assert!(d.ends_with('.') && d.len() < help.len() && !d.contains('`'), "{c}: {d}");
        }
        assert_eq!(HazardClass::SetWayMaintenance.pascal_name(), "SetWayMaintenance");
        assert_eq!(doc_section("#### a\nx\ny\n\n#### b\nz\n", "a"), Some("x\ny"));
        assert_eq!(doc_section("#### a\nx\n", "b"), None);
        assert_eq!(doc_section("#### a\nlast\n", "a"), Some("last"));
    }
}
