//! Writes a synthetic trace for analyzer benchmarks: `cargo run --release --example synth_trace -- OUT EVENTS [VCPUS]`.
//! The stream imitates guests/bench/bench-mix: per vCPU, a load/store loop over a 4 KB buffer, a memcpy
//! over 4 MiB, and a pointer chase, all Normal WB (no hazards), in chunks of 64 K records.

use cohtrace_analyzer::memtype::MemType;
use cohtrace_analyzer::trace::{Geometry, Header, Record, TraceWriter};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let out = args.get(1).expect("OUT");
    let events: u64 = args.get(2).expect("EVENTS").parse().unwrap();
    let vcpus: u64 = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(1);
    let f = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    let mut w = TraceWriter::new(f, &Header::new(Geometry::default(), vec![("synthetic".into(), "1".into())])).unwrap();
    let chunk = 65536usize;
    let mut seq = 0u64;
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bufs: Vec<Vec<Record>> = (0..vcpus).map(|_| Vec::with_capacity(chunk)).collect();
    let mut bases = vec![0u64; vcpus as usize];
    let wb = MemType::NORMAL_WB;
    let mut i = 0u64;
    while seq < events {
        let v = ((seq / 1000) % vcpus) as usize; // vCPUs interleave in bursts
        let base = 0x4100_0000 + v as u64 * 0x100_0000;
        let phase = (i / 4_000_000) % 4;
        let r = match phase {
            0 | 1 => {
                // ld/st loop over a 4 KB buffer
                let off = (i * 8) % 4096;
                Record::access(1 + (i & 1) as u32, 0x4010_0000 + (i & 1) * 4, base + off, base + off, 3, i & 1 == 1, wb)
            }
            2 => {
                // memcpy over 4 MiB
                let off = (i / 2 * 16) % (4 << 20);
                let src = i & 1 == 0;
                let pa = base + if src { off } else { (8 << 20) + off };
                Record::access(3 + (i & 1) as u32, 0x4010_0100 + (i & 1) * 4, pa, pa, 4, !src, wb)
            }
            _ => {
                // pointer chase
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let pa = base + (x % (4 << 20)) & !7;
                Record::access(5, 0x4010_0200, pa, pa, 3, false, wb)
            }
        };
        i += 1;
        let b = &mut bufs[v];
        if b.is_empty() {
            bases[v] = seq;
        }
        let mut r = r;
        r.seq = (seq - bases[v]) as u32;
        b.push(r);
        seq += 1;
        if b.len() == chunk {
            w.write_chunk(v as u16, bases[v], b).unwrap();
            b.clear();
        }
    }
    for v in 0..vcpus as usize {
        if !bufs[v].is_empty() {
            w.write_chunk(v as u16, bases[v], &bufs[v]).unwrap();
        }
    }
    let (_, s) = w.finish(0).unwrap();
    eprintln!("{} records", s.records);
}
