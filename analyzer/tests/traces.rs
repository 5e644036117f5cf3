//! Recorded traces (traces/*.ctrace, made by scripts/record-traces) replayed without QEMU: the report must
//! equal the committed expectation in each model mode. Guards the reader, the model and the JSON schema
//! against unintended change.

mod support;

use cohtrace_analyzer::analysis::analyze;
use cohtrace_analyzer::model::{Mode, ModelConfig};
use cohtrace_analyzer::report;
use cohtrace_analyzer::trace::TraceFile;

#[test]
fn recorded_traces_give_their_expected_reports() {
    let dir = support::repo().join("traces");
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries.iter().filter(|p| p.extension().is_some_and(|e| e == "ctrace")) {
        let t = TraceFile::open(path).unwrap();
        assert!(t.damage.is_none() && t.end.is_some(), "{} is not a complete trace", path.display());
        for mode in [Mode::Speculative, Mode::Precise] {
            let expected_path = path.with_extension(format!("{}.json", mode.name()));
            let expected = std::fs::read_to_string(&expected_path)
                .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
            let a = analyze(&t, ModelConfig { mode, ..Default::default() }, |_| {});
            let got = report::json::render(a.log.hazards());
            assert_eq!(got, expected, "{} [{}]", path.display(), mode.name());
            checked += 1;
        }
    }
    assert!(checked >= 16, "only {checked} trace/mode pairs");
}
