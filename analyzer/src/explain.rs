//! `cohtrace explain`: one line's history. The trace is replayed through the same driver and rules as an
//! analysis (`replay::feed_record`), and after each event that touched the line the model's state of that
//! line is read (`Model::line_snapshot`): nothing is added to the analysis's own hot path.
//!
//! For a hazard the window runs from the event that allocated the copy the observer met (or from the
//! cause, when that came later) to the observer.

use crate::event::{AccessKind, Event};
use crate::model::{DmaPolicy, LineSnapshot, Model, ModelConfig};
use crate::replay::feed_record;
use crate::report::Hazard;
use crate::trace::TraceFile;
use crate::trace::codes::RecordKind;
use crate::trace::reader::Damage;
use crate::trace::record::{marker_args, record_to_event};

/// One event that touched the line, and the line's state after it.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub seq: u64,
    pub event: Event,
    pub after: Option<LineSnapshot>,
}

/// For each of `lines` (physical addresses in the lines), the events of `trace` up to sequence number `to`
/// that touched it, each with the line's state after it, judged as an analysis with `cfg` and `dma` would:
/// one replay for all of them. Also the model at the end (for device names) and where decoding stopped.
pub fn line_history(trace: &TraceFile, cfg: ModelConfig, dma: &DmaPolicy, lines: &[u64], to: u64) -> (Vec<Vec<Step>>, Model, Option<Damage>) {
    let cfg = ModelConfig { line_size: trace.geometry().line_size, ..cfg };
    let line_size = cfg.line_size.max(16) as u64;
    let lines: Vec<u64> = lines.iter().map(|pa| pa & !(line_size - 1)).collect();
    let mut model = Model::with_dma(cfg, dma.clone());
    let geometry = trace.geometry();
    let mut steps = vec![Vec::new(); lines.len()];
    let mut events = trace.events();
    events.replay(|vcpu, seq, r, following| {
        if seq > to {
            return;
        }
        let (args, k) = if r.kind == RecordKind::Marker as u8 {
            marker_args(following.iter().map(|(_, a)| a))
        } else {
            ([Default::default(); 3], 0)
        };
        feed_record(&mut model, geometry, vcpu, seq, r, &args[..k]);
        let Some(ev) = record_to_event(r, &args[..k], vcpu, geometry) else { return };
        for (i, &line_pa) in lines.iter().enumerate() {
            if touches(&ev, line_pa, line_size) {
                steps[i].push(Step { seq, event: ev, after: model.line_snapshot(line_pa) });
            }
        }
    });
    let damage = events.error().cloned().or_else(|| trace.damage.clone());
    (steps, model, damage)
}

/// Whether an event reads, writes or maintains the line at `line_pa` (aligned to `line_size`): a RAM
/// access, fetch, walk, bulk range or DMA transfer overlapping it, maintenance by PA on it; set/way and
/// whole-I-cache operations touch every line. Also `cohtrace dump --line`.
pub fn touches(ev: &Event, line_pa: u64, line_size: u64) -> bool {
    let overlaps = |pa: u64, len: u64| pa < line_pa + line_size && pa.saturating_add(len.max(1)) > line_pa;
    match ev {
        Event::Access(a) => !a.mmio && overlaps(a.pa, a.size as u64),
        Event::Fetch(f) => f.pa & !(line_size - 1) == line_pa,
        Event::Walk(w) => overlaps(w.pa, w.size as u64),
        Event::Bulk(b) => overlaps(b.pa, b.len as u64),
        Event::Dma(d) => overlaps(d.pa, d.len as u64),
        // By VA, an operation acts on the whole line (DC ZVA: the block) holding the address: `len` is that
        // size, a power of two.
        Event::Maintenance(m) => match m.pa {
            Some(pa) => {
                let len = (m.len.max(1) as u64).next_power_of_two();
                overlaps(pa & !(len - 1), len)
            }
            None => m.op.is_set_way() || matches!(m.op, crate::event::CacheOp::IcIallu | crate::event::CacheOp::IcIalluis),
        },
        _ => false,
    }
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
    let copy = |c: Option<crate::model::CopySnapshot>| match c {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Access, CacheOp, Maintenance};
    use crate::memtype::MemType;
    use crate::trace::{Geometry, Header, Record, TraceWriter};

    fn trace(events: &[Event]) -> TraceFile {
        let mut recs = Vec::new();
        for e in events {
            recs.extend(Record::from_event(e, 0));
        }
        for (i, r) in recs.iter_mut().enumerate() {
            r.seq = i as u32;
        }
        let mut w = TraceWriter::new(Vec::new(), &Header::new(Geometry::default(), vec![])).unwrap();
        w.write_chunk(0, 0, &recs).unwrap();
        let (bytes, _) = w.finish(0).unwrap();
        TraceFile::from_bytes(bytes).unwrap()
    }

    fn acc(pc: u64, pa: u64, kind: AccessKind, mem: MemType) -> Event {
        Event::Access(Access { vcpu: 0, pc, va: pa, pa, size: 8, kind, mem, mmio: false })
    }

    #[test]
    fn a_stale_read_is_told_from_the_allocation_to_the_observer() {
        const L: u64 = 0x4020_0000;
        let (wb, nc) = (MemType::NORMAL_WB, MemType::NORMAL_NC);
        let t = trace(&[
            acc(0x10, L + 0x1000, AccessKind::Load, wb), // another line: not in the history
            acc(0x20, L, AccessKind::Load, wb),          // allocates the PE copy (v0)
            acc(0x30, L, AccessKind::Store, nc),         // the cause: memory v1 under the copy
            acc(0x40, L, AccessKind::Load, wb),          // the observer: reads v0
            Event::Maintenance(Maintenance { vcpu: 0, pc: 0x50, op: CacheOp::DcIvac, operand: L, pa: Some(L), mem: wb, len: 64 }),
        ]);
        let cfg = ModelConfig { mode: crate::model::Mode::Precise, ..Default::default() };
        let a = crate::analysis::analyze(&t, cfg, |_| {});
        let h = &a.log.hazards()[0];
        let (mut all, _, damage) = line_history(&t, cfg, &DmaPolicy::default(), &[h.line_pa, L + 0x1000], u64::MAX);
        assert!(damage.is_none());
        assert_eq!(all[1].iter().map(|s| s.seq).collect::<Vec<_>>(), [0], "the other line, from the same replay");
        let steps = all.swap_remove(0);
        assert_eq!(steps.iter().map(|s| s.seq).collect::<Vec<_>>(), [1, 2, 3, 4], "only the line's events");
        let (start, end) = hazard_window(&steps, h);
        assert_eq!((steps[start].seq, steps[end].seq), (1, 3), "from the allocation to the observer");
        let after_cause = steps[1].after.unwrap();
        assert_eq!((after_cause.mem, after_cause.latest, after_cause.pe.map(|c| (c.ver, c.dirty))), (1, 1, Some((0, false))));
        assert_eq!(describe_state(&steps[1].after), "memory v1, PE cache v0 (clean), beyond PoU -, I-cache -; newest v1");
        assert!(steps[3].after.unwrap().pe.is_none(), "DC IVAC dropped the copy");
    }
}
