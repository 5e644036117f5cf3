//! `cohtrace export --perfetto OUT TRACE`: the hazards' line histories (what `explain` prints) as a
//! Perfetto trace (`cohtrace_analyzer::report::perfetto`), for traces too long to read as text. The trace
//! is judged as `analyze` judges it (the shared `JudgeOpts`); symbols name the events.

use super::{JudgeOpts, judge_trace, load_symbols, model_config, open};
use anyhow::{Context, Result};
use cohtrace_analyzer::explain::line_history;
use cohtrace_analyzer::report::perfetto::{Export, render};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes the export of `trace` to `out`. Exit status 0 (also with no hazards: then the file has only the
/// vCPUs' tracks); an error (exit 2) leaves no file behind.
pub fn run(out: &Path, trace_path: &PathBuf, opts: &JudgeOpts) -> Result<u8> {
    let trace = open(trace_path)?;
    // Fail on an unwritable OUT before the replays, not after.
    let mut file = std::fs::File::create(out).with_context(|| format!("writing {}", out.display()))?;
    let written = export(&trace, trace_path, opts).and_then(|(bytes, summary)| {
        file.write_all(&bytes).and_then(|_| file.flush()).with_context(|| format!("writing {}", out.display()))?;
        Ok(summary)
    });
    match written {
        Ok(summary) => {
            println!("==cohtrace== wrote {}: {summary}; open it in ui.perfetto.dev", out.display());
            Ok(0)
        }
        Err(e) => {
            drop(file);
            let _ = std::fs::remove_file(out);
            Err(e)
        }
    }
}

fn export(trace: &cohtrace_analyzer::trace::TraceFile, path: &Path, opts: &JudgeOpts) -> Result<(Vec<u8>, String)> {
    let mut syms = load_symbols(opts, trace)?;
    let hazards = judge_trace(trace, path, opts, &mut syms)?;
    let (cfg, dma) = model_config(opts);
    let mut lines: Vec<u64> = hazards.iter().map(|h| h.line_pa).collect();
    lines.sort_unstable();
    lines.dedup();
    // One replay for every hazard line, to the end of the trace: the export shows what came after too.
    let (histories, model, _) = line_history(trace, cfg, &dma, &lines, u64::MAX);
    let devices = model.devices();
    let device_name = |id: u32| devices.iter().find(|d| d.id == id).map_or(format!("device#{id}"), |d| d.name.clone());
    let pcs: HashSet<u64> = histories.iter().flatten().filter_map(|s| s.event.pc()).collect();
    let names: HashMap<u64, Option<String>> = pcs.into_iter().map(|pc| (pc, syms.lookup(pc))).collect();
    let symbol = |pc: u64| names.get(&pc).cloned().flatten();
    let by_line: Vec<(u64, &[cohtrace_analyzer::explain::Step])> =
        lines.iter().copied().zip(histories.iter().map(Vec::as_slice)).collect();
    let events: usize = histories.iter().map(Vec::len).sum();
    let bytes = render(&Export {
        hazards: &hazards,
        lines: &by_line,
        vcpus: &trace.vcpus(),
        device_name: &device_name,
        symbol: &symbol,
    });
    let summary = if hazards.is_empty() {
        "no hazards, only the vCPUs' tracks".to_string()
    } else {
        format!("{} hazard(s) on {} line(s), {events} line event(s)", hazards.len(), lines.len())
    };
    Ok((bytes, summary))
}
