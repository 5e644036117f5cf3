//! One self-contained HTML page (no script, no network, printable): a summary table of the hazards, then
//! each hazard with both sides, the missing maintenance, an SVG timeline of its line's history and the
//! same history as a table.
//!
//! The timeline has one column per event that touched the line in the hazard's window
//! (`history::hazard_window`), in trace order. The top row marks the event (shape by kind, colour by memory
//! type; cause and observer ringed and joined by an arrow; maintenance a vertical rule labelled with the
//! op); the four lanes below hold the line's state after it: memory (the version at the PoC), the PE cache,
//! beyond the PoU and the I-cache, each copy with its version, clean or dirty, and stale when older than
//! the newest data. Runs of events that changed nothing are folded into one column.

use super::history::{Step, hazard_window};
use super::{Hazard, Side, SideAction};
use crate::event::{AccessKind, Event};
use crate::memtype::{Cacheability, MemType};
use std::fmt::Write;

/// What the page needs besides the hazards: names for PCs and devices, and what was judged how.
pub struct Context<'a> {
    /// The page's title: the trace.
    pub title: String,
    /// How the trace was judged, in words (model mode, DMA policy, ...).
    pub judged: String,
    /// `symbol(pc)`: the function, e.g. `memcpy+0x10`.
    pub symbol: &'a mut dyn FnMut(u64) -> Option<String>,
    /// `device(id)`: its name, and whether the analysis judged it coherent.
    pub device: &'a dyn Fn(u32) -> (String, bool),
}

/// Most columns a timeline shows; beyond it, the columns farthest from the cause and the observer fold.
const MAX_COLUMNS: usize = 48;
const COLUMN: f64 = 76.0;
const LABELS: f64 = 104.0;
const LANE: f64 = 32.0;
const LANES: [&str; 4] = ["memory (PoC)", "PE cache", "beyond PoU", "I-cache"];

/// One column of a timeline: one event, or a fold of several that changed nothing.
struct Column<'s> {
    step: &'s Step,
    /// Events folded into this column before `step` (0: just `step`).
    folded: usize,
    mark: Mark,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    None,
    Cause,
    Observer,
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The colour of a memory type: Write-Back blue, Write-Through green, Non-cacheable orange, Device grey,
/// mixed inner/outer purple.
fn type_colour(m: MemType) -> &'static str {
    if !m.is_known() {
        return "#333333";
    }
    if m.is_device() {
        return "#7f7f7f";
    }
    match (m.inner(), m.outer()) {
        (Some(i), Some(o)) if i != o => "#9467bd",
        (Some(Cacheability::WriteBack), _) => "#1f77b4",
        (Some(Cacheability::WriteThrough), _) => "#2ca02c",
        _ => "#ff7f0e",
    }
}

/// Maintenance other than a repeat of the op just before it (a set/way loop runs one op thousands of
/// times over every line: one column tells it).
fn new_maintenance(ev: &Event, before: &Event) -> bool {
    match (ev, before) {
        (Event::Maintenance(m), Event::Maintenance(b)) => m.op != b.op,
        (Event::Maintenance(_), _) => true,
        _ => false,
    }
}

