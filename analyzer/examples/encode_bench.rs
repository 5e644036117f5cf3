//! Encoder throughput on a load/store loop (what the plugin's writer thread does):
//! `cargo run --release --example encode_bench -- RECORDS`.
use cohtrace_analyzer::memtype::MemType;
use cohtrace_analyzer::trace::{Geometry, Header, Record, TraceWriter};

fn main() {
    let n: usize = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(200_000_000);
    let chunk = 65536;
    let mut recs = Vec::with_capacity(chunk);
    for i in 0..chunk as u64 {
        let pa = 0x4010_0000 + (i / 2 * 8) % 4096;
        let mut r = Record::access(1 + (i & 1) as u32, 0x4010_2000 + (i & 1) * 4, pa, pa, 3, i & 1 == 1, MemType::NORMAL_WB);
        r.seq = i as u32;
        recs.push(r);
    }
    let mut w = TraceWriter::new(std::io::sink(), &Header::new(Geometry::default(), vec![])).unwrap();
    let t = std::time::Instant::now();
    let mut done = 0;
    let mut base = 0;
    while done < n {
        w.write_chunk(0, base, &recs).unwrap();
        done += chunk;
        base += chunk as u64;
    }
    let s = t.elapsed().as_secs_f64();
    eprintln!("{done} records in {s:.2} s: {:.0} M records/s, {:.3} bytes/record", done as f64 / s / 1e6, w.bytes_written() as f64 / done as f64);
}
