//! SARIF 2.1.0, for CI viewers. Locations are guest PCs (with symbols when known): one result per hazard,
//! the observer as the primary location and the cause as a related location.

use super::{Hazard, HazardClass, Side};
use serde_json::{Value, json};

fn location(s: &Side, id: u32, what: &str) -> Value {
    if s.is_device() {
        // No instruction to point at: a logical location named after the device.
        let name = s.device.clone().unwrap_or_else(|| "device".to_string());
        return json!({
            "id": id,
            "message": { "text": format!("{what}: {} at bus address {:#x} ({})", s.describe(), s.va, super::text::dma_view(s)) },
            "logicalLocations": [ { "name": name, "kind": "device" } ]
        });
    }
    let name = s.symbol.clone().unwrap_or_else(|| format!("{:#x}", s.pc));
    json!({
        "id": id,
        "message": { "text": format!("{what}: {} at pc {:#x} ({}, {})", s.describe(), s.pc, s.regime_text(), s.mem) },
        "physicalLocation": { "address": { "absoluteAddress": s.pc, "kind": "instruction", "name": name } },
        "logicalLocations": [ { "name": name, "kind": "function" } ]
    })
}

pub fn render(hazards: &[Hazard]) -> String {
    let rules: Vec<Value> = HazardClass::ALL
        .iter()
        .map(|c| json!({ "id": c.name(), "shortDescription": { "text": c.summary() }, "helpUri": "docs/model.md" }))
        .collect();
    let results: Vec<Value> = hazards
        .iter()
        .map(|h| {
            json!({
                "ruleId": h.class.name(),
                "level": "error",
                "message": { "text": format!("{} on line {:#x} ({} times). Missing: {}", h.class.summary(), h.line_pa, h.count, h.missing) },
                "locations": [ location(&h.observer, 0, "observer") ],
                "relatedLocations": [ location(&h.cause, 1, "cause") ],
                "occurrenceCount": h.count,
                "properties": { "line_pa": format!("{:#x}", h.line_pa) }
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [ {
            "tool": { "driver": { "name": "cohtrace", "version": env!("CARGO_PKG_VERSION"), "rules": rules } },
            "results": results
        } ]
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}
