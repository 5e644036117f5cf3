//! A line's history as the model saw it: the events that touched the line, each with the model's state of
//! the line after it (`analyzer::explain` replays a trace to make one), and the window of it that tells a
//! hazard. The renderings that tell stories (`cohtrace explain`, HTML, Perfetto) read these.

use crate::event::{AccessKind, Event};
use super::Hazard;

/// A cached copy of a line in a `LineSnapshot`: its version, and whether it is dirty or only possible
/// (speculative mode's copy that a cacheable mapping may have allocated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopySnapshot {
    pub ver: u32,
    pub dirty: bool,
    pub speculative: bool,
}

/// What the model holds for one line (versions count writes to it; 0 is its content at the start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineSnapshot {
    /// The newest data's version.
    pub latest: u32,
    /// The version at the Point of Coherency.
    pub mem: u32,
    pub pe: Option<CopySnapshot>,
    pub beyond_pou: Option<CopySnapshot>,
    pub icache: Option<CopySnapshot>,
}

/// One event that touched the line, and the line's state after it.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub seq: u64,
    pub event: Event,
    pub after: Option<LineSnapshot>,
}

/// The window of a hazard: from the event that allocated the copy the observer met, if it still held
/// when the cause came, else from the cause; to the observer.
pub fn hazard_window(steps: &[Step], h: &Hazard) -> (usize, usize) {
    let end = steps.iter().rposition(|s| s.seq <= h.observer.seq).unwrap_or(0);
    let cause = steps.iter().rposition(|s| s.seq <= h.cause.seq.min(h.observer.seq)).unwrap_or(0);
    // Walk back over the steps before the cause while the PE copy was there: its allocation is where the
    // story starts.
    let mut start = cause;
    while start > 0 && steps[start - 1].after.is_some_and(|l| l.pe.is_some()) {
        start -= 1;
    }
    (start, end.max(start))
}

/// A line's state in words: "memory v2, PE cache v1 (clean), beyond PoU -, I-cache -; newest v2".
pub fn describe_state(l: &Option<LineSnapshot>) -> String {
    let Some(l) = l else { return "not yet modelled".into() };
    let copy = |c: Option<CopySnapshot>| match c {
        None => "-".to_string(),
        Some(c) => format!(
            "v{} ({}{})",
            c.ver,
            if c.dirty { "dirty" } else { "clean" },
            if c.speculative { ", possible" } else { "" }
        ),
    };
    format!(
        "memory v{}, PE cache {}, beyond PoU {}, I-cache {}; newest v{}",
        l.mem,
        copy(l.pe),
        copy(l.beyond_pou),
        copy(l.icache),
        l.latest
    )
}

/// An event in words, for the history: who, what, the type and the bytes.
pub fn describe_event(ev: &Event, device_name: &dyn Fn(u32) -> String) -> String {
    match ev {
        Event::Access(a) => format!(
            "vCPU {} {} of {} bytes at pa {:#x} (va {:#x}), pc {:#x}, {}",
            a.vcpu,
            if a.kind == AccessKind::Store { "store" } else { "load" },
            a.size,
            a.pa,
            a.va,
            a.pc,
            a.mem
        ),
        Event::Fetch(f) => format!("vCPU {} instruction fetch at pc {:#x}, {}", f.vcpu, f.pc, f.mem),
        Event::Walk(w) => format!("vCPU {} stage-{} table walk, level {}, descriptor at {:#x}, {}", w.vcpu, w.stage, w.level, w.pa, w.mem),
        Event::Bulk(b) => format!(
            "vCPU {} {:?} {} of {} bytes at pa {:#x}, pc {:#x}, {}",
            b.vcpu,
            b.op,
            if b.store { "write" } else { "read" },
            b.len,
            b.pa,
            b.pc,
            b.mem
        ),
        Event::Dma(d) => format!(
            "DMA {} of {} bytes by {} at {:#x} ({} path)",
            if d.write { "write" } else { "read" },
            d.len,
            device_name(d.device),
            d.pa,
            d.path.name()
        ),
        Event::Maintenance(m) => format!("vCPU {} {:?} at pc {:#x}", m.vcpu, m.op, m.pc),
        other => format!("{other:?}"),
    }
}

