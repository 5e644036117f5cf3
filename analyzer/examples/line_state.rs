//! The model's memory per tracked line: feeds N stores (and loads) to N distinct lines and reports the
//! resident-set growth per line, for dense lines (every line of each page) and sparse ones (one line per
//! page, the page table's worst case). BENCHMARKS.md quotes it.
//!
//!     cargo run --release --example line_state -- [LINES]     (default 4 M)

use cohtrace_analyzer::prelude::*;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn measure(lines: u64, stride: u64) -> f64 {
    let mut model = Model::new(ModelConfig::default());
    model.feed(&Event::Regime { vcpu: 0, regime: Regime { el: 1, ..Default::default() } });
    let before = rss_bytes();
    for i in 0..lines {
        let pa = 0x4000_0000 + i * stride;
        for (pc, kind, mem) in [(0x100, AccessKind::Store, MemType::NORMAL_WB), (0x104, AccessKind::Load, MemType::NORMAL_WB)] {
            model.feed(&Event::Access(Access { vcpu: 0, pc, va: pa, pa, size: 8, kind, mem, mmio: false }));
        }
    }
    let grown = rss_bytes().saturating_sub(before);
    std::hint::black_box(&model);
    grown as f64 / lines as f64
}

fn main() {
    let lines: u64 = std::env::args().nth(1).and_then(|v| v.parse().ok()).unwrap_or(4 << 20);
    println!("dense  ({lines} lines, 64 per page): {:.1} bytes per line", measure(lines, 64));
    println!("sparse ({lines} lines, 1 per page):  {:.1} bytes per line", measure(lines, 4096));
}
