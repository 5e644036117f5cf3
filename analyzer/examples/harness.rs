//! A fuzzing harness embedding the model in-process (no QEMU, no files): the harness turns whatever it
//! observes of its target into events, runs one test case at a time, and gets a verdict per case.
//!
//!     cargo run --example harness
//!
//! Copy this into a harness: `Verdict::Crash` is where a fuzzer would report the input.

use cohtrace_analyzer::prelude::*;

/// What one test case did, in the harness's own terms.
struct Step {
    pc: u64,
    pa: u64,
    store: bool,
    mem: MemType,
    guest: bool,
}

enum Verdict {
    Ok,
    Crash(Vec<Hazard>),
}

fn run_case(model: &mut Model, steps: &[Step]) -> Verdict {
    const HOST: Regime = Regime { el: 2, kind: RegimeKind::El2, vmid: None, asid: None, secure: false };
    const GUEST: Regime = Regime { el: 1, kind: RegimeKind::El10, vmid: Some(1), asid: Some(0), secure: false };
    model.clear_hazards(); // a new test case; the cache state carries on, as on hardware
    for s in steps {
        model.feed(&Event::Regime { vcpu: 0, regime: if s.guest { GUEST } else { HOST } });
        model.feed(&Event::Access(Access {
            vcpu: 0,
            pc: s.pc,
            va: s.pa,
            pa: s.pa,
            size: 8,
            kind: if s.store { AccessKind::Store } else { AccessKind::Load },
            mem: s.mem,
            mmio: false,
        }));
    }
    if model.hazards().is_empty() { Verdict::Ok } else { Verdict::Crash(model.hazards().to_vec()) }
}

fn main() {
    let mut model = Model::new(ModelConfig { mode: Mode::Precise, ..Default::default() });
    let ring = 0x8000_0000u64;
    // Case 1: the device model (host, WB) writes a descriptor and the guest driver reads it through a
    // Non-cacheable mapping without the host cleaning it first: a dirty-bypass.
    let case1 = [
        Step { pc: 0x1000, pa: ring, store: true, mem: MemType::NORMAL_WB, guest: false },
        Step { pc: 0x2000, pa: ring, store: false, mem: MemType::NORMAL_NC, guest: true },
    ];
    // Case 2: a different line, accessed coherently by both.
    let case2 = [
        Step { pc: 0x1004, pa: ring + 64, store: true, mem: MemType::NORMAL_WB, guest: false },
        Step { pc: 0x2004, pa: ring + 64, store: false, mem: MemType::NORMAL_WB, guest: true },
    ];
    for (i, case) in [&case1[..], &case2[..]].into_iter().enumerate() {
        match run_case(&mut model, case) {
            Verdict::Ok => println!("case {}: ok", i + 1),
            Verdict::Crash(h) => {
                println!("case {}: {} hazard(s)", i + 1, h.len());
                print!("{}", cohtrace_analyzer::report::text::render(&h));
            }
        }
    }
}
