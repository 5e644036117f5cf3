//! The HTML report (`cohtrace analyze --format html`) on every recorded trace with hazards, every hazard
//! class among them: the page, and the page as Debian's Chromium renders it (`--dump-dom`, `--screenshot`).
//! What it must show comes from the scenario manifests (the sides' labels) and the committed expected
//! reports (how many hazards), not from the renderer.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A recorded trace, judged one way, with what its page must show.
struct Case {
    name: String,
    trace: PathBuf,
    noncoherent: bool,
    /// The hazards' classes, in the report's order (the committed expected report).
    classes: Vec<String>,
    /// Per hazard: the names the observer and the cause may go by: the device, or the manifest's label and
    /// every other symbol at its address (two labels on one instruction name it equally).
    sides: Vec<(Vec<String>, Vec<String>)>,
}

fn cases(guests: &Path) -> Vec<Case> {
    let dir = support::repo().join("traces");
    let manifests = support::manifests();
    let mut out = Vec::new();
    for trace in support::recorded_traces() {
        let name = trace.file_stem().unwrap().to_string_lossy().into_owned();
        for noncoherent in [false, true] {
            let prefix = if noncoherent { "dma-noncoherent." } else { "" };
            let Ok(expected) =
                std::fs::read_to_string(dir.join(format!("{name}.{prefix}speculative.json")))
            else {
                continue;
            };
            let report: Vec<serde_json::Value> = serde_json::from_str(&expected).unwrap();
            if report.is_empty() {
                continue;
            }
            let variant = manifests
                .iter()
                .flat_map(|(_, m)| &m.variant)
                .find(|v| v.name == name)
                .unwrap_or_else(|| panic!("no manifest variant {name}"));
            let syms = support::symbols(&guests.join(format!("{name}.elf")));
            let classes: Vec<String> = report
                .iter()
                .map(|h| h["class"].as_str().unwrap().to_string())
                .collect();
            // The manifest's hazards that this judgement reports, in the report's order of classes.
            let mut truth: Vec<_> = variant
                .hazard
                .iter()
                .filter(|h| {
                    h.modes
                        .as_ref()
                        .is_none_or(|m| m.iter().any(|m| m == "speculative"))
                })
                .filter(|h| noncoherent || h.dma.is_none())
                .collect();
            let sides = classes
                .iter()
                .map(|c| {
                    let i = truth
                        .iter()
                        .position(|h| &h.class == c)
                        .unwrap_or_else(|| panic!("{name}: {c} not in the manifest"));
                    let h = truth.remove(i);
                    (names(&syms, &h.observer), names(&syms, &h.cause))
                })
                .collect();
            out.push(Case {
                name: format!(
                    "{name}{}",
                    if noncoherent {
                        " (dma noncoherent)"
                    } else {
                        ""
                    }
                ),
                trace: trace.clone(),
                noncoherent,
                classes,
                sides,
            });
        }
    }
    out
}

/// The names a manifest side may go by on a page: the device, or the label (without its offset) and the
/// other symbols at its address.
fn names(syms: &std::collections::HashMap<String, u64>, expr: &str) -> Vec<String> {
    if let Some(device) = expr.strip_prefix("dma:") {
        return vec![device.to_string()];
    }
    let label = expr.split('+').next().unwrap().trim();
    let addr = support::resolve(syms, label);
    let mut v: Vec<String> = syms
        .iter()
        .filter(|(_, a)| **a == addr)
        .map(|(n, _)| n.clone())
        .collect();
    v.sort();
    v
}

fn render(case: &Case, guests: &Path, out: &Path) {
    let stem = case
        .trace
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cohtrace"));
    cmd.arg("analyze")
        .arg(&case.trace)
        .args(["--format", "html", "-o"])
        .arg(out)
        .arg("--elf")
        .arg(guests.join(format!("{stem}.elf")));
    if case.noncoherent {
        cmd.args(["--dma", "noncoherent"]);
    }
    let o = cmd.output().unwrap();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}: {}",
        case.name,
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The sections of a page (or of a DOM dump), one per hazard, in order.
fn sections(page: &str) -> Vec<&str> {
    page.split("<section class=\"hazard\"")
        .skip(1)
        .map(|s| s.split("</section>").next().unwrap())
        .collect()
}

/// What the test asserts of one page, raw or rendered.
fn check_page(case: &Case, page: &str, what: &str) {
    let secs = sections(page);
    assert_eq!(
        secs.len(),
        case.classes.len(),
        "{} ({what}): one section per hazard",
        case.name
    );
    assert_eq!(
        page.matches("<svg class=\"timeline\"").count(),
        case.classes.len(),
        "{} ({what}): one timeline per hazard",
        case.name
    );
    for (i, (sec, ((observer, cause), class))) in secs
        .iter()
        .zip(case.sides.iter().zip(&case.classes))
        .enumerate()
    {
        let n = i + 1;
        assert!(
            sec.contains(&format!("data-class=\"{class}\"")),
            "{} ({what}) hazard {n}: class {class}",
            case.name
        );
        let svg = sec
            .split("<svg class=\"timeline\"")
            .nth(1)
            .unwrap_or_else(|| panic!("{} hazard {n}: no timeline", case.name));
        let svg = svg.split("</svg>").next().unwrap();
        // Both sides, named, in the sides table; the cause and the observer marked on the timeline and
        // joined by the flow arrow; the four lanes.
        for side in [observer, cause] {
            assert!(
                side.iter()
                    .any(|name| sec.contains(&format!("<td class=\"symbol\">{name}"))),
                "{} ({what}) hazard {n}: the side named {side:?} is not named",
                case.name
            );
        }
        for part in [
            "class=\"observer\"",
            "class=\"cause\"",
            "class=\"flow\"",
            "memory (PoC)",
            "PE cache",
            "beyond PoU",
            "I-cache",
        ] {
            assert!(
                svg.contains(part),
                "{} ({what}) hazard {n}: timeline lacks {part}",
                case.name
            );
        }
        assert!(
            sec.contains("<p class=\"missing\"><b>Missing:</b> "),
            "{} ({what}) hazard {n}: the missing maintenance",
            case.name
        );
        // The guests are assembled with -g: a side whose PC is in the guest's code shows its source line
        // (code the guest writes at run time, as scenario 09 fetches, has none).
        let rows: Vec<&str> = ["observer", "cause"]
            .iter()
            .map(|side| sec.split(&format!("<tr class=\"side {side}\">")).nth(1).unwrap().split("</tr>").next().unwrap())
            .collect();
        assert!(rows.iter().any(|r| r.contains(".S:")), "{} ({what}) hazard {n}: no side has a source line: {rows:?}", case.name);
    }
}