/// Chooses the columns of a hazard's window: every event that changed the line's state, maintenance, the
/// cause and the observer; runs of the rest fold; past `MAX_COLUMNS`, the changes farthest from the cause
/// and the observer fold too.
fn columns<'s>(window: &'s [Step], h: &Hazard) -> Vec<Column<'s>> {
    let mark = |s: &Step| {
        if s.seq == h.observer.seq {
            Mark::Observer
        } else if s.seq == h.cause.seq {
            Mark::Cause
        } else {
            Mark::None
        }
    };
    let n = window.len();
    let mut keep: Vec<bool> = window
        .iter()
        .enumerate()
        .map(|(i, s)| {
            i == 0
                || i + 1 == n
                || mark(s) != Mark::None
                || s.after != window[i - 1].after
                || new_maintenance(&s.event, &window[i - 1].event)
        })
        .collect();
    let kept = keep.iter().filter(|k| **k).count();
    if kept > MAX_COLUMNS {
        let anchors: Vec<usize> = (0..n)
            .filter(|&i| i == 0 || i + 1 == n || mark(&window[i]) != Mark::None)
            .collect();
        let distance = |i: usize| anchors.iter().map(|&a| a.abs_diff(i)).min().unwrap_or(0);
        let mut others: Vec<usize> = (0..n).filter(|&i| keep[i] && distance(i) > 0).collect();
        others.sort_by_key(|&i| std::cmp::Reverse(distance(i)));
        for &i in others.iter().take(kept - MAX_COLUMNS) {
            keep[i] = false;
        }
    }
    let mut out = Vec::new();
    let mut folded = 0;
    for (i, s) in window.iter().enumerate() {
        if keep[i] {
            out.push(Column {
                step: s,
                folded,
                mark: mark(s),
            });
            folded = 0;
        } else {
            folded += 1;
        }
    }
    out
}

/// The event's kind in one word and its memory type (a device's: as the analysis judged it).
fn kind_and_type(ev: &Event, ctx: &Context) -> (&'static str, Option<MemType>) {
    match ev {
        Event::Access(a) => (
            if a.kind == AccessKind::Store {
                "store"
            } else {
                "load"
            },
            Some(a.mem),
        ),
        Event::Fetch(f) => ("fetch", Some(f.mem)),
        Event::Walk(w) => (if w.update { "walk-update" } else { "walk" }, Some(w.mem)),
        Event::Bulk(b) => (
            if b.store { "bulk-store" } else { "bulk-load" },
            Some(b.mem),
        ),
        Event::Dma(d) => {
            let coherent = (ctx.device)(d.device).1;
            (
                if d.write { "dma-write" } else { "dma-read" },
                Some(if coherent {
                    MemType::NORMAL_WB
                } else {
                    MemType::NORMAL_NC
                }),
            )
        }
        Event::Maintenance(m) => ("maintenance", Some(m.mem)),
        _ => ("event", None),
    }
}

/// Who did the event: `cpu0`, or the device's name.
fn who(ev: &Event, ctx: &Context) -> String {
    match ev {
        Event::Dma(d) => (ctx.device)(d.device).0,
        other => format!("cpu{}", other.vcpu()),
    }
}

