//! The fuzz targets' inputs, replayed in the ordinary test suite (no libFuzzer needed): the committed seeds
//! (fuzz/seeds/), every input that once crashed a target (fuzz/regressions/), and a few thousand
//! deterministic mutations of the seeds. Same entry points as `cargo fuzz run trace|chunk`
//! (cohtrace_analyzer::fuzzing), same allocation bounds (a global BoundedAlloc: an allocation out of
//! proportion aborts the test binary). scripts/test.d/fuzz runs the coverage-guided fuzzer itself.

use cohtrace_analyzer::trace::TraceFile;
use cohtrace_analyzer::fuzzing::{self, BoundedAlloc};
use std::path::{Path, PathBuf};

#[global_allocator]
static ALLOC: BoundedAlloc = BoundedAlloc::new();

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().join("fuzz")
}

/// (file name, bytes) of every file in fuzz/<sub>, sorted.
fn inputs(sub: &str) -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_dir().join(sub);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v.into_iter().map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())).collect()
}

#[test]
fn seeds_and_regressions_run_clean_through_both_targets() {
    let mut n = 0;
    for sub in ["seeds/trace", "regressions/trace"] {
        for (name, data) in inputs(sub) {
            eprintln!("{sub}/{name}");
            fuzzing::trace(&data);
            n += 1;
        }
    }
    for sub in ["seeds/chunk", "regressions/chunk"] {
        for (name, data) in inputs(sub) {
            eprintln!("{sub}/{name}");
            fuzzing::chunk(&data);
            n += 1;
        }
    }
    assert!(n >= 15, "only {n} fuzz inputs found");
}

/// The seeds must stay valid traces: a format change that breaks them means regenerating them
/// (fuzz/make-seeds), or the fuzzer starts from garbage.
#[test]
fn seed_traces_are_valid_and_decode_completely() {
    for (name, data) in inputs("seeds/trace") {
        let t = TraceFile::from_bytes(data).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(t.damage.is_none(), "{name}: {:?}", t.damage);
        assert_eq!(t.end.is_some(), !name.contains("no-end"), "{name}: end chunk");
        let mut ev = t.events();
        let n = ev.by_ref().count();
        assert!(ev.error().is_none(), "{name}: {:?}", ev.error());
        assert!(n > 0 || name.starts_with("empty"), "{name}: no events");
    }
    for (name, data) in inputs("seeds/chunk") {
        let (base, payload) = data.split_at(8);
        let mut dec = cohtrace_analyzer::trace::codec::ChunkDecoder::new(payload, u64::from_le_bytes(base.try_into().unwrap()));
        let mut n = 0;
        loop {
            match dec.next_record() {
                Ok(Some(_)) => n += 1,
                Ok(None) => break,
                Err(e) => panic!("{name}: record {n}: {e}"),
            }
        }
        assert!(n > 0, "{name}: empty");
    }
}

/// Found by `cargo fuzz run trace` (regressions/trace/model-add-overflow-found.ctrace, a mutated capture;
/// access-at-top-of-address-space.ctrace is the same bug written by hand): an 8-byte load at PA
/// 0xffff_ffff_ffff_fffc made the model compute `pa + size - 1` and overflow (a panic with overflow checks,
/// a silently skipped access without). The decoder now rejects physical addresses at or above 2^56, which no
/// ARM64 system has, with a located error; the events before it are delivered.
#[test]
fn an_access_at_the_top_of_the_address_space_is_a_located_decode_error() {
    let data = std::fs::read(fuzz_dir().join("regressions/trace/access-at-top-of-address-space.ctrace")).unwrap();
    let t = TraceFile::from_bytes(data).unwrap();
    assert!(t.damage.is_none(), "framing and checksums are fine");
    let mut ev = t.events();
    let n = ev.by_ref().count();
    assert_eq!(n, 1, "the regime change before the bad access");
    let d = ev.error().expect("a decode error");
    assert_eq!((d.chunk, d.offset), (0, t.chunks[0].offset));
    assert_eq!(d.reason, "physical address 0xfffffffffffffffc out of range at byte 2", "{d}");

    let data = std::fs::read(fuzz_dir().join("regressions/trace/model-add-overflow-found.ctrace")).unwrap();
    let t = TraceFile::from_bytes(fuzzing::fix_checksums(&data)).unwrap();
    let mut ev = t.events();
    ev.by_ref().for_each(drop);
    let d = ev.error().expect("the fuzzer's input has an out-of-range address");
    assert!(d.reason.starts_with("physical address 0x"), "{d}");
}

