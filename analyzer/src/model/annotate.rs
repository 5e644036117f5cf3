//! From a rule's finding to a reported hazard: suppressed ranges, R12's set/way reclassification, range
//! names, the test case, and both sides rebuilt from their writer records.

use super::Model;
use super::line::{self, WriterRef};
use crate::memtype::MemType;
use crate::report::{Hazard, HazardClass, Side};

impl Model {
    fn side(&self, w: &WriterRef) -> Side {
        Side {
            vcpu: w.vcpu,
            regime: self.book.regime(w.regime),
            pc: w.pc,
            va: w.va,
            mem: MemType::from_bits(w.mem),
            action: line::action_from_code(w.action),
            seq: w.seq,
            symbol: None,
        }
    }

    fn overlaps_line(&self, line_pa: u64, start: u64, end: u64) -> bool {
        line_pa < end && line_pa.saturating_add(self.cfg.line_size as u64) > start
    }

    fn suppressed(&self, line_pa: u64) -> bool {
        self.suppressed.iter().any(|&(s, e)| self.overlaps_line(line_pa, s, e))
    }

    fn range_name(&self, line_pa: u64) -> Option<String> {
        self.names.iter().find(|(s, e, _)| self.overlaps_line(line_pa, *s, *e)).map(|(_, _, n)| n.clone())
    }

    /// Records what a rule found on `line_pa`, unless the line is suppressed.
    pub(super) fn hazard(&mut self, class: HazardClass, line_pa: u64, observer: &WriterRef, cause: &WriterRef, missing: &str) {
        if self.suppressed(line_pa) {
            return;
        }
        let (class, missing) =
            self.r12_set_way_verdict(class, observer, cause, missing).unwrap_or_else(|| (class, missing.to_string()));
        let h = Hazard {
            class,
            line_pa,
            observer: self.side(observer),
            cause: self.side(cause),
            missing,
            count: 1,
            range_name: self.range_name(line_pa),
            test_case: self.test_case,
            found_at: self.seq,
        };
        self.log.record(h);
    }
}
