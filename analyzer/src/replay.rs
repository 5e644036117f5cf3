//! The one replay driver: a capture record (with the marker arguments that follow it) into the model. The
//! one-thread and sharded analyses (`analysis`) and the plugin's online mode all call `feed_record`, so
//! online and offline verdicts come from the same code by construction.

use crate::event::Event;
use crate::model::Model;
use crate::trace::codes::RecordKind;
use crate::trace::record::{Geometry, Record, access_of, record_to_event, walk_of};

/// What feeding one record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fed {
    /// A data access or a table walk went to the model (the hot cases: no `Event` is built for them).
    Access,
    /// Another event went to the model.
    Event(Event),
    /// Nothing: a marker argument (its marker took it), or a record that is no event.
    Nothing,
}

/// Feeds `r` (record number `seq` in global order, of `vcpu`) to `model`. `following` are the records
/// after it in its stream: a marker takes its argument records from there (they are always in the same
/// chunk); anything else ignores it.
#[inline(always)]
pub fn feed_record(model: &mut Model, geometry: Geometry, vcpu: u16, seq: u64, r: &Record, following: &[Record]) -> Fed {
    if r.kind == RecordKind::Access as u8 {
        let a = access_of(r, vcpu);
        if model.has_pending_type() || !model.skip_foreign(a.pa, a.size, a.mem, a.mmio) {
            model.access_at(seq, &a);
        }
        return Fed::Access;
    }
    if r.kind == RecordKind::Walk as u8 {
        // Walks come by the million on a pointer chase: no Event for them either.
        model.walk_at(seq, &walk_of(r, vcpu));
        return Fed::Access;
    }
    feed_other(model, geometry, vcpu, seq, r, following)
}

#[inline(never)]
fn feed_other(model: &mut Model, geometry: Geometry, vcpu: u16, seq: u64, r: &Record, following: &[Record]) -> Fed {
    if r.kind == RecordKind::MarkerArg as u8 {
        return Fed::Nothing;
    }
    match record_to_event(r, following, vcpu, geometry) {
        Some(ev) => {
            model.feed_at(seq, &ev);
            Fed::Event(ev)
        }
        None => Fed::Nothing,
    }
}
