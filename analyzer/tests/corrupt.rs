//! traces/corrupt/: every hostile trace gives exactly its expected result (traces/README.md), through the
//! library and through the CLI: the located error (chunk index and byte offset, or the header message), the
//! number of events read before the damage, the exit status and the exact stderr of `cohtrace stats` and
//! `cohtrace analyze`, and no panic. The cases and NAME.expected are written by traces/corrupt/generate.py.

use cohtrace_analyzer::analysis::analyze;
use cohtrace_analyzer::model::ModelConfig;
use cohtrace_analyzer::trace::TraceFile;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("traces/corrupt")
}

/// NAME.expected: `key: value` lines (a key may repeat), `#` starts a comment line.
fn expected(name: &str) -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(dir().join(format!("{name}.expected"))).unwrap();
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (k, v) = line.split_once(": ").unwrap_or_else(|| panic!("{name}.expected: bad line {line:?}"));
        m.entry(k.to_string()).or_default().push(v.to_string());
    }
    m
}

fn one<'a>(e: &'a BTreeMap<String, Vec<String>>, name: &str, key: &str) -> &'a str {
    match e.get(key).map(|v| v.as_slice()) {
        Some([v]) => v,
        other => panic!("{name}.expected: {key}: {other:?}"),
    }
}

fn cases() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".expected").map(str::to_string))
        .collect();
    v.sort();
    v
}

#[test]
fn the_corpus_has_every_kind_of_damage() {
    let have = cases();
    for name in [
        "valid",
        "empty",
        "header-truncated-fixed",
        "header-truncated-meta",
        "bad-magic",
        "unsupported-version",
        "huge-meta-length",
        "header-checksum",
        "truncated-mid-chunk",
        "truncated-chunk-header",
        "huge-payload-length",
        "payload-length-past-eof",
        "chunk-checksum",
        "valid-chunks-after-bad-one",
        "garbage-after-end",
        "payload-does-not-decode",
        "unknown-chunk-kind",
        "malformed-walk-record",
        "malformed-dma-record",
    ] {
        assert!(have.iter().any(|h| h == name), "traces/corrupt/{name}.expected is missing");
        assert!(dir().join(format!("{name}.ctrace")).is_file(), "traces/corrupt/{name}.ctrace is missing");
    }
}

#[test]
fn the_library_locates_each_damage_and_reads_what_came_before() {
    let mut failures = Vec::new();
    for name in cases() {
        let e = expected(&name);
        let data = std::fs::read(dir().join(format!("{name}.ctrace"))).unwrap();
        let located = one(&e, &name, "located");
        let events = one(&e, &name, "events");
        match TraceFile::from_bytes(data) {
            Err(err) => {
                if located != format!("header: {err}") || events != "-" {
                    failures.push(format!("{name}: refused with {err:?}; expected {located}, events {events}"));
                }
            }
            Ok(t) => {
                let mut ev = t.events();
                let n = ev.by_ref().count();
                let damage = t.damage.clone().or_else(|| ev.error().cloned());
                let got = damage.as_ref().map_or("none".to_string(), |d| d.to_string());
                if got != located || n.to_string() != events {
                    failures.push(format!("{name}: read {n} events, damage {got}; expected {events}, {located}"));
                }
                // The analysis driver (the CLI's path) sees the same damage; the index keeps every chunk before it.
                let a = analyze(&t, ModelConfig::default(), |_| {});
                let got = a.damage.as_ref().map_or("none".to_string(), |d| d.to_string());
                if got != located {
                    failures.push(format!("{name}: analyze() reports damage {got}; expected {located}"));
                }
                if let Some(d) = &t.damage {
                    assert!(t.chunks.iter().all(|c| c.offset < d.offset), "{name}: a chunk indexed after the damage");
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_cli_prints_the_expected_error_and_exit_status() {
    let mut failures = Vec::new();
    for name in cases() {
        let e = expected(&name);
        for cmd in ["stats", "analyze"] {
            let out = Command::new(env!("CARGO_BIN_EXE_cohtrace"))
                .args([cmd, &format!("{name}.ctrace")])
                .current_dir(dir())
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(!stderr.contains("panicked"), "{name}: cohtrace {cmd} panicked:\n{stderr}");
            let want_status: i32 = one(&e, &name, cmd).parse().unwrap();
            let want_err = e.get(&format!("{cmd}-stderr")).cloned().unwrap_or_default();
            let got_err: Vec<String> = stderr.lines().map(str::to_string).collect();
            if out.status.code() != Some(want_status) || got_err != want_err {
                failures.push(format!(
                    "{name}: cohtrace {cmd}: exit {:?}, stderr {got_err:#?}\n  expected exit {want_status}, stderr {want_err:#?}",
                    out.status.code()
                ));
            }
            let events = one(&e, &name, "events");
            if cmd == "stats" && events != "-" {
                let line = stdout.lines().find(|l| l.starts_with("events ")).unwrap_or("");
                if line.split_whitespace().nth(1) != Some(events) {
                    failures.push(format!("{name}: cohtrace stats says {line:?}, expected {events} events"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}
