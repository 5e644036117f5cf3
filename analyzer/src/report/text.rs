//! Sanitizer-style text report.

use super::{Hazard, Side, SideAction};
use std::fmt::Write;

fn side_line(label: &str, s: &Side) -> String {
    if let SideAction::Dma { path, .. } = s.action {
        // A device has no PC, vCPU or regime: its path into memory and the bus address instead.
        return format!(
            "  {label:<9} {} ({} path)\n            device, bus address {:#x}, {}\n",
            s.describe(),
            path.name(),
            s.va,
            dma_view(s)
        );
    }
    let sym = s.symbol_and_source().map(|n| format!(" ({n})")).unwrap_or_default();
    format!(
        "  {label:<9} {} at pc {:#x}{sym}\n            vCPU {}, {}, va {:#x}, memory type {}\n",
        s.describe(),
        s.pc,
        s.vcpu,
        s.regime_text(),
        s.va,
        s.mem
    )
}

/// How the model judged a device: as a Write-Back observer (it snoops) or at PoC like a Non-cacheable one.
pub fn dma_view(s: &Side) -> String {
    if s.mem.inner_cacheable() {
        format!("coherent (snoops the PE caches: judged as memory type {})", s.mem)
    } else {
        format!("non-coherent (at PoC, no snoop: judged as memory type {})", s.mem)
    }
}

pub fn render_one(h: &Hazard) -> String {
    let mut out = String::new();
    let times = if h.count == 1 { "once".to_string() } else { format!("{} times", h.count) };
    let name = h.range_name.as_deref().map(|n| format!(" in \"{n}\"")).unwrap_or_default();
    let _ = writeln!(out, "==cohtrace== {}: {} ({times})", h.class, h.class.summary());
    let case = h.test_case.map(|c| format!(", test case {c}")).unwrap_or_default();
    let _ = writeln!(out, "  line      {:#x}{name}{case}", h.line_pa);
    out.push_str(&side_line("observer", &h.observer));
    out.push_str(&side_line("cause", &h.cause));
    let _ = writeln!(out, "  missing   {}", h.missing);
    out
}

pub fn render(hazards: &[Hazard]) -> String {
    let mut out = String::new();
    for h in hazards {
        out.push_str(&render_one(h));
        out.push('\n');
    }
    let total: u64 = hazards.iter().map(|h| h.count).sum();
    let _ = writeln!(
        out,
        "==cohtrace== {} hazard{} ({} occurrence{})",
        hazards.len(),
        if hazards.len() == 1 { "" } else { "s" },
        total,
        if total == 1 { "" } else { "s" }
    );
    out
}
