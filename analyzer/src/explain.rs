//! `cohtrace explain`: one line's history. The trace is replayed through the same driver and rules as an
//! analysis (`replay::feed_record`), and after each event that touched the line the model's state of that
//! line is read (`Model::line_snapshot`): nothing is added to the analysis's own hot path.
//!
//! For a hazard the window runs from the event that allocated the copy the observer met (or from the
//! cause, when that came later) to the observer.

use crate::event::Event;
use crate::model::{DmaPolicy, Model, ModelConfig};
use crate::replay::feed_record;
pub use crate::report::history::{Step, describe_event, describe_state, hazard_window};
use crate::trace::TraceFile;
use crate::trace::codes::RecordKind;
use crate::trace::reader::Damage;
use crate::trace::record::{marker_args, record_to_event};

/// For each of `lines` (physical addresses in the lines), the events of `trace` up to sequence number `to`
/// that touched it, each with the line's state after it, judged as an analysis with `cfg` and `dma` would:
/// one replay for all of them. Also the model at the end (for device names) and where decoding stopped.
pub fn line_history(trace: &TraceFile, cfg: ModelConfig, dma: &DmaPolicy, lines: &[u64], to: u64) -> (Vec<Vec<Step>>, Model, Option<Damage>) {
    let bounded: Vec<(u64, u64)> = lines.iter().map(|&pa| (pa, to)).collect();
    line_histories(trace, cfg, dma, &bounded)
}

/// Most events one line's history keeps: a hot line (a lock, a counter) keeps its last ones.
pub const HISTORY_LIMIT: usize = 1 << 16;

/// As `line_history`, each line with its own last sequence number (`(pa, to)`: a hazard's observer), so
/// a line that stays hot after its hazard does not push the hazard's window out of the `HISTORY_LIMIT`.
pub fn line_histories(trace: &TraceFile, cfg: ModelConfig, dma: &DmaPolicy, lines: &[(u64, u64)]) -> (Vec<Vec<Step>>, Model, Option<Damage>) {
    let cfg = ModelConfig { line_size: trace.geometry().line_size, ..cfg };
    let line_size = cfg.line_size.max(16) as u64;
    let mask = !(line_size - 1);
    // Line -> the entries asking for it (a line may be asked for twice, with two bounds).
    let mut wanted = hashbrown::HashMap::<u64, Vec<usize>>::new();
    for (i, &(pa, _)) in lines.iter().enumerate() {
        wanted.entry(pa & mask).or_default().push(i);
    }
    let last = lines.iter().map(|l| l.1).max().unwrap_or(0);
    let mut model = Model::with_dma(cfg, dma.clone());
    let geometry = trace.geometry();
    let mut steps = vec![Vec::new(); lines.len()];
    let mut events = trace.events();
    events.replay(|vcpu, seq, r, following| {
        if seq > last || lines.is_empty() {
            return;
        }
        let (args, k) = if r.kind == RecordKind::Marker as u8 {
            marker_args(following.iter().map(|(_, a)| a))
        } else {
            ([Default::default(); 3], 0)
        };
        feed_record(&mut model, geometry, vcpu, seq, r, &args[..k]);
        let Some(ev) = record_to_event(r, &args[..k], vcpu, geometry) else { return };
        let mut note = |line_pa: u64, model: &mut Model| {
            let Some(ids) = wanted.get(&line_pa) else { return };
            let after = model.line_snapshot(line_pa);
            for &i in ids {
                if seq <= lines[i].1 {
                    let s = &mut steps[i];
                    if s.len() == HISTORY_LIMIT {
                        s.drain(..HISTORY_LIMIT / 2);
                    }
                    s.push(Step { seq, event: ev, after });
                }
            }
        };
        match lines_touched(&ev, line_size) {
            Touched::None => {}
            Touched::Range(first, end) if (end - first) / line_size <= wanted.len() as u64 => {
                let mut l = first;
                while l < end {
                    note(l, &mut model);
                    l += line_size;
                }
            }
            // A long range or every line: ask for each wanted line instead.
            touched => {
                let hit: Vec<u64> = wanted.keys().copied().filter(|&l| touched.includes(l)).collect();
                for l in hit {
                    note(l, &mut model);
                }
            }
        }
    });
    let damage = events.error().cloned().or_else(|| trace.damage.clone());
    (steps, model, damage)
}

/// The lines an event touches: none, the lines of `[first, end)` (line-aligned), or every line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Touched {
    None,
    Range(u64, u64),
    All,
}

impl Touched {
    fn includes(self, line_pa: u64) -> bool {
        match self {
            Touched::None => false,
            Touched::Range(first, end) => (first..end).contains(&line_pa),
            Touched::All => true,
        }
    }
}

/// What an event reads, writes or maintains (set/way and whole-I-cache operations touch every line; an
/// MMIO access touches no memory line).
fn lines_touched(ev: &Event, line_size: u64) -> Touched {
    let mask = !(line_size - 1);
    let range = |pa: u64, len: u64| {
        let end = pa.saturating_add(len.max(1));
        Touched::Range(pa & mask, end.saturating_add(line_size - 1) & mask)
    };
    match ev {
        Event::Access(a) if a.mmio => Touched::None,
        Event::Access(a) => range(a.pa, a.size as u64),
        Event::Fetch(f) => Touched::Range(f.pa & mask, (f.pa & mask) + line_size),
        Event::Walk(w) => range(w.pa, w.size as u64),
        Event::Bulk(b) => range(b.pa, b.len as u64),
        Event::Dma(d) => range(d.pa, d.len as u64),
        // By VA, an operation acts on the whole line (DC ZVA: the block) holding the address: `len` is that
        // size, a power of two.
        Event::Maintenance(m) => match m.pa {
            Some(pa) => {
                let len = (m.len.max(1) as u64).next_power_of_two();
                range(pa & !(len - 1), len)
            }
            None if m.op.is_set_way() || matches!(m.op, crate::event::CacheOp::IcIallu | crate::event::CacheOp::IcIalluis) => Touched::All,
            None => Touched::None,
        },
        _ => Touched::None,
    }
}

/// Whether an event reads, writes or maintains the line at `line_pa`: a RAM access, fetch, walk, bulk range
/// or DMA transfer overlapping it, maintenance by PA on it; set/way and whole-I-cache operations touch
/// every line. Also `cohtrace dump --line`.
pub fn touches(ev: &Event, line_pa: u64, line_size: u64) -> bool {
    lines_touched(ev, line_size).includes(line_pa & !(line_size - 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Access, AccessKind, CacheOp, Maintenance};
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
