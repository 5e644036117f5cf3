//! Replaying a trace through the model: the one loop the CLI, tests and benchmarks share.

use crate::model::{Model, ModelConfig, ModelStats};
use crate::report::HazardLog;
use crate::trace::TraceFile;
use crate::trace::reader::Damage;

pub struct Analysis {
    pub log: HazardLog,
    pub stats: ModelStats,
    /// Where the trace broke, if it did: everything before was analysed.
    pub damage: Option<Damage>,
}

/// Replays every event of `trace`; `progress` is called now and then with the number of events done.
pub fn analyze(trace: &TraceFile, cfg: ModelConfig, mut progress: impl FnMut(u64)) -> Analysis {
    let mut model = Model::new(ModelConfig { line_size: trace.geometry().line_size, ..cfg });
    let mut events = trace.events();
    let mut n = 0u64;
    for ev in events.by_ref() {
        model.feed(&ev);
        n += 1;
        if n & 0xf_ffff == 0 {
            progress(n);
        }
    }
    progress(n);
    let damage = events.error().cloned().or_else(|| trace.damage.clone());
    let stats = model.stats();
    Analysis { log: model.into_log(), stats, damage }
}
