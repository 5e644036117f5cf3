//! Recorded traces (traces/*.ctrace, made by scripts/record-traces) replayed without QEMU: the report must
//! equal the committed expectation in each model mode (and, for a trace with device DMA, also with its
//! devices judged non-coherent: `NAME.dma-noncoherent.MODE.json`). Guards the reader, the model and the
//! JSON schema against unintended change.

mod support;

use cohtrace_analyzer::analysis::analyze_with_policy;
use cohtrace_analyzer::model::{DmaPolicy, Mode, ModelConfig};
use cohtrace_analyzer::report;
use cohtrace_analyzer::trace::TraceFile;

#[test]
fn recorded_traces_give_their_expected_reports() {
    let (mut checked, mut dma_checked) = (0, 0);
    for path in &support::recorded_traces() {
        let t = TraceFile::open(path).unwrap();
        assert!(t.damage.is_none() && t.end.is_some(), "{} is not a complete trace", path.display());
        let judgements: &[(&str, bool)] = if t.has_device_stream() || has_dma(&t) {
            &[("", false), ("dma-noncoherent.", true)]
        } else {
            &[("", false)]
        };
        for &(prefix, noncoherent) in judgements {
            for mode in [Mode::Speculative, Mode::Precise] {
                let expected_path = path.with_extension(format!("{prefix}{}.json", mode.name()));
                let expected = std::fs::read_to_string(&expected_path)
                    .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
                let policy = DmaPolicy { noncoherent_all: noncoherent, noncoherent: Vec::new() };
                let a = analyze_with_policy(&t, ModelConfig { mode, ..Default::default() }, &policy, 1, |_| {});
                let got = report::json::render(a.log.hazards());
                assert_eq!(got, expected, "{} [{prefix}{}]", path.display(), mode.name());
                checked += 1;
                dma_checked += noncoherent as usize;
            }
        }
    }
    assert!(checked >= 16, "only {checked} trace/mode pairs");
    assert!(dma_checked >= 4, "only {dma_checked} trace/mode pairs judged with non-coherent devices");
}

fn has_dma(t: &TraceFile) -> bool {
    t.events().any(|e| matches!(e, cohtrace_analyzer::event::Event::Dma(_)))
}
