//! Perfetto's trace format (the TrackEvent protobuf) for the hazards' line histories: `cohtrace export
//! --perfetto`, the story `cohtrace explain` tells, for traces too long to read as text. The file opens in
//! the Perfetto UI (docs/report-format.md, "Perfetto").
//!
//! What is written:
//! - a track per line that has a hazard, `line 0x40112000 (stale-read)`, with child tracks: one per hazard
//!   on it (`hazard 1: stale-read`, a slice over the hazard's window, `explain::hazard_window`) and one per
//!   lane of the model's state of the line that has something to show: `memory (PoC)` (a slice while
//!   memory is behind the newest data), `PE cache`, `beyond PoU`, `I-cache` (a slice while that copy is
//!   stale or dirty);
//! - a track per vCPU (`vCPU 0`) and per device (`device virtio-blk@a003e00`) with an instant event for
//!   each access, fetch, table walk, bulk range, DMA transfer and maintenance operation that touched one of
//!   those lines, named by its symbol when one is known;
//! - a flow per hazard from its cause's instant to its observer's.
//!
//! The timestamps are event sequence numbers (the UI says "ns").
//!
//! This renderer reads what `explain::line_history` gives (its steps carry the model's `LineSnapshot`s):
//! the one report module that sits above the model.

use crate::event::{AccessKind, Event, NO_VCPU};
use super::history::{CopySnapshot, LineSnapshot, Step, describe_event, describe_state, hazard_window};
use super::{Hazard, Side, SideAction};
use prost::Message;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The subset of Perfetto's trace schema this file writes, with the field numbers and types of
/// protos/perfetto/trace/ (perfetto_trace.proto): `Trace`, `TracePacket`, `TrackDescriptor`,
/// `TrackEvent`, `DebugAnnotation`. Fields of a oneof (`TracePacket.data`, `DebugAnnotation.value`) are
/// plain optional fields here: at most one of them is ever set, which is the same on the wire.
pub mod proto {
    /// perfetto.protos.Trace
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Trace {
        #[prost(message, repeated, tag = "1")]
        pub packet: Vec<TracePacket>,
    }

    /// perfetto.protos.TracePacket
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TracePacket {
        #[prost(uint64, optional, tag = "8")]
        pub timestamp: Option<u64>,
        #[prost(uint32, optional, tag = "10")]
        pub trusted_packet_sequence_id: Option<u32>,
        #[prost(message, optional, tag = "11")]
        pub track_event: Option<TrackEvent>,
        /// `SequenceFlags` bits.
        #[prost(uint32, optional, tag = "13")]
        pub sequence_flags: Option<u32>,
        #[prost(message, optional, tag = "60")]
        pub track_descriptor: Option<TrackDescriptor>,
    }

    /// TracePacket.SequenceFlags.SEQ_INCREMENTAL_STATE_CLEARED
    pub const SEQ_INCREMENTAL_STATE_CLEARED: u32 = 1;

    /// perfetto.protos.TrackDescriptor
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TrackDescriptor {
        #[prost(uint64, optional, tag = "1")]
        pub uuid: Option<u64>,
        #[prost(string, optional, tag = "2")]
        pub name: Option<String>,
        #[prost(uint64, optional, tag = "5")]
        pub parent_uuid: Option<u64>,
        #[prost(enumeration = "ChildTracksOrdering", optional, tag = "11")]
        pub child_ordering: Option<i32>,
        #[prost(int32, optional, tag = "12")]
        pub sibling_order_rank: Option<i32>,
        #[prost(string, optional, tag = "14")]
        pub description: Option<String>,
    }

    /// perfetto.protos.TrackDescriptor.ChildTracksOrdering
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum ChildTracksOrdering {
        Unknown = 0,
        Lexicographic = 1,
        Chronological = 2,
        Explicit = 3,
    }

    /// perfetto.protos.TrackEvent
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TrackEvent {
        #[prost(message, repeated, tag = "4")]
        pub debug_annotations: Vec<DebugAnnotation>,
        #[prost(enumeration = "Type", optional, tag = "9")]
        pub r#type: Option<i32>,
        #[prost(uint64, optional, tag = "11")]
        pub track_uuid: Option<u64>,
        #[prost(string, repeated, tag = "22")]
        pub categories: Vec<String>,
        #[prost(string, optional, tag = "23")]
        pub name: Option<String>,
        /// fixed64, not packed (proto2).
        #[prost(fixed64, repeated, packed = "false", tag = "47")]
        pub flow_ids: Vec<u64>,
        #[prost(fixed64, repeated, packed = "false", tag = "48")]
        pub terminating_flow_ids: Vec<u64>,
    }