#[test]
fn every_hazard_class_renders_with_its_timeline() {
    let Some(guests) = support::guest_elfs() else {
        return;
    };
    let browser = support::browser();
    let dir = support::tempdir("html");
    let cases = cases(&guests);
    let classes: BTreeSet<&str> = cases
        .iter()
        .flat_map(|c| c.classes.iter().map(String::as_str))
        .collect();
    let all: BTreeSet<&str> = cohtrace_analyzer::report::HazardClass::ALL
        .iter()
        .map(|c| c.name())
        .collect();
    assert_eq!(classes, all, "the recorded traces cover every hazard class");
    let kinds: BTreeSet<String> = cases
        .iter()
        .flat_map(|c| {
            let stem = c.trace.file_stem().unwrap().to_string_lossy().into_owned();
            let prefix = if c.noncoherent {
                "dma-noncoherent."
            } else {
                ""
            };
            let j: Vec<serde_json::Value> = serde_json::from_str(
                &std::fs::read_to_string(
                    c.trace
                        .with_file_name(format!("{stem}.{prefix}speculative.json")),
                )
                .unwrap(),
            )
            .unwrap();
            j.iter()
                .flat_map(|h| {
                    [
                        h["observer"]["kind"].as_str().unwrap().to_string(),
                        h["cause"]["kind"].as_str().unwrap().to_string(),
                    ]
                })
                .collect::<Vec<_>>()
        })
        .collect();
    for k in [
        "walk",
        "walk-update",
        "dma-read",
        "dma-write",
        "fetch",
        "maintenance",
    ] {
        assert!(
            kinds.contains(k),
            "no recorded hazard has a {k} side (seen: {kinds:?})"
        );
    }
    for (i, case) in cases.iter().enumerate() {
        let page_path = dir.join(format!("{i}.html"));
        render(case, &guests, &page_path);
        let page = std::fs::read_to_string(&page_path).unwrap();
        assert!(
            only_svg_namespace(&page),
            "{}: the page must be self-contained (no script, no URL)",
            case.name
        );
        check_page(case, &page, "page");
        if let Some(chromium) = &browser {
            let dom = headless(chromium, &["--dump-dom"], &page_path);
            check_page(case, &dom, "rendered DOM");
        }
    }
}

/// The only URL a page may hold is the SVG namespace (not a fetch).
fn only_svg_namespace(page: &str) -> bool {
    !page.contains("<script")
        && page
            .replace("http://www.w3.org/2000/svg", "")
            .matches("http")
            .count()
            == 0
}

fn headless(chromium: &Path, args: &[&str], page: &Path) -> String {
    let o = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
        ])
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("running chromium");
    assert!(
        o.status.success(),
        "chromium {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Scenario 01's page as a picture: not blank, and showing the colours the timeline draws (the
/// Non-cacheable cause, the stale PE copy, the cause's ring).
#[test]
fn scenario_01_report_renders_to_a_picture() {
    let (Some(guests), Some(chromium)) = (support::guest_elfs(), support::browser()) else {
        return;
    };
    let dir = support::tempdir("html-shot");
    let case = cases(&guests)
        .into_iter()
        .find(|c| c.name == "01-nc-write-wb-read")
        .expect("trace 01");
    let page = dir.join("01.html");
    render(&case, &guests, &page);
    let shot = dir.join("01.png");
    headless(
        &chromium,
        &[
            "--window-size=1100,760",
            &format!("--screenshot={}", shot.display()),
        ],
        &page,
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(channels >= 3, "an RGB screenshot");
    let pixels: Vec<[u8; 3]> = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    let inked = pixels.iter().filter(|p| p.iter().any(|&c| c < 235)).count();
    assert!(
        inked * 100 > pixels.len(),
        "the screenshot is blank ({inked} of {} pixels inked)",
        pixels.len()
    );
    let near = |want: [u8; 3]| {
        pixels
            .iter()
            .filter(|p| p.iter().zip(want).all(|(&a, b)| a.abs_diff(b) <= 12))
            .count()
    };
    for (what, rgb) in [
        ("the Non-cacheable store", [0xff, 0x7f, 0x0e]),
        ("the stale PE copy", [0xf4, 0xa6, 0xa6]),
        ("the cause's ring", [0xd6, 0x27, 0x28]),
    ] {
        assert!(
            near(rgb) > 20,
            "the screenshot does not show {what} (colour {rgb:02x?})"
        );
    }
}
