//! From a rule's finding to a reported hazard: suppressed ranges, R12's set/way reclassification, range
//! names, the test case, the missing maintenance in the words of page tables or DMA, and both sides
//! rebuilt from their writer records.

use super::Model;
use super::line::WriterRef;
use crate::memtype::MemType;
use crate::report::{Hazard, HazardClass, Side, SideAction};

/// The missing maintenance in the words of page-table code when a side is the table walker: the rules
/// judge a walk as any other observer, but "the reader" of a table is the MMU, and software must do its
/// maintenance for it.
fn walk_missing(class: HazardClass, observer: &WriterRef, cause: &WriterRef) -> Option<&'static str> {
    let walk = |w: &WriterRef| match w.action() {
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

/// The missing maintenance in the words of a DMA API when a side is a device (docs/model.md, "Device
/// DMA"): the rules judge a transfer as any other access, but a device does no maintenance, so the CPU's
/// driver must do it for it (Linux: `dma_sync_*_for_device` cleans, `dma_sync_*_for_cpu` invalidates).
fn dma_missing(class: HazardClass, observer: &WriterRef, cause: &WriterRef) -> Option<&'static str> {
    // (write, coherent) of a device's side.
    let dma = |w: &WriterRef| match w.action() {
        SideAction::Dma { write, .. } => Some((write, MemType::from_bits(w.mem).inner_cacheable())),
        _ => None,
    };
    Some(match (class, dma(observer), dma(cause)) {
        (HazardClass::DirtyBypass, Some((false, false)), _) => {
            "clean the buffer to PoC (DC CVAC) before the device reads it (dma_sync_*_for_device): the \
             non-coherent device reads memory, not the cache"
        }
        (HazardClass::StaleRead, _, Some((true, false))) => {
            "invalidate (DC IVAC/CIVAC) after the device writes it, before the CPU reads (dma_sync_*_for_cpu): \
             the non-coherent device wrote memory, under the CPU's cached copy"
        }
        // R5: the cause's dirty data predates the device's write.
        (HazardClass::LostWrite, Some((true, false)), _) if cause.seq <= observer.seq => {
            "clean+invalidate (DC CIVAC) before handing the buffer to the device (dma_sync_*_for_device): the \
             dirty line's write-back would overwrite what the device writes"
        }
        // R3: a later cacheable write into the copy the device's write made stale.
        (HazardClass::LostWrite, Some((true, false)), _) => {
            "invalidate (DC IVAC/CIVAC) after the device writes the buffer, before the CPU writes into it \
             (dma_sync_*_for_cpu): the stale cached copy's write-back would overwrite the device's data"
        }
        (HazardClass::StaleRead, Some((false, true)), _) => {
            "DC CIVAC (to PoC) of the CPU's cached copy after writing the buffer non-cacheably, before the device \
             reads it: the coherent device snoops the PE caches and can hit the stale copy"
        }
        (HazardClass::DirtyBypass, _, Some((true, true))) => {
            "read the coherent device's buffer through a cacheable mapping, or DC CIVAC (to PoC) before the \
             non-cacheable read: its write is coherent with the cacheable view only"
        }
        (HazardClass::LostWrite, _, Some((true, true))) if !matches!(observer.action(), SideAction::Maintenance(_)) => {
            "DC CIVAC (to PoC) after the coherent device's write, before writing the buffer non-cacheably: \
             the device's write is in the cacheable view and its write-back overwrites this write"
        }
        _ => return None,
    })
}

impl Model {
    fn side(&self, w: &WriterRef) -> Side {
        let action = w.action();
        let device = match action {
            SideAction::Dma { device, .. } => Some(self.book.devices.name(device)),
            _ => None,
        };
        Side {
            vcpu: w.vcpu,
            regime: self.book.regime(w.regime),
            pc: if device.is_some() { 0 } else { w.pc },
            va: w.va,
            mem: MemType::from_bits(w.mem),
            action,
            seq: w.seq,
            symbol: None,
            source: None,
            device,
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
        let missing = walk_missing(class, observer, cause).or_else(|| dma_missing(class, observer, cause)).unwrap_or(missing);
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
            found_tie: self.found_tie,
        };
        self.log.record(h);
    }
}