    /// perfetto.protos.TrackEvent.Type
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
    #[repr(i32)]
    pub enum Type {
        Unspecified = 0,
        SliceBegin = 1,
        SliceEnd = 2,
        Instant = 3,
    }

    /// perfetto.protos.DebugAnnotation
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct DebugAnnotation {
        #[prost(uint64, optional, tag = "3")]
        pub uint_value: Option<u64>,
        #[prost(string, optional, tag = "6")]
        pub string_value: Option<String>,
        #[prost(string, optional, tag = "10")]
        pub name: Option<String>,
    }
}

use proto::{ChildTracksOrdering, DebugAnnotation, TracePacket, TrackDescriptor, TrackEvent, Type};

/// The packet sequence every packet is written on.
const SEQUENCE: u32 = 1;

/// What `render` exports.
pub struct Export<'a> {
    /// The hazards, as the report lists them (numbered from 1 in the export).
    pub hazards: &'a [Hazard],
    /// Each hazard line's history (`explain::line_history`), by its line's physical address.
    pub lines: &'a [(u64, &'a [Step])],
    /// vCPUs to give a track even when none of their events touched a hazard line (e.g. all the trace's).
    pub vcpus: &'a [u16],
    /// A device's name by its id.
    pub device_name: &'a dyn Fn(u32) -> String,
    /// The symbol of a PC (`name+0xoff`), if one is known.
    pub symbol: &'a dyn Fn(u64) -> Option<String>,
}

/// The export as a Perfetto trace file (a serialized `perfetto.protos.Trace`).
pub fn render(x: &Export) -> Vec<u8> {
    build(x).encode_to_vec()
}

/// One lane of a line's state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lane {
    Memory,
    Pe,
    BeyondPou,
    Icache,
}

impl Lane {
    const ALL: [Lane; 4] = [Lane::Memory, Lane::Pe, Lane::BeyondPou, Lane::Icache];

    fn name(self) -> &'static str {
        match self {
            Lane::Memory => "memory (PoC)",
            Lane::Pe => "PE cache",
            Lane::BeyondPou => "beyond PoU",
            Lane::Icache => "I-cache",
        }
    }

    /// What the lane shows in state `l`: a slice's name while there is something wrong to show (memory
    /// behind the newest data; a copy stale or dirty), else `None`.
    fn label(self, l: &Option<LineSnapshot>) -> Option<String> {
        let l = l.as_ref()?;
        let copy = match self {
            Lane::Memory => {
                return (l.mem < l.latest).then(|| format!("behind: v{} (newest v{})", l.mem, l.latest));
            }
            Lane::Pe => l.pe,
            Lane::BeyondPou => l.beyond_pou,
            Lane::Icache => l.icache,
        };
        let CopySnapshot { ver, dirty, speculative } = copy?;
        let stale = ver < l.latest;
        let what = match (dirty, stale) {
            (false, false) => return None,
            (true, false) => format!("dirty v{ver}"),
            (false, true) => format!("stale v{ver} (newest v{})", l.latest),
            (true, true) => format!("dirty, stale v{ver} (newest v{})", l.latest),
        };
        Some(if speculative { format!("possible {what}") } else { what })
    }
}

/// Where an instant is drawn: a vCPU's track or a device's.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Actor {
    Vcpu(u16),
    Device(u32),
}

fn actor_of(ev: &Event) -> Actor {
    match ev {
        Event::Dma(d) => Actor::Device(d.device),
        other => Actor::Vcpu(other.vcpu()),
    }
}

fn actor_of_side(s: &Side) -> Actor {
    match s.action {
        SideAction::Dma { device, .. } => Actor::Device(device),
        _ => Actor::Vcpu(s.vcpu),
    }
}