/// An event's marker: circle load, square store, triangle fetch, diamond walk, hexagon DMA, wide bar bulk.
fn marker(out: &mut String, kind: &str, x: f64, y: f64, fill: &str) {
    let r = 8.0;
    let _ = match kind {
        "load" => write!(out, r#"<circle cx="{x}" cy="{y}" r="{r}" fill="{fill}"/>"#),
        "store" => write!(
            out,
            r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{fill}"/>"#,
            x - r,
            y - r,
            2.0 * r,
            2.0 * r
        ),
        "fetch" => write!(
            out,
            r#"<polygon points="{x},{} {},{} {},{}" fill="{fill}"/>"#,
            y - r,
            x + r,
            y + r,
            x - r,
            y + r
        ),
        "walk" | "walk-update" => write!(
            out,
            r#"<polygon points="{x},{} {},{y} {x},{} {},{y}" fill="{fill}"/>"#,
            y - r,
            x + r,
            y + r,
            x - r
        ),
        "dma-read" | "dma-write" => {
            let p: Vec<String> = (0..6)
                .map(|k| {
                    let a = std::f64::consts::PI / 3.0 * k as f64;
                    format!("{:.1},{:.1}", x + r * a.cos(), y + r * a.sin())
                })
                .collect();
            write!(out, r#"<polygon points="{}" fill="{fill}"/>"#, p.join(" "))
        }
        _ => write!(
            out,
            r#"<rect x="{}" y="{}" width="{}" height="{}" rx="3" fill="{fill}"/>"#,
            x - 1.6 * r,
            y - 0.6 * r,
            3.2 * r,
            1.2 * r
        ),
    };
    // Stores (and DMA writes) get a white stroke inside so they read apart from loads in print.
    if kind.contains("store") || kind == "dma-write" || kind == "walk-update" {
        let _ = write!(
            out,
            r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="white" stroke-width="2"/>"#,
            x - r / 2.0,
            x + r / 2.0
        );
    }
}

/// One cell of a lane: a copy's version, clean or dirty, stale when older than the newest data.
fn lane_cell(out: &mut String, x: f64, y: f64, copy: Option<(u32, bool, bool)>, latest: u32) {
    let (w, h) = (COLUMN - 8.0, LANE - 8.0);
    let Some((ver, dirty, possible)) = copy else {
        let _ = write!(
            out,
            r##"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#cccccc" stroke-width="1"/>"##,
            x - w / 2.0,
            y,
            x + w / 2.0,
            y
        );
        return;
    };
    let stale = ver < latest;
    let (fill, text) = match (dirty, stale) {
        (true, _) => ("#ffd27f", format!("v{ver} dirty")),
        (false, true) => ("#f4a6a6", format!("v{ver} stale")),
        (false, false) => ("#cfe8cf", format!("v{ver}")),
    };
    // A dirty copy older than the newest data (its write-back would overwrite it) keeps its dirty fill
    // and gets the stale colour as a thick border.
    let stroke = if stale && dirty {
        r##"stroke="#d62728" stroke-width="2.5""##
    } else {
        r##"stroke="#555555""##
    };
    let dash = if possible {
        r#" stroke-dasharray="3,2""#
    } else {
        ""
    };
    let _ = write!(
        out,
        r##"<rect class="cell{}{}" x="{}" y="{}" width="{w}" height="{h}" rx="3" fill="{fill}" {stroke}{dash}/><text x="{x}" y="{}" class="cell-text">{text}</text>"##,
        if stale { " stale" } else { "" },
        if dirty { " dirty" } else { "" },
        x - w / 2.0,
        y - h / 2.0,
        y + 4.0
    );
}

/// The SVG timeline of one hazard's window.
fn timeline(out: &mut String, index: usize, h: &Hazard, cols: &[Column], ctx: &mut Context) {
    let width = LABELS + COLUMN * cols.len().max(1) as f64 + 16.0;
    let (seq_y, tag_y, mark_y, who_y, kind_y) = (14.0, 34.0, 68.0, 96.0, 109.0);
    let lane_top = 128.0;
    let height = lane_top + LANE * LANES.len() as f64 + 8.0;
    let _ = write!(
        out,
        r#"<svg class="timeline" data-hazard="{}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="history of line {:#x}">"#,
        index + 1,
        h.line_pa
    );
    out.push_str(r##"<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#d62728"/></marker></defs>"##);
    for (i, lane) in LANES.iter().enumerate() {
        let y = lane_top + LANE * i as f64;
        let _ = write!(
            out,
            r##"<rect x="0" y="{y}" width="{width}" height="{LANE}" fill="{}"/>"##,
            if i % 2 == 0 { "#f7f7f7" } else { "#ffffff" }
        );
        let _ = write!(
            out,
            r#"<text x="4" y="{}" class="lane">{lane}</text>"#,
            y + LANE / 2.0 + 4.0
        );
    }
    let _ = write!(
        out,
        r#"<text x="4" y="{}" class="lane">event</text><text x="4" y="{seq_y}" class="lane">seq</text>"#,
        mark_y + 4.0
    );
    let x_of = |i: usize| LABELS + COLUMN * i as f64 + COLUMN / 2.0;
    let mut cause_x = None;
    let mut observer_x = None;
    for (i, c) in cols.iter().enumerate() {
        let x = x_of(i);
        let ev = &c.step.event;
        let (kind, mem) = kind_and_type(ev, ctx);
        let sym = ev.pc().and_then(|pc| (ctx.symbol)(pc));
        let _ = write!(
            out,
            r#"<text x="{x}" y="{seq_y}" class="seq">{}</text>"#,
            c.step.seq
        );
        if c.folded > 0 {
            let _ = write!(
                out,
                r#"<text x="{}" y="{}" class="fold">+{}</text>"#,
                x - COLUMN / 2.0,
                who_y + 26.0,
                c.folded
            );
        }
        let mut title = format!(
            "event {}: {}",
            c.step.seq,
            super::history::describe_event(ev, &|d| (ctx.device)(d).0)
        );
        if let Some(s) = &sym {
            let _ = write!(title, " ({s})");
        }
        if c.folded > 0 {
            let _ = write!(
                title,
                "; {} earlier events that changed nothing folded in",
                c.folded
            );
        }
        let _ = write!(
            out,
            r#"<g class="event {kind}"><title>{}</title>"#,
            esc(&title)
        );
        if let Event::Maintenance(m) = ev {
            let _ = write!(
                out,
                r##"<line class="maintenance" x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#444444" stroke-width="2" stroke-dasharray="5,3"/><text x="{x}" y="{}" class="op">{}</text>"##,
                mark_y - 14.0,
                height - 4.0,
                mark_y - 18.0,
                esc(m.op.mnemonic())
            );
        } else {
            marker(out, kind, x, mark_y, mem.map_or("#333333", type_colour));
        }
        match c.mark {
            Mark::Cause => {
                cause_x = Some(x);
                let _ = write!(
                    out,
                    r##"<circle class="cause" cx="{x}" cy="{mark_y}" r="13" fill="none" stroke="#d62728" stroke-width="3"/><text x="{x}" y="{}" class="tag cause-tag">cause</text>"##,
                    tag_y
                );
            }
            Mark::Observer => {
                observer_x = Some(x);
                let _ = write!(
                    out,
                    r##"<circle class="observer" cx="{x}" cy="{mark_y}" r="13" fill="none" stroke="#6a1b9a" stroke-width="3"/><text x="{x}" y="{}" class="tag observer-tag">observer</text>"##,
                    tag_y
                );
            }
            Mark::None => {}
        }
        let _ = write!(
            out,
            r#"<text x="{x}" y="{who_y}" class="who">{}</text>"#,
            esc(&short(&who(ev, ctx), 11))
        );
        let what = match (ev, mem) {
            (Event::Maintenance(_), _) => String::new(),
            (_, Some(m)) => format!("{} {kind}", short_type(m)),
            _ => kind.to_string(),
        };
        let _ = write!(
            out,
            r#"<text x="{x}" y="{kind_y}" class="kind">{}</text>"#,
            esc(&what)
        );
        out.push_str("</g>");
        if let Some(l) = &c.step.after {
            let lanes = [
                Some((l.mem, false, false)),
                l.pe.map(|c| (c.ver, c.dirty, c.speculative)),
                l.beyond_pou.map(|c| (c.ver, c.dirty, c.speculative)),
                l.icache.map(|c| (c.ver, c.dirty, c.speculative)),
            ];
            for (k, copy) in lanes.into_iter().enumerate() {
                let y = lane_top + LANE * k as f64 + LANE / 2.0;
                // Memory too is stale when newer data sits dirty in a cache.
                lane_cell(out, x, y, copy, l.latest);
            }
        }
    }
    if let (Some(a), Some(b)) = (cause_x, observer_x)
        && a < b
    {
        let top = mark_y - 34.0;
        let _ = write!(
            out,
            r##"<path class="flow" d="M{},{} C{},{top} {},{top} {},{}" fill="none" stroke="#d62728" stroke-width="1.5" marker-end="url(#arrow)"/>"##,
            a + 8.0,
            mark_y - 12.0,
            a + 16.0,
            b - 16.0,
            b - 8.0,
            mark_y - 12.0
        );
    }
    out.push_str("</svg>");
}

/// A memory type in a column's few characters: WB, WT, NC, Dev, or the mixed form.
fn short_type(m: MemType) -> String {
    if m.is_device() {
        return "Dev".into();
    }
    m.to_string().trim_start_matches("Normal-").to_string()
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// A side's name: its function (or device), else its PC.
fn side_name(s: &Side) -> String {
    if s.is_device() {
        return s.device.clone().unwrap_or_else(|| "device".into());
    }
    s.symbol.clone().unwrap_or_else(|| format!("{:#x}", s.pc))
}

fn side_rows(out: &mut String, label: &str, s: &Side) {
    let _ = write!(
        out,
        r#"<tr class="side {label}"><th>{label}</th><td>{}</td>"#,
        esc(&s.describe())
    );
    if let SideAction::Dma { path, .. } = s.action {
        let _ = write!(
            out,
            r#"<td class="symbol">{}</td><td>{} path, bus address {:#x}</td><td>{}</td></tr>"#,
            esc(&side_name(s)),
            path.name(),
            s.va,
            esc(&super::text::dma_view(s))
        );
        return;
    }
    // The source line, when the ELF had DWARF line information.
    let source = s.source.as_ref().map(|l| format!(r#"<br><span class="source">{}</span>"#, esc(&l.to_string()))).unwrap_or_default();
    let _ = write!(
        out,
        r#"<td class="symbol">{}{source}</td><td>pc {:#x}, va {:#x}, vCPU {}, {}</td><td>{}</td></tr>"#,
        esc(&side_name(s)),
        s.pc,
        s.va,
        s.vcpu,
        esc(&s.regime_text()),
        esc(&s.mem.to_string())
    );
}

const STYLE: &str = r#"
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 17px; margin-top: 28px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
code, .symbol, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
.source { color: #555; font-size: 12px; }
.missing { background: #fff4e0; border-left: 4px solid #ff9800; padding: 6px 10px; }
.class { font-weight: 600; color: #b00020; }
.scroll { overflow-x: auto; }
svg.timeline text { font: 12px ui-monospace, "DejaVu Sans Mono", monospace; text-anchor: middle; }
svg.timeline text.lane { text-anchor: start; font-weight: 600; fill: #444; }
svg.timeline text.seq { fill: #666; font-size: 11px; }
svg.timeline text.fold { fill: #888; font-size: 10px; font-style: italic; }
svg.timeline text.who { fill: #444; font-size: 11px; }
svg.timeline text.kind { fill: #666; font-size: 10px; }
svg.timeline text.op { font-weight: 700; fill: #444; font-size: 11px; }
svg.timeline text.tag { font-weight: 700; font-size: 11px; }
svg.timeline text.cause-tag { fill: #d62728; } svg.timeline text.observer-tag { fill: #6a1b9a; }
svg.timeline text.cell-text { font-size: 11px; }
tr.cause td, tr.cause th { background: #fdecea; } tr.observer td, tr.observer th { background: #f3e5f5; }
details summary { cursor: pointer; color: #555; }
.legend span { display: inline-block; margin-right: 14px; }
.swatch { display: inline-block; width: 12px; height: 12px; vertical-align: middle; margin-right: 4px; border: 1px solid #555; }
@media print { body { margin: 0; } .hazard { break-inside: avoid; } .scroll { overflow: visible; } svg.timeline { max-width: 100%; height: auto; } details { display: block; } }
"#;

fn legend(out: &mut String) {
    out.push_str(r#"<p class="legend">"#);
    for (name, colour) in [
        ("Write-Back", "#1f77b4"),
        ("Write-Through", "#2ca02c"),
        ("Non-cacheable", "#ff7f0e"),
        ("Device", "#7f7f7f"),
        ("inner/outer mixed", "#9467bd"),
    ] {
        let _ = write!(
            out,
            r#"<span><i class="swatch" style="background:{colour}"></i>{name}</span>"#
        );
    }
    out.push_str("<br>");
    for (name, colour) in [
        ("copy, current", "#cfe8cf"),
        ("copy, stale (older than the newest data)", "#f4a6a6"),
        ("copy, dirty", "#ffd27f"),
    ] {
        let _ = write!(
            out,
            r#"<span><i class="swatch" style="background:{colour}"></i>{name}</span>"#
        );
    }
    out.push_str(r#"<span><i class="swatch" style="background:#ffd27f;border:2px solid #d62728"></i>dirty and stale (its write-back would overwrite newer data)</span>"#);
    out.push_str("<br>● load ■ store (white bar: a write) ▲ fetch ◆ table walk ⬢ DMA ▬ MOPS / DC ZVA; dashed rule: cache maintenance; \
        dashed cell: a copy the model only allows (speculative mode); +N: events folded in that changed nothing</p>");
}

/// The whole page. `histories[i]` is hazard `i`'s line history up to its observer
/// (`explain::line_histories`).
pub fn render(hazards: &[Hazard], histories: &[Vec<Step>], ctx: &mut Context) -> String {
    let mut out = String::new();
    let title = format!("cohtrace: {}", ctx.title);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        esc(&title)
    );
    let total: u64 = hazards.iter().map(|h| h.count).sum();
    let _ = writeln!(
        out,
        "<h1>{}</h1><p>{} hazard{} ({} occurrence{}). Judged: {}.</p>",
        esc(&title),
        hazards.len(),
        if hazards.len() == 1 { "" } else { "s" },
        total,
        if total == 1 { "" } else { "s" },
        esc(&ctx.judged)
    );
    if hazards.is_empty() {
        out.push_str("<p class=\"none\">No hazards.</p></body></html>\n");
        return out;
    }
    out.push_str("<table class=\"summary\"><tr><th>#</th><th>class</th><th>line</th><th>observer</th><th>cause</th><th>missing</th><th>times</th></tr>\n");
    for (i, h) in hazards.iter().enumerate() {
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#hazard-{n}\">{n}</a></td><td class=\"class\">{}</td><td class=\"mono\">{:#x}</td><td class=\"symbol\">{}</td><td class=\"symbol\">{}</td><td>{}</td><td>{}</td></tr>",
            h.class,
            h.line_pa,
            esc(&side_name(&h.observer)),
            esc(&side_name(&h.cause)),
            esc(&h.missing),
            h.count,
            n = i + 1
        );
    }
    out.push_str("</table>\n");
    legend(&mut out);
    for (i, h) in hazards.iter().enumerate() {
        let steps = histories.get(i).map(Vec::as_slice).unwrap_or(&[]);
        let (start, end) = hazard_window(steps, h);
        let window = if steps.is_empty() {
            steps
        } else {
            &steps[start.min(steps.len() - 1)..=end.min(steps.len() - 1)]
        };
        let _ = writeln!(
            out,
            "<section class=\"hazard\" id=\"hazard-{}\" data-class=\"{}\"><h2>{}. <span class=\"class\">{}</span>: {} on line <code>{:#x}</code>{}</h2>",
            i + 1,
            h.class,
            i + 1,
            h.class,
            esc(h.class.summary()),
            h.line_pa,
            h.range_name
                .as_deref()
                .map(|n| format!(" in “{}”", esc(n)))
                .unwrap_or_default()
        );
        let times = if h.count == 1 {
            "once".to_string()
        } else {
            format!("{} times", h.count)
        };
        let case = h
            .test_case
            .map(|c| format!(", test case {c}"))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<p>Seen {times}{case}.</p>\n<table class=\"sides\"><tr><th></th><th>what</th><th>function</th><th>where</th><th>memory type</th></tr>"
        );
        side_rows(&mut out, "observer", &h.observer);
        side_rows(&mut out, "cause", &h.cause);
        out.push_str("</table>\n");
        let _ = writeln!(
            out,
            "<p class=\"missing\"><b>Missing:</b> {}</p>",
            esc(&h.missing)
        );
        let _ = write!(
            out,
            "<p>The line's history, events {} to {} of {} that touched it:</p><div class=\"scroll\">",
            start + 1,
            end + 1,
            steps.len()
        );
        let cols = columns(window, h);
        timeline(&mut out, i, h, &cols, ctx);
        out.push_str("</div>\n<details><summary>the same columns as a table</summary><table class=\"history\"><tr><th>seq</th><th>event</th><th>function</th><th>the line after it</th></tr>");
        for c in &cols {
            let s = c.step;
            let folded = if c.folded > 0 { format!(" (after {} more that changed nothing)", c.folded) } else { String::new() };
            let mark = if s.seq == h.observer.seq {
                " class=\"observer\""
            } else if s.seq == h.cause.seq {
                " class=\"cause\""
            } else {
                ""
            };
            let sym = s
                .event
                .pc()
                .and_then(|pc| (ctx.symbol)(pc))
                .unwrap_or_default();
            let _ = write!(
                out,
                "<tr{mark}><td class=\"mono\">{}</td><td>{}</td><td class=\"symbol\">{}</td><td>{}</td></tr>",
                s.seq,
                esc(&format!("{}{folded}", super::history::describe_event(&s.event, &|d| (ctx.device)(d).0))),
                esc(&sym),
                esc(&super::history::describe_state(&s.after))
            );
        }
        out.push_str("</table></details></section>\n");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Access;
    use crate::report::history::{CopySnapshot, LineSnapshot};

    fn step(seq: u64, kind: AccessKind, pe_ver: Option<u32>, mem: u32) -> Step {
        let ev = Event::Access(Access {
            vcpu: 0,
            pc: 0x1000 + seq * 4,
            va: 0x4000,
            pa: 0x4000,
            size: 8,
            kind,
            mem: MemType::NORMAL_WB,
            mmio: false,
        });
        let pe = pe_ver.map(|ver| CopySnapshot {
            ver,
            dirty: false,
            speculative: false,
        });
        Step {
            seq,
            event: ev,
            after: Some(LineSnapshot {
                latest: mem,
                mem,
                pe,
                beyond_pou: None,
                icache: None,
            }),
        }
    }

    fn hazard(cause: u64, observer: u64) -> Hazard {
        let side = |seq| Side {
            vcpu: 0,
            regime: Default::default(),
            pc: 0x1000 + seq * 4,
            va: 0x4000,
            mem: MemType::NORMAL_WB,
            action: SideAction::Access {
                kind: AccessKind::Load,
                size: 8,
            },
            seq,
            symbol: None,
            device: None,
            source: None,
        };
        Hazard {
            class: super::super::HazardClass::StaleRead,
            line_pa: 0x4000,
            observer: side(observer),
            cause: side(cause),
            missing: "DC IVAC".into(),
            count: 1,
            range_name: None,
            test_case: None,
            found_at: observer,
            found_tie: 0,
        }
    }

    #[test]
    fn events_that_change_nothing_fold_into_the_next_column() {
        // Allocation, five loads that hit, the cause (memory v1 under the copy), the observer.
        let mut w = vec![step(0, AccessKind::Load, Some(0), 0)];
        w.extend((1..6).map(|s| step(s, AccessKind::Load, Some(0), 0)));
        w.push(step(6, AccessKind::Store, Some(0), 1));
        w.push(step(7, AccessKind::Load, Some(0), 1));
        let cols = columns(&w, &hazard(6, 7));
        let seqs: Vec<(u64, usize)> = cols.iter().map(|c| (c.step.seq, c.folded)).collect();
        assert_eq!(
            seqs,
            [(0, 0), (6, 5), (7, 0)],
            "the five hits fold into the cause's column"
        );
        assert!(cols[1].mark == Mark::Cause && cols[2].mark == Mark::Observer);
    }

    #[test]
    fn a_long_window_keeps_the_cause_the_observer_and_their_neighbours() {
        // 200 state changes (alternating copy present / absent), cause at 100, observer at 199.
        let w: Vec<Step> = (0..200)
            .map(|s| {
                step(
                    s,
                    AccessKind::Load,
                    (s % 2 == 0).then_some(0),
                    if s >= 100 { 1 } else { 0 },
                )
            })
            .collect();
        let cols = columns(&w, &hazard(100, 199));
        assert_eq!(cols.len(), MAX_COLUMNS);
        let seqs: Vec<u64> = cols.iter().map(|c| c.step.seq).collect();
        for must in [0, 99, 100, 101, 198, 199] {
            assert!(seqs.contains(&must), "column {must} kept: {seqs:?}");
        }
        let folded: usize = cols.iter().map(|c| c.folded).sum();
        assert_eq!(
            folded + cols.len(),
            200,
            "every event is a column or folded into one"
        );
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
