//! `cohtrace diff BASE NEW`: which hazards a change added, fixed or kept. Either input is a JSON report
//! (`analyze --format json`, the schema of docs/report-format.md) or a trace, judged here with the shared
//! options; both become JSON reports, so the two kinds compare alike.
//!
//! A hazard is matched by (class, observer, cause), each side named by its function (the symbol without
//! its offset: a rebuilt binary moves code but keeps names), else its device ("dma:NAME"), else its PC.
//! Occurrence counts and lines are not part of the match: the same bug on another buffer is the same bug.

use super::{JudgeOpts, judge};
use anyhow::{Context, Result, bail};
use cohtrace_analyzer::report;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How a report names one side of a hazard for matching.
pub fn side_key(side: &Value) -> String {
    if let Some(device) = side.get("dma").and_then(|d| d.get("device")).and_then(Value::as_str) {
        return format!("dma:{device}");
    }
    if let Some(sym) = side.get("symbol").and_then(Value::as_str) {
        return sym.split('+').next().unwrap_or(sym).to_string();
    }
    side.get("pc").and_then(Value::as_str).unwrap_or("?").to_string()
}

/// A hazard's match key: "class: observer <- cause".
pub fn hazard_key(h: &Value) -> String {
    format!("{}: {} <- {}", h["class"].as_str().unwrap_or("?"), side_key(&h["observer"]), side_key(&h["cause"]))
}

/// The hazards of a report file or a trace, as the JSON report has them.
fn hazards_of(path: &PathBuf, opts: &JudgeOpts) -> Result<Vec<Value>> {
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    let text = if is_json(&bytes) {
        String::from_utf8(bytes).with_context(|| format!("{}: not UTF-8", path.display()))?
    } else {
        report::json::render(&judge(path, opts)?)
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(list)) => Ok(list),
        Ok(_) => bail!("{}: a report is a JSON array of hazards", path.display()),
        Err(e) => bail!("{}: not a JSON report: {e}", path.display()),
    }
}

/// A JSON report starts with '[' (after white space); a trace with its magic bytes.
fn is_json(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[')
}

/// The three lists, each in key order: (new, fixed, unchanged).
pub fn compare(base: &[Value], new: &[Value]) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let index = |list: &[Value]| -> BTreeMap<String, Value> {
        let mut m = BTreeMap::new();
        for h in list {
            m.entry(hazard_key(h)).or_insert_with(|| h.clone());
        }
        m
    };
    let (b, n) = (index(base), index(new));
    let added = n.iter().filter(|(k, _)| !b.contains_key(*k)).map(|(_, h)| h.clone()).collect();
    let fixed = b.iter().filter(|(k, _)| !n.contains_key(*k)).map(|(_, h)| h.clone()).collect();
    let same = n.iter().filter(|(k, _)| b.contains_key(*k)).map(|(_, h)| h.clone()).collect();
    (added, fixed, same)
}

pub fn run(base: &PathBuf, new: &PathBuf, json_out: bool, opts: &JudgeOpts) -> Result<u8> {
    let (b, n) = (hazards_of(base, opts)?, hazards_of(new, opts)?);
    let (added, fixed, same) = compare(&b, &n);
    if json_out {
        let out = json!({
            "base": display(base),
            "new": display(new),
            "summary": { "new": added.len(), "fixed": fixed.len(), "unchanged": same.len() },
            "new_hazards": added,
            "fixed_hazards": fixed,
            "unchanged_hazards": same,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for (label, list) in [("new", &added), ("fixed", &fixed), ("unchanged", &same)] {
            for h in list.iter() {
                let line = h["line_pa"].as_str().unwrap_or("?");
                println!("{label:<10} {}  (line {line})", hazard_key(h));
            }
        }
        println!("==cohtrace== diff: {} new, {} fixed, {} unchanged", added.len(), fixed.len(), same.len());
    }
    Ok(if added.is_empty() { 0 } else { 1 })
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hazard(class: &str, obs: Value, cause: Value) -> Value {
        json!({ "class": class, "observer": obs, "cause": cause, "line_pa": "0x40000000" })
    }

    #[test]
    fn sides_match_by_function_then_device_then_pc() {
        assert_eq!(side_key(&json!({"symbol": "memcpy+0x40", "pc": "0x1000"})), "memcpy");
        assert_eq!(side_key(&json!({"symbol": null, "pc": "0x1000", "dma": {"device": "virtio-blk@a003e00"}})), "dma:virtio-blk@a003e00");
        assert_eq!(side_key(&json!({"symbol": null, "pc": "0x1000"})), "0x1000");
    }

    #[test]
    fn a_rebuilt_binary_still_matches_and_new_and_fixed_are_told_apart() {
        let old = [
            hazard("stale-read", json!({"symbol": "reader+0x10", "pc": "0x100"}), json!({"symbol": "writer+0x8", "pc": "0x200"})),
            hazard("lost-write", json!({"pc": "0x300"}), json!({"pc": "0x400"})),
        ];
        let new = [
            // The same bug after a rebuild: other PCs and offsets, same functions.
            hazard("stale-read", json!({"symbol": "reader+0x14", "pc": "0x104"}), json!({"symbol": "writer+0xc", "pc": "0x204"})),
            hazard("dirty-bypass", json!({"pc": "0x500"}), json!({"pc": "0x600"})),
        ];
        let (added, fixed, same) = compare(&old, &new);
        let keys = |l: &[Value]| l.iter().map(hazard_key).collect::<Vec<_>>();
        assert_eq!(keys(&added), ["dirty-bypass: 0x500 <- 0x600"]);
        assert_eq!(keys(&fixed), ["lost-write: 0x300 <- 0x400"]);
        assert_eq!(keys(&same), ["stale-read: reader <- writer"]);
    }

    #[test]
    fn a_report_is_told_from_a_trace_by_its_first_byte() {
        assert!(is_json(b"  \n[\n]"));
        assert!(!is_json(b"COHTRACE\x01"));
        assert!(!is_json(b""));
    }
}