/// An instant to draw: an event that touched hazard lines (once, whichever lines it touched), or a side of
/// a hazard no line history holds.
struct Instant {
    seq: u64,
    what: What,
    /// The lines it touched, each with the line's state after it.
    after: Vec<(u64, Option<LineSnapshot>)>,
    flow_ids: Vec<u64>,
    terminating_flow_ids: Vec<u64>,
    roles: Vec<(&'static str, String)>,
}

enum What {
    Event(Event),
    Side(Side),
}

impl Instant {
    fn actor(&self) -> Actor {
        match &self.what {
            What::Event(e) => actor_of(e),
            What::Side(s) => actor_of_side(s),
        }
    }
}

/// Whether `ev` is the event a hazard's side describes (same sequence number checked by the caller).
fn side_is(side: &Side, ev: &Event) -> bool {
    match (side.action, ev) {
        (SideAction::Access { kind, .. }, Event::Access(a)) => a.kind == kind && a.pc == side.pc && a.vcpu == side.vcpu,
        (SideAction::Bulk { store, .. }, Event::Bulk(b)) => b.store == store && b.pc == side.pc && b.vcpu == side.vcpu,
        (SideAction::Fetch, Event::Fetch(f)) => f.vcpu == side.vcpu,
        (SideAction::Maintenance(op), Event::Maintenance(m)) => m.op == op && m.vcpu == side.vcpu,
        (SideAction::Walk { update, .. }, Event::Walk(w)) => w.update == update && w.vcpu == side.vcpu,
        (SideAction::Dma { device, write, .. }, Event::Dma(d)) => d.device == device && d.write == write,
        _ => false,
    }
}

/// An event's instant name: what it did, its memory type, and where ("at el2_read+0x10", or the PC).
fn event_name(ev: &Event, at: &str) -> String {
    match ev {
        Event::Access(a) => format!("{} {}{at}", if a.kind == AccessKind::Store { "store" } else { "load" }, a.mem),
        Event::Fetch(f) => format!("fetch {}{at}", f.mem),
        Event::Walk(w) => format!("{} s{} L{} {}{at}", if w.update { "walk-update" } else { "walk" }, w.stage, w.level, w.mem),
        Event::Bulk(b) => format!("{} {} {}{at}", b.op.name(), if b.store { "store" } else { "load" }, b.mem),
        Event::Dma(d) => format!("DMA {} {} B", if d.write { "write" } else { "read" }, d.len),
        Event::Maintenance(m) => format!("{}{at}", m.op.mnemonic()),
        other => format!("{other:?}"),
    }
}

fn category(ev: &Event) -> &'static str {
    match ev {
        Event::Access(_) => "access",
        Event::Fetch(_) => "fetch",
        Event::Walk(_) => "walk",
        Event::Bulk(_) => "bulk",
        Event::Dma(_) => "dma",
        Event::Maintenance(_) => "maintenance",
        _ => "other",
    }
}

fn text(name: &str, value: impl Into<String>) -> DebugAnnotation {
    DebugAnnotation { name: Some(name.into()), string_value: Some(value.into()), uint_value: None }
}

fn number(name: &str, value: u64) -> DebugAnnotation {
    DebugAnnotation { name: Some(name.into()), string_value: None, uint_value: Some(value) }
}

/// A hazard's side in words, as `cohtrace explain` gives it.
fn who(side: &Side, symbol: &dyn Fn(u64) -> Option<String>) -> String {
    if side.is_device() {
        return side.describe();
    }
    let sym = side.symbol.clone().or_else(|| symbol(side.pc)).map(|s| format!(" ({s})")).unwrap_or_default();
    format!("{} at pc {:#x}{sym}, vCPU {}, {}", side.describe(), side.pc, side.vcpu, side.mem)
}

/// Track events in the order they are written: by timestamp, then in the order they were made (each
/// track's events are made in its time order, so a slice's end and the next one's begin at the same
/// timestamp stay in that order).
#[derive(Default)]
struct Events {
    list: Vec<(u64, usize, TrackEvent)>,
}

impl Events {
    fn push(&mut self, ts: u64, e: TrackEvent) {
        let n = self.list.len();
        self.list.push((ts, n, e));
    }

