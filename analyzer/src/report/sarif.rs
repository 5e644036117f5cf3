//! SARIF 2.1.0 (the OASIS standard, validated by the tests against its schema in docs/schemas/), for CI
//! viewers and code scanning. One rule per hazard class, its help taken from docs/model.md; one result per
//! hazard, the observer as the primary location and the cause as a related location. A location is the
//! guest PC (with its symbol when known) and, when the ELF has DWARF line information, the source file and
//! line: relative to `%SRCROOT%` when the file is under the source root, else an absolute `file:` URI.

use super::{Hazard, HazardClass, Side};
use serde_json::{Map, Value, json};
use std::path::{Component, Path, PathBuf};

/// The `uriBaseId` of source files under the source root (the name GitHub code scanning documents).
pub const SRCROOT: &str = "%SRCROOT%";

/// The schema a document names: the OASIS SARIF 2.1.0 schema (Errata 01), the one docs/schemas/ keeps.
const SCHEMA_URI: &str = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

/// Bytes a URI path keeps as they are: RFC 3986 `unreserved`, `sub-delims`, `@` and `/`. A `:` is
/// escaped too: in a relative reference's first segment it would read as a scheme.
fn keeps(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=@/".contains(&b)
}

/// `path` as a URI path, percent-encoded (UTF-8 bytes of other characters too).
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        if keeps(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `p` with `.` and `..` components resolved lexically (a line table's paths may hold them).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// A path's components joined with `/` (the URI separator).
fn slashed(p: &Path) -> String {
    p.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/")
}

/// A directory as an absolute `file:` URI ending in `/`.
fn dir_uri(dir: &Path) -> String {
    let mut s = format!("file://{}", encode_path(&normalize(dir).to_string_lossy()));
    if !s.ends_with('/') {
        s.push('/');
    }
    s
}

/// The artifactLocation of a source file: relative to `%SRCROOT%` under `root`, else absolute.
fn artifact_location(file: &str, root: Option<&Path>) -> Value {
    let p = normalize(Path::new(file));
    match root.map(normalize) {
        Some(r) if p.is_absolute() && p.starts_with(&r) => {
            json!({ "uri": encode_path(&slashed(p.strip_prefix(&r).unwrap_or(&p))), "uriBaseId": SRCROOT })
        }
        Some(_) if p.is_relative() => json!({ "uri": encode_path(&slashed(&p)), "uriBaseId": SRCROOT }),
        _ if p.is_absolute() => json!({ "uri": format!("file://{}", encode_path(&p.to_string_lossy())) }),
        _ => json!({ "uri": encode_path(&slashed(&p)) }),
    }
}

/// Escapes text for a SARIF message that holds embedded links (`[text](id)`).
fn esc(s: &str) -> String {
    s.replace('[', "\\[").replace(']', "\\]")
}

/// A side in words: what it did, where (PC, symbol, source line), with which type.
fn side_text(s: &Side) -> String {
    if s.is_device() {
        return format!("{} at bus address {:#x} ({})", s.describe(), s.va, super::text::dma_view(s));
    }
    let named = s.symbol_and_source().map(|n| format!(" ({n})")).unwrap_or_default();
    format!("{} at pc {:#x}{named}, {}, {}", s.describe(), s.pc, s.regime_text(), s.mem)
}

fn location(s: &Side, id: u32, what: &str, root: Option<&Path>) -> Value {
    let message = json!({ "text": format!("{what}: {}", side_text(s)) });
    if s.is_device() {
        // No instruction to point at: a logical location named after the device.
        let name = s.device.clone().unwrap_or_else(|| "device".to_string());
        return json!({
            "id": id,
            "message": message,
            "logicalLocations": [ { "name": name, "kind": "device" } ]
        });
    }
    let name = s.symbol.clone().unwrap_or_else(|| format!("{:#x}", s.pc));
    let mut physical = Map::new();
    if let Some(src) = &s.source {
        physical.insert("artifactLocation".into(), artifact_location(&src.file, root));
        physical.insert("region".into(), json!({ "startLine": src.line }));
    }
    physical.insert("address".into(), json!({ "absoluteAddress": s.pc, "kind": "instruction", "name": name }));
    json!({
        "id": id,
        "message": message,
        "physicalLocation": physical,
        "logicalLocations": [ { "name": name, "kind": "function" } ]
    })
}

fn rule(c: HazardClass) -> Value {
    json!({
        "id": c.name(),
        "name": c.pascal_name(),
        "shortDescription": { "text": c.summary() },
        "fullDescription": { "text": c.description() },
        "help": {
            "text": format!("{} (docs/model.md, \"Hazard classes\", {})", c.help_text(), c.name()),
            "markdown": format!("{}\n\n(docs/model.md, \"Hazard classes\", `{}`)", c.help(), c.name()),
        },
        "defaultConfiguration": { "level": "error" },
        "properties": { "tags": ["correctness", "cache-coherency"], "precision": "high", "problem.severity": "error" }
    })
}

fn result(h: &Hazard, root: Option<&Path>) -> Value {
    let times = if h.count == 1 { "once".to_string() } else { format!("{} times", h.count) };
    let range = h.range_name.as_deref().map(|n| format!(" in \"{n}\"")).unwrap_or_default();
    let text = format!(
        "{} on line {:#x}{} ({times}): the observer, {}; the [cause]({}), {}. Missing: {}",
        h.class.summary(),
        h.line_pa,
        esc(&range),
        esc(&side_text(&h.observer)),
        1,
        esc(&side_text(&h.cause)),
        esc(&h.missing)
    );
    let mut props = Map::new();
    props.insert("line_pa".into(), json!(format!("{:#x}", h.line_pa)));
    if let Some(r) = &h.range_name {
        props.insert("range".into(), json!(r));
    }
    if let Some(t) = h.test_case {
        props.insert("test_case".into(), json!(t));
    }
    json!({
        "ruleId": h.class.name(),
        "ruleIndex": HazardClass::ALL.iter().position(|c| *c == h.class).unwrap_or(0),
        "level": "error",
        "message": { "text": text },
        "locations": [ location(&h.observer, 0, "observer", root) ],
        "relatedLocations": [ location(&h.cause, 1, "cause", root) ],
        "occurrenceCount": h.count,
        "properties": props
    })
}

/// The SARIF log of `hazards`, source files as absolute `file:` URIs.
pub fn render(hazards: &[Hazard]) -> String {
    render_with_root(hazards, None)
}

/// The SARIF log of `hazards`; with `source_root` (an absolute directory, e.g. the checkout a CI job
/// analyzes in), source files under it are URIs relative to `%SRCROOT%`, which the run's
/// `originalUriBaseIds` resolves to that directory.
pub fn render_with_root(hazards: &[Hazard], source_root: Option<&Path>) -> String {
    let mut run = Map::new();
    run.insert(
        "tool".into(),
        json!({ "driver": {
            "name": "cohtrace",
            "version": env!("CARGO_PKG_VERSION"),
            "semanticVersion": env!("CARGO_PKG_VERSION"),
            "rules": HazardClass::ALL.iter().map(|c| rule(*c)).collect::<Vec<_>>()
        } }),
    );
    if let Some(root) = source_root {
        run.insert(
            "originalUriBaseIds".into(),
            json!({ SRCROOT: { "uri": dir_uri(root), "description": { "text": "The source root: source files of the guest are named relative to it." } } }),
        );
    }
    run.insert("results".into(), Value::Array(hazards.iter().map(|h| result(h, source_root)).collect()));
    let doc = json!({ "$schema": SCHEMA_URI, "version": "2.1.0", "runs": [ run ] });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_files_are_uris_relative_to_the_root_or_absolute() {
        let root = Path::new("/src/proj");
        let rel = artifact_location("/src/proj/guests/./scenarios/../scenarios/a b:c.S", Some(root));
        assert_eq!(rel, json!({ "uri": "guests/scenarios/a%20b%3Ac.S", "uriBaseId": SRCROOT }));
        assert_eq!(artifact_location("/elsewhere/x.S", Some(root)), json!({ "uri": "file:///elsewhere/x.S" }));
        assert_eq!(artifact_location("/src/project/x.S", Some(root)), json!({ "uri": "file:///src/project/x.S" }), "a prefix of a name is not a directory");
        assert_eq!(artifact_location("/src/proj/é.S", None), json!({ "uri": "file:///src/proj/%C3%A9.S" }));
        assert_eq!(artifact_location("rel/x.S", None), json!({ "uri": "rel/x.S" }));
        assert_eq!(dir_uri(Path::new("/src/proj")), "file:///src/proj/");
        assert_eq!(dir_uri(Path::new("/")), "file:///");
    }
}
