//! cohtrace's analyzer library: the event vocabulary, memory-type rules, the trace format, the shadow cache
//! model and hazard reports. The plugin links it for the trace writer and the online model; the `cohtrace`
//! CLI and fuzzing harnesses use it to replay traces.
//!
//! Embedding the model (no file I/O):
//! ```
//! use cohtrace_analyzer::prelude::*;
//!
//! let mut model = Model::new(ModelConfig::default());
//! let el1 = Regime { el: 1, kind: RegimeKind::El10, vmid: Some(1), asid: Some(0), secure: false };
//! let el2 = Regime { el: 2, kind: RegimeKind::El2, vmid: None, asid: None, secure: false };
//! let access = |pc, kind, mem| Event::Access(Access { vcpu: 0, pc, va: 0x4020_0000, pa: 0x4020_0000,
//!                                                      size: 8, kind, mem, mmio: false });
//! model.feed(&Event::Regime { vcpu: 0, regime: el2 });
//! model.feed(&access(0x100, AccessKind::Load, MemType::NORMAL_WB));   // host caches the line
//! model.feed(&Event::Regime { vcpu: 0, regime: el1 });
//! model.feed(&access(0x200, AccessKind::Store, MemType::NORMAL_NC));  // guest writes around the cache
//! model.feed(&Event::Regime { vcpu: 0, regime: el2 });
//! model.feed(&access(0x104, AccessKind::Load, MemType::NORMAL_WB));   // host reads its stale copy
//! let h = &model.hazards()[0];
//! assert_eq!(h.class, HazardClass::StaleRead);
//! assert_eq!((h.observer.pc, h.cause.pc), (0x104, 0x200));
//! model.clear_hazards();                                              // next test case
//! ```

pub mod analysis;
pub mod event;
pub mod explain;
#[doc(hidden)]
pub mod fuzzing;
pub mod memtype;
pub mod model;
pub mod regime;
pub mod replay;
pub mod report;
pub mod trace;
pub mod vmsa;

/// The names an embedding harness needs.
pub mod prelude {
    pub use crate::event::{Access, AccessKind, CacheOp, Event, Fetch, Maintenance, Regime, RegimeKind};
    pub use crate::memtype::MemType;
    pub use crate::model::{Mode, Model, ModelConfig, ResetState};
    pub use crate::report::{Hazard, HazardClass};
}