    fn slice(&mut self, track: u64, begin: u64, end: u64, name: String, categories: Vec<String>, annotations: Vec<DebugAnnotation>) {
        self.push(
            begin,
            TrackEvent {
                r#type: Some(Type::SliceBegin as i32),
                track_uuid: Some(track),
                name: Some(name),
                categories,
                debug_annotations: annotations,
                ..Default::default()
            },
        );
        self.push(end, TrackEvent { r#type: Some(Type::SliceEnd as i32), track_uuid: Some(track), ..Default::default() });
    }
}

struct Tracks {
    descriptors: Vec<TrackDescriptor>,
}

impl Tracks {
    fn add(&mut self, name: String, parent: Option<u64>, rank: Option<i32>, description: Option<String>) -> u64 {
        // Uuids are 1, 2, ... in the order tracks are made: the same input gives the same file.
        let uuid = self.descriptors.len() as u64 + 1;
        self.descriptors.push(TrackDescriptor {
            uuid: Some(uuid),
            name: Some(name),
            parent_uuid: parent,
            child_ordering: None,
            sibling_order_rank: rank,
            description,
        });
        uuid
    }
}

/// The export as the trace message (`render` serializes it).
pub fn build(x: &Export) -> proto::Trace {
    let empty: &[Step] = &[];
    let history = |pa: u64| x.lines.iter().find(|(l, _)| *l == pa).map_or(empty, |(_, s)| *s);
    // The hazard lines, in the order of their first hazard.
    let mut lines: Vec<u64> = Vec::new();
    for h in x.hazards {
        if !lines.contains(&h.line_pa) {
            lines.push(h.line_pa);
        }
    }

    // Instants: each event once, with every hazard line it touched.
    let mut instants: Vec<Instant> = Vec::new();
    let mut by_seq: HashMap<u64, Vec<usize>> = HashMap::new();
    for &pa in &lines {
        for s in history(pa) {
            let same = by_seq.entry(s.seq).or_default();
            let found = same.iter().copied().find(|&i| matches!(&instants[i].what, What::Event(e) if *e == s.event));
            let i = found.unwrap_or_else(|| {
                instants.push(Instant {
                    seq: s.seq,
                    what: What::Event(s.event),
                    after: Vec::new(),
                    flow_ids: Vec::new(),
                    terminating_flow_ids: Vec::new(),
                    roles: Vec::new(),
                });
                same.push(instants.len() - 1);
                instants.len() - 1
            });
            instants[i].after.push((pa, s.after));
        }
    }
    // Each hazard's cause and observer: the instant of its event on the line (an instant of the side
    // itself when no history holds it).
    let mut ends: Vec<(usize, usize)> = Vec::new();
    for (n, h) in x.hazards.iter().enumerate() {
        let mut find = |side: &Side, role: &'static str| {
            let same = by_seq.entry(side.seq).or_default();
            let on_line = |i: usize| instants[i].after.iter().any(|(pa, _)| *pa == h.line_pa);
            let found = same
                .iter()
                .copied()
                .find(|&i| on_line(i) && matches!(&instants[i].what, What::Event(e) if side_is(side, e)))
                .or_else(|| same.iter().copied().find(|&i| on_line(i)));
            let i = match found {
                Some(i) => i,
                None => {
                    instants.push(Instant {
                        seq: side.seq,
                        what: What::Side(side.clone()),
                        after: vec![(h.line_pa, None)],
                        flow_ids: Vec::new(),
                        terminating_flow_ids: Vec::new(),
                        roles: Vec::new(),
                    });
                    same.push(instants.len() - 1);
                    instants.len() - 1
                }
            };
            instants[i].roles.push((role, format!("hazard {} ({})", n + 1, h.class)));
            i
        };
        let cause = find(&h.cause, "cause of");
        let observer = find(&h.observer, "observer of");
        ends.push((cause, observer));
    }
    // Time order (stable: events with one sequence number keep the order the histories list them in,
    // the replay's).
    let mut order: Vec<usize> = (0..instants.len()).collect();
    order.sort_by_key(|&i| instants[i].seq);
    let mut rank = vec![0; instants.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r;
    }
    // A flow per hazard, id = its number: from the cause to the observer, or from whichever of the two
    // came first when the cause came later.
    for (n, &(cause, observer)) in ends.iter().enumerate() {
        let id = n as u64 + 1;
        if cause == observer {
            continue;
        }
        let (from, to) = if rank[cause] <= rank[observer] { (cause, observer) } else { (observer, cause) };
        instants[from].flow_ids.push(id);
        instants[to].terminating_flow_ids.push(id);
    }

    let last = instants.iter().map(|i| i.seq).max().unwrap_or(0);
    // Windows still open at the end close one after the export's last event.
    let end = last + 1;
    let mut tracks = Tracks { descriptors: Vec::new() };
    let mut events = Events::default();

    // The lines: a hazard lane per hazard, then the state lanes that show something.
    for &pa in &lines {
        let on_line: Vec<(usize, &Hazard)> = x.hazards.iter().enumerate().filter(|(_, h)| h.line_pa == pa).collect();
        let classes: BTreeSet<&str> = on_line.iter().map(|(_, h)| h.class.name()).collect();
        let ranges: BTreeSet<&str> = on_line.iter().filter_map(|(_, h)| h.range_name.as_deref()).collect();
        let description = format!(
            "hazard{} {} on physical line {pa:#x}{}",
            if on_line.len() > 1 { "s" } else { "" },
            on_line.iter().map(|(n, _)| (n + 1).to_string()).collect::<Vec<_>>().join(", "),
            if ranges.is_empty() { String::new() } else { format!(" (range {})", ranges.into_iter().collect::<Vec<_>>().join(", ")) }
        );
        let line_track = tracks.add(
            format!("line {pa:#x} ({})", classes.into_iter().collect::<Vec<_>>().join(", ")),
            None,
            None,
            Some(description),
        );
        if let Some(d) = tracks.descriptors.last_mut() {
            d.child_ordering = Some(ChildTracksOrdering::Explicit as i32);
        }
        let steps = history(pa);
        let mut sibling = 0;
        for &(n, h) in &on_line {
            let track = tracks.add(format!("hazard {}: {}", n + 1, h.class), Some(line_track), Some(sibling), Some(h.class.summary().to_string()));
            sibling += 1;
            let begin = if steps.is_empty() {
                h.cause.seq.min(h.observer.seq)
            } else {
                let (start, _) = hazard_window(steps, h);
                steps[start].seq.min(h.observer.seq)
            };
            let mut notes = vec![
                text("summary", h.class.summary()),
                text("observer", who(&h.observer, x.symbol)),
                text("cause", who(&h.cause, x.symbol)),
                text("missing", h.missing.clone()),
                number("count", h.count),
                text("line", format!("{pa:#x}")),
            ];
            if let Some(r) = &h.range_name {
                notes.push(text("range", r.clone()));
            }
            if let Some(t) = h.test_case {
                notes.push(number("test case", t));
            }
            events.slice(track, begin, h.observer.seq.max(begin), h.class.name().to_string(), vec!["hazard".into()], notes);
        }
        for lane in Lane::ALL {
            // (begin, end, name, the line's state at the begin)
            let mut windows: Vec<(u64, u64, String, String)> = Vec::new();
            let mut open: Option<(u64, String, String)> = None;
            for s in steps {
                let label = lane.label(&s.after);
                if open.as_ref().map(|o| &o.1) == label.as_ref() {
                    continue;
                }
                if let Some((b, l, st)) = open.take() {
                    windows.push((b, s.seq, l, st));
                }
                open = label.map(|l| (s.seq, l, describe_state(&s.after)));
            }
            if let Some((b, l, st)) = open {
                windows.push((b, end, l, st));
            }
            if windows.is_empty() {
                continue;
            }
            let track = tracks.add(lane.name().to_string(), Some(line_track), Some(sibling), None);
            sibling += 1;
            for (b, e, l, st) in windows {
                events.slice(track, b, e, l, vec!["state".into()], vec![text("state", st), text("line", format!("{pa:#x}"))]);
            }
        }
    }

    // The actors: every vCPU asked for or seen, then the devices.
    let mut actors: BTreeMap<Actor, u64> = BTreeMap::new();
    let mut seen: BTreeSet<Actor> = x.vcpus.iter().map(|&v| Actor::Vcpu(v)).collect();
    seen.extend(instants.iter().map(Instant::actor));
    for a in seen {
        let name = match a {
            Actor::Vcpu(NO_VCPU) => "no vCPU".to_string(),
            Actor::Vcpu(v) => format!("vCPU {v}"),
            Actor::Device(d) => format!("device {}", (x.device_name)(d)),
        };
        actors.insert(a, tracks.add(name, None, None, None));
    }

    for &i in &order {
        let inst = &instants[i];
        let track = actors[&inst.actor()];
        let (name, cat, mut notes) = match &inst.what {
            What::Event(ev) => {
                let sym = ev.pc().and_then(x.symbol);
                let at = match (&sym, ev.pc()) {
                    (Some(s), _) => format!(" at {s}"),
                    (None, Some(pc)) => format!(" at {pc:#x}"),
                    (None, None) => String::new(),
                };
                let mut notes = vec![text("event", describe_event(ev, x.device_name))];
                if let Some(pc) = ev.pc() {
                    notes.push(text("pc", format!("{pc:#x}")));
                }
                if let Some(s) = sym {
                    notes.push(text("symbol", s));
                }
                (event_name(ev, &at), category(ev), notes)
            }
            What::Side(side) => {
                let name = match &side.symbol {
                    Some(s) if !side.is_device() => format!("{} at {s}", side.describe()),
                    _ if !side.is_device() => format!("{} at {:#x}", side.describe(), side.pc),
                    _ => side.describe(),
                };
                (name, "hazard side", vec![text("event", who(side, x.symbol))])
            }
        };
        notes.push(number("seq", inst.seq));
        for (pa, after) in &inst.after {
            notes.push(text(&format!("line {pa:#x} after"), describe_state(after)));
        }
        // One annotation per role, listing the hazards ("cause of": "hazard 1 (dirty-bypass), hazard 2 ...").
        for role in ["cause of", "observer of"] {
            let of: Vec<&str> = inst.roles.iter().filter(|(r, _)| *r == role).map(|(_, h)| h.as_str()).collect();
            if !of.is_empty() {
                notes.push(text(role, of.join(", ")));
            }
        }
        events.push(
            inst.seq,
            TrackEvent {
                r#type: Some(Type::Instant as i32),
                track_uuid: Some(track),
                name: Some(name),
                categories: vec![cat.to_string()],
                debug_annotations: notes,
                flow_ids: inst.flow_ids.clone(),
                terminating_flow_ids: inst.terminating_flow_ids.clone(),
            },
        );
    }

    let mut packet = Vec::with_capacity(tracks.descriptors.len() + events.list.len());
    for d in tracks.descriptors {
        packet.push(TracePacket { trusted_packet_sequence_id: Some(SEQUENCE), track_descriptor: Some(d), ..Default::default() });
    }
    events.list.sort_by_key(|(ts, n, _)| (*ts, *n));
    for (ts, _, e) in events.list {
        packet.push(TracePacket { timestamp: Some(ts), trusted_packet_sequence_id: Some(SEQUENCE), track_event: Some(e), ..Default::default() });
    }
    if let Some(p) = packet.first_mut() {
        p.sequence_flags = Some(proto::SEQ_INCREMENTAL_STATE_CLEARED);
    }
    proto::Trace { packet }
}

#[cfg(test)]
mod tests {
    use super::proto::{Trace, TracePacket, TrackEvent, Type};
    use super::*;
    use crate::event::{Access, CacheOp, Maintenance};
    use crate::explain::line_history;
    use crate::memtype::MemType;
    use crate::model::{DmaPolicy, Mode, ModelConfig};
    use crate::report::HazardClass;
    use crate::trace::{Geometry, Header, Record, TraceFile, TraceWriter};

