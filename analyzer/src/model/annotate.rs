//! From a rule's finding to a reported hazard: suppressed ranges, R12's set/way reclassification, range
//! names, the test case, and both sides rebuilt from their writer records.

use super::Model;
use super::line::{self, WriterRef};
use crate::memtype::MemType;
use crate::report::{Hazard, HazardClass, Side, SideAction};

/// The missing maintenance in the words of page-table code when a side is the table walker: the rules
/// judge a walk as any other observer, but "the reader" of a table is the MMU, and software must do its
/// maintenance for it.
fn walk_missing(class: HazardClass, observer: &WriterRef, cause: &WriterRef) -> Option<&'static str> {
    let walk = |w: &WriterRef| match line::action_from_code(w.action) {
        SideAction::Walk { update, .. } => Some(update),
        _ => None,
    };
    Some(match (class, walk(observer), walk(cause)) {
        (HazardClass::StaleRead, Some(false), _) => {
            "DC IVAC (to PoC) of the table after writing it with the MMU off or non-cacheably, before the \
             cacheable walk (a cached copy from before the write can shadow it; Linux head.S invalidates its \
             tables so)"
        }
        (HazardClass::DirtyBypass, Some(false), _) => {
            "DC CVAC (to PoC) of the table after writing it through a cacheable mapping, before the \
             non-cacheable walk (TCR_ELx IRGN/ORGN = 0, SCTLR_ELx.C = 0 or a non-cacheable stage 2 reads \
             memory, not the cache)"
        }
        (HazardClass::DirtyBypass, _, Some(true)) => {
            "DC CIVAC (to PoC) of the descriptor before reading it non-cacheably: the hardware access-flag / \
             dirty-state update wrote it with the walk's cacheable type"
        }
        (HazardClass::StaleRead, _, Some(true)) => {
            "DC IVAC (to PoC) of the descriptor by the reader after the hardware update and before the read"
        }
        (HazardClass::LostWrite, _, Some(true)) | (HazardClass::LostWrite, Some(true), _) => {
            "DC CIVAC (to PoC) of the descriptor between the software write and the hardware update: one \
             of them is non-cacheable, and the dirty line overwrites the other's data"
        }
        _ => return None,
    })
}

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
        let missing = walk_missing(class, observer, cause).unwrap_or(missing);
        let (class, mut missing) =
            self.r12_set_way_verdict(class, observer, cause, missing).unwrap_or_else(|| (class, missing.to_string()));
        if let Some(t) = self.judging_pending {
            missing = format!(
                "an ISB (or an exception entry or return){} between the write of {} at pc {:#x} and this access: \
                 until then it may still use the memory type the registers had before the write ({}), and under \
                 that type this access needs {missing}",
                if t.tlbi { " and TLB invalidation of the mapping" } else { "" },
                t.reg.name(),
                t.write_pc,
                t.mem,
            );
        }
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