/// A deterministic mutation fuzzer over the seeds, so that the ordinary suite fuzzes a little even where
/// cargo-fuzz is not installed: bit flips, byte overwrites with boundary values, cuts, duplicated and
/// deleted ranges, and length fields set to extremes; each input both as mutated and with its checksums fixed.
#[test]
fn thousands_of_seed_mutations_run_clean() {
    let seeds: Vec<Vec<u8>> = inputs("seeds/trace").into_iter().map(|(_, d)| d).collect();
    let chunks: Vec<Vec<u8>> = inputs("seeds/chunk").into_iter().map(|(_, d)| d).collect();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let rounds = if cfg!(debug_assertions) { 300 } else { 3000 };
    for round in 0..rounds {
        let pool = if round % 3 == 2 { &chunks } else { &seeds };
        let mut d = pool[next() as usize % pool.len()].clone();
        for _ in 0..1 + next() % 4 {
            mutate(&mut d, &mut next);
        }
        if round % 3 == 2 {
            fuzzing::chunk(&d);
        } else {
            fuzzing::trace(&d);
        }
    }
}

fn mutate(d: &mut Vec<u8>, next: &mut impl FnMut() -> u64) {
    if d.is_empty() {
        d.push(next() as u8);
        return;
    }
    let len = d.len();
    let at = next() as usize % len;
    match next() % 7 {
        0 => d[at] ^= 1 << (next() % 8),
        1 => d[at] = [0u8, 0x7f, 0x80, 0xff, 1][next() as usize % 5],
        2 => d.truncate(at),
        3 => {
            let n = (next() as usize % 64).min(len - at);
            let dup: Vec<u8> = d[at..at + n].to_vec();
            d.splice(at..at, dup);
        }
        4 => {
            let n = (next() as usize % 64).min(len - at);
            d.drain(at..at + n);
        }
        5 => {
            // A 32-bit field (length, count) set to an extreme.
            if at + 4 <= len {
                let v = [u32::MAX, 0x8000_0000, 0x1000_0000, 0][next() as usize % 4];
                d[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
        _ => {
            // A long varint.
            let n = 1 + next() as usize % 12;
            d.splice(at..at, std::iter::repeat_n(0xffu8, n));
        }
    }
}

/// Found by `cargo fuzz run trace` (regressions/trace/seq-jumps-back-two-threads.ctrace, minimized): two
/// vCPU streams whose chunk sequence numbers jump back (70, 72, 74, then 12...). The line-sharded analysis
/// merges its shards' hazards by the sequence number that revealed them, which is not the replay order
/// here, so it kept other first occurrences (line, cause address) than the one-thread analysis and listed
/// them in another order. Captures never do this (sequence numbers only grow); for such a trace both
/// analyses must still find the same (class, observer, cause) hazards with the same counts, and the fuzz
/// target checks exactly that.
#[test]
fn sequence_numbers_that_jump_back_give_the_same_hazards_on_two_threads() {
    use cohtrace_analyzer::analysis::{analyze, analyze_with_threads};
    use cohtrace_analyzer::model::{Mode, ModelConfig, ResetState};
    let data = std::fs::read(fuzz_dir().join("regressions/trace/seq-jumps-back-two-threads.ctrace")).unwrap();
    let t = TraceFile::from_bytes(fuzzing::fix_checksums(&data)).unwrap();
    let cfg = ModelConfig { mode: Mode::Speculative, system_cache: true, reset: ResetState::Unknown, ..Default::default() };
    let keys = |a: &cohtrace_analyzer::analysis::Analysis| {
        let mut k: Vec<_> = a.log.hazards().iter().map(|h| (h.class, h.observer.pc, h.cause.pc, h.count)).collect();
        k.sort();
        k
    };
    let one = analyze(&t, cfg, |_| {});
    let two = analyze_with_threads(&t, cfg, 2, |_| {});
    assert!(one.log.hazards().len() >= 4, "{}", one.log.hazards().len());
    assert_eq!(keys(&one), keys(&two));
    assert_eq!(one.damage, two.damage);
    assert!(one.damage.is_some(), "the minimized input ends inside a record");
}

/// Found by `cargo fuzz run trace` (regressions/trace/huge-bulk-range.ctrace, a mutated seed): a 605-byte
/// trace whose bulk record claimed a range of gigabytes; the model grew its line table past the fuzzing
/// allocator's bound. The decoder now refuses a range record longer than `MAX_RANGE_LEN`, with a located
/// error, and the records before it are still judged.
#[test]
fn a_range_record_longer_than_the_format_allows_is_refused_where_it_is() {
    let data = std::fs::read(fuzz_dir().join("regressions/trace/huge-bulk-range.ctrace")).unwrap();
    let t = TraceFile::from_bytes(fuzzing::fix_checksums(&data)).unwrap();
    let mut ev = t.events();
    let n = ev.by_ref().count();
    let d = ev.error().expect("the bulk record's length is out of range");
    assert_eq!((d.chunk, d.offset), (0, t.chunks[0].offset), "{d}");
    assert!(d.reason.contains("extension"), "expected a bad-extension error after {n} events, got {d}");
    cohtrace_analyzer::fuzzing::trace(&data);
}