    const L: u64 = 0x4020_0000;

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

    fn acc(pc: u64, kind: AccessKind, mem: MemType) -> Event {
        Event::Access(Access { vcpu: 0, pc, va: L, pa: L, size: 8, kind, mem, mmio: false })
    }

    /// The hazards of `events` (precise mode) and the export of their lines, decoded again.
    fn export(events: &[Event]) -> (Vec<Hazard>, Trace) {
        let t = trace(events);
        let cfg = ModelConfig { mode: Mode::Precise, ..Default::default() };
        let hazards = crate::analysis::analyze(&t, cfg, |_| {}).log.hazards().to_vec();
        let (all, _, _) = line_history(&t, cfg, &DmaPolicy::default(), &[L], u64::MAX);
        let bytes = render(&Export {
            hazards: &hazards,
            lines: &[(L, &all[0])],
            vcpus: &[0, 1],
            device_name: &|id| format!("device#{id}"),
            symbol: &|pc| (pc == 0x30).then(|| "el1_write".to_string()),
        });
        (hazards, Trace::decode(bytes.as_slice()).unwrap())
    }

    fn tracks(t: &Trace) -> Vec<(u64, String, Option<u64>)> {
        t.packet
            .iter()
            .filter_map(|p| p.track_descriptor.as_ref())
            .map(|d| (d.uuid.unwrap(), d.name.clone().unwrap(), d.parent_uuid))
            .collect()
    }

