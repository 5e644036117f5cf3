//! JSON report: a list of hazards (the schema in docs/report-format.md).

use super::{Hazard, Side, SideAction};
use serde_json::{Value, json};

fn hex(v: u64) -> String {
    format!("{v:#x}")
}

fn side(s: &Side) -> Value {
    if let SideAction::Dma { write, len, device, path } = s.action {
        // The same keys as a PE's side (no vCPU, regime or PC: null), and a `dma` object (only here, so
        // reports without devices keep their bytes).
        return json!({
            "vcpu": Value::Null,
            "el": Value::Null,
            "regime": Value::Null,
            "vmid": Value::Null,
            "asid": Value::Null,
            "pc": Value::Null,
            "va": Value::Null,
            "mem_type": s.mem.to_string(),
            "kind": s.action.kind(),
            "access": s.describe(),
            "walk": Value::Null,
            "dma": {
                "device": s.device,
                "device_id": device,
                "write": write,
                "len": len,
                "pa": hex(s.va),
                "path": path.name(),
                "coherent": s.mem.inner_cacheable(),
            },
            "symbol": Value::Null,
        });
    }
    let mut v = json!({
        "vcpu": s.vcpu,
        "el": s.regime.el,
        "regime": s.regime_text(),
        "vmid": s.regime.vmid,
        "asid": s.regime.asid,
        "pc": hex(s.pc),
        "va": hex(s.va),
        "mem_type": s.mem.to_string(),
        "kind": s.action.kind(),
        "access": s.describe(),
        "walk": match s.action {
            SideAction::Walk { stage, level, update, cause } =>
                json!({ "stage": stage, "level": level, "update": update, "cause": cause.name() }),
            _ => Value::Null,
        },
        "symbol": s.symbol,
    });
    // Only when known, so reports without DWARF lines keep their bytes.
    if let Some(src) = &s.source {
        v["source"] = json!({ "file": src.file, "line": src.line });
    }
    v
}

pub fn hazard(h: &Hazard) -> Value {
    json!({
        "class": h.class.name(),
        "line_pa": hex(h.line_pa),
        "range": h.range_name,
        "test_case": h.test_case,
        "observer": side(&h.observer),
        "cause": side(&h.cause),
        "missing": h.missing,
        "count": h.count,
    })
}

pub fn render(hazards: &[Hazard]) -> String {
    let list: Vec<Value> = hazards.iter().map(hazard).collect();
    let mut s = serde_json::to_string_pretty(&Value::Array(list)).unwrap_or_else(|_| "[]".into());
    s.push('\n');
    s
}