    fn uuid(t: &Trace, name: &str) -> u64 {
        tracks(t).into_iter().find(|(_, n, _)| n == name).unwrap_or_else(|| panic!("no track {name}: {:?}", tracks(t))).0
    }

    fn events(t: &Trace) -> Vec<(u64, &TrackEvent)> {
        t.packet.iter().filter_map(|p| Some((p.timestamp?, p.track_event.as_ref()?))).collect()
    }

    /// Every slice begin matched by its end on the same track, in order: (track, name, begin, end).
    fn slices(t: &Trace) -> Vec<(u64, String, u64, u64)> {
        let mut open: HashMap<u64, Vec<(String, u64)>> = HashMap::new();
        let mut out = Vec::new();
        for (ts, e) in events(t) {
            let track = e.track_uuid.unwrap();
            match e.r#type {
                Some(1) => open.entry(track).or_default().push((e.name.clone().unwrap(), ts)),
                Some(2) => {
                    let (name, begin) = open.get_mut(&track).and_then(Vec::pop).expect("an end without a begin");
                    assert!(begin <= ts);
                    out.push((track, name, begin, ts));
                }
                _ => {}
            }
        }
        assert!(open.values().all(Vec::is_empty), "slices left open: {open:?}");
        out
    }

    fn note<'a>(e: &'a TrackEvent, name: &str) -> Option<&'a str> {
        e.debug_annotations.iter().find(|a| a.name.as_deref() == Some(name)).and_then(|a| a.string_value.as_deref())
    }

    #[test]
    fn the_wire_format_has_perfettos_field_numbers_and_types() {
        let p = TracePacket {
            timestamp: Some(1),
            trusted_packet_sequence_id: Some(1),
            track_event: Some(TrackEvent { r#type: Some(Type::Instant as i32), flow_ids: vec![7, 8], ..Default::default() }),
            ..Default::default()
        };
        let bytes = Trace { packet: vec![p] }.encode_to_vec();
        // Trace.packet = 1 (length-delimited); TracePacket.timestamp = 8, trusted_packet_sequence_id = 10
        // (varints); track_event = 11; TrackEvent.type = 9 (varint), flow_ids = 47 as unpacked fixed64s.
        let event = [0x48, 3, 0xf9, 0x02, 7, 0, 0, 0, 0, 0, 0, 0, 0xf9, 0x02, 8, 0, 0, 0, 0, 0, 0, 0];
        let mut packet = vec![0x40, 1, 0x50, 1, 0x5a, event.len() as u8];
        packet.extend(event);
        let mut want = vec![0x0a, packet.len() as u8];
        want.extend(packet);
        assert_eq!(bytes, want);
        let d = TrackDescriptor { uuid: Some(2), name: Some("x".into()), parent_uuid: Some(1), ..Default::default() }.encode_to_vec();
        assert_eq!(d, [0x08, 2, 0x12, 1, b'x', 0x28, 1]);
        let p = TracePacket { track_descriptor: Some(TrackDescriptor::default()), ..Default::default() }.encode_to_vec();
        assert_eq!(p, [0xe2, 0x03, 0], "track_descriptor = 60");
    }

    #[test]
    fn a_stale_read_exports_its_line_its_vcpus_its_stale_window_and_a_flow() {
        let (wb, nc) = (MemType::NORMAL_WB, MemType::NORMAL_NC);
        let (hazards, t) = export(&[
            acc(0x20, AccessKind::Load, wb),  // 0: allocates the PE copy (v0)
            acc(0x30, AccessKind::Store, nc), // 1: the cause: memory v1 under the copy
            acc(0x40, AccessKind::Load, wb),  // 2: the observer reads v0
            Event::Maintenance(Maintenance { vcpu: 0, pc: 0x50, op: CacheOp::DcIvac, operand: L, pa: Some(L), mem: wb, len: 64 }),
        ]);
        assert_eq!(hazards.len(), 1);
        assert_eq!(hazards[0].class, HazardClass::StaleRead);
        let (line, hazard, pe, cpu0) =
            (uuid(&t, "line 0x40200000 (stale-read)"), uuid(&t, "hazard 1: stale-read"), uuid(&t, "PE cache"), uuid(&t, "vCPU 0"));
        uuid(&t, "vCPU 1"); // asked for, though it did nothing
        let parents: HashMap<u64, Option<u64>> = tracks(&t).into_iter().map(|(u, _, p)| (u, p)).collect();
        assert_eq!((parents[&hazard], parents[&pe], parents[&cpu0]), (Some(line), Some(line), None));
        assert!(!tracks(&t).iter().any(|(_, n, _)| n == "I-cache"), "a lane with nothing to show is left out");
        let s = slices(&t);
        assert!(s.contains(&(hazard, "stale-read".into(), 0, 2)), "the window, allocation to observer: {s:?}");
        assert!(s.contains(&(pe, "stale v0 (newest v1)".into(), 1, 3)), "stale from the cause to the DC IVAC: {s:?}");
        let instants: Vec<(u64, &TrackEvent)> = events(&t).into_iter().filter(|(_, e)| e.r#type == Some(Type::Instant as i32)).collect();
        assert_eq!(instants.len(), 4);
        assert!(instants.iter().all(|(_, e)| e.track_uuid == Some(cpu0)));
        let (ts, cause) = instants.iter().find(|(_, e)| !e.flow_ids.is_empty()).unwrap();
        assert_eq!((*ts, &cause.flow_ids, cause.name.as_deref()), (1, &vec![1], Some("store Normal-NC at el1_write")));
        assert_eq!(note(cause, "cause of"), Some("hazard 1 (stale-read)"));
        assert_eq!(note(cause, "line 0x40200000 after"), Some("memory v1, PE cache v0 (clean), beyond PoU -, I-cache -; newest v1"));
        let (ts, observer) = instants.iter().find(|(_, e)| !e.terminating_flow_ids.is_empty()).unwrap();
        assert_eq!((*ts, &observer.terminating_flow_ids, observer.name.as_deref()), (2, &vec![1], Some("load Normal-WB at 0x40")));
        let (_, dc) = instants[3];
        assert_eq!((dc.name.as_deref(), dc.categories.as_slice()), (Some("DC IVAC at 0x50"), &["maintenance".to_string()][..]));
        assert_eq!(t.packet[0].sequence_flags, Some(proto::SEQ_INCREMENTAL_STATE_CLEARED));
        assert!(t.packet.iter().all(|p| p.trusted_packet_sequence_id == Some(SEQUENCE)));
        let ts: Vec<u64> = events(&t).iter().map(|(ts, _)| *ts).collect();
        assert!(ts.windows(2).all(|w| w[0] <= w[1]), "in time order");
    }

    #[test]
    fn a_flow_runs_forward_in_time_and_a_side_no_history_holds_still_gets_its_instant() {
        let (wb, nc) = (MemType::NORMAL_WB, MemType::NORMAL_NC);
        let t = trace(&[acc(0x20, AccessKind::Load, wb), acc(0x30, AccessKind::Store, nc), acc(0x40, AccessKind::Load, wb)]);
        let cfg = ModelConfig { mode: Mode::Precise, ..Default::default() };
        let mut h = crate::analysis::analyze(&t, cfg, |_| {}).log.hazards()[0].clone();
        // Sides swapped: the "cause" comes after the "observer".
        std::mem::swap(&mut h.cause, &mut h.observer);
        let (all, _, _) = line_history(&t, cfg, &DmaPolicy::default(), &[L], u64::MAX);
        let render_with = |lines: &[(u64, &[Step])]| {
            let bytes = render(&Export { hazards: &[h.clone()], lines, vcpus: &[], device_name: &|_| String::new(), symbol: &|_| None });
            Trace::decode(bytes.as_slice()).unwrap()
        };
        let flows = |t: &Trace| -> (Vec<u64>, Vec<u64>) {
            let e = events(t);
            let from = e.iter().filter(|(_, e)| e.flow_ids == [1]).map(|(ts, _)| *ts).collect();
            let to = e.iter().filter(|(_, e)| e.terminating_flow_ids == [1]).map(|(ts, _)| *ts).collect();
            (from, to)
        };
        assert_eq!(flows(&render_with(&[(L, &all[0])])), (vec![1], vec![2]), "from the earlier of the two");
        // No history: the two sides alone, as instants of their own, and the hazard's slice.
        let bare = render_with(&[]);
        assert_eq!(flows(&bare), (vec![1], vec![2]));
        let names: Vec<String> = events(&bare).iter().filter_map(|(_, e)| e.name.clone()).collect();
        assert_eq!(names, ["stale-read", "store of 8 bytes at 0x30", "load of 8 bytes at 0x40"], "{names:?}");
        assert_eq!(slices(&bare).len(), 1);
    }
}
