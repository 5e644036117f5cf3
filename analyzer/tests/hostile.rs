//! Hostile traces too large to commit or to fuzz, built in memory: the reader's memory must not grow with
//! a chunk's size or the number of vCPUs, its work must stay linear in the number of streams, and the
//! replay must deliver every record (the paths `analyze` takes) whatever the sequence numbers and chunk
//! sizes. Runs under the fuzz targets' allocation bound (a global BoundedAlloc).

use cohtrace_analyzer::fuzzing::BoundedAlloc;
use cohtrace_analyzer::trace::{Geometry, Header, TraceFile, TraceWriter};

#[global_allocator]
static ALLOC: BoundedAlloc = BoundedAlloc::new();

/// The allocation peaks are process-wide: one test at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn header() -> Vec<u8> {
    Header::new(Geometry::default(), vec![]).to_bytes()
}

/// A chunk frame as the writer makes it (docs/trace-format.md), for payloads the writer would not write.
fn frame(vcpu: u16, records: u32, first_seq: u64, payload: &[u8]) -> Vec<u8> {
    let mut f = b"CHNK".to_vec();
    f.extend_from_slice(&[1, 0]);
    f.extend_from_slice(&vcpu.to_le_bytes());
    f.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    f.extend_from_slice(&records.to_le_bytes());
    f.extend_from_slice(&first_seq.to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&f[4..24]);
    h.update(payload);
    f.extend_from_slice(&h.finalize().to_le_bytes());
    f.extend_from_slice(payload);
    f
}

/// One regime record (tag 6, value 0): two bytes.
const REGIME: [u8; 2] = [6, 0];

/// Records delivered by `replay` (the analysis path) and by `next_record` (the iterator path), and the damage.
fn counts(t: &TraceFile) -> (u64, u64) {
    let mut replayed = 0u64;
    t.events().replay(|_, _, _, _| replayed += 1);
    let mut ev = t.events();
    let mut iterated = 0u64;
    while ev.next_record().is_some() {
        iterated += 1;
    }
    (replayed, iterated)
}

/// A single 20 MB chunk of one-byte predicted accesses: 20 M records. Decoding it whole took 48 bytes per
/// record (960 MB); the reader now decodes a bounded batch at a time.
#[test]
fn a_huge_chunk_is_decoded_in_bounded_batches() {
    let _serial = serial();
    const N: usize = 20_000_000;
    // A new instruction's access with every field (pc 0x1000, PA 0x4000_0000, stride 0 after the first
    // repeat), the same instruction again by reference, then N predicted accesses of one byte each.
    let mut payload = vec![2, 0, 0x80, 0x40, 0x0f, 0x80, 0x80, 0x80, 0x80, 0x08, 0, 0xff, 0x07, 0x03, 1, 0];
    payload.extend(std::iter::repeat_n(0u8, N));
    let mut bytes = header();
    bytes.extend(frame(0, N as u32 + 2, 0, &payload));
    drop(payload);
    let t = TraceFile::from_bytes(bytes).unwrap();
    ALLOC.reset_peak();
    let base = ALLOC.live();
    let (replayed, iterated) = counts(&t);
    let grew = ALLOC.peak() - base;
    assert_eq!((replayed, iterated), (N as u64 + 2, N as u64 + 2));
    assert!(grew < 16 << 20, "decoding a 20 MB chunk took {} MB", grew >> 20);
}

/// 65536 vCPUs with one record each, then more chunks for all of them: streams were found by a linear
/// search per chunk and merged by a linear scan per record (5.6 s for the first part alone). That the merge
/// does O(1) head reads per record is pinned, without a clock, in trace::merge's tests.
#[test]
fn many_vcpus_are_merged_in_linear_time() {
    let _serial = serial();
    let vcpus: u32 = if cfg!(debug_assertions) { 8192 } else { 65536 };
    let mut bytes = header();
    for round in 0..3u64 {
        for v in 0..vcpus {
            bytes.extend(frame(v as u16, 1, round * vcpus as u64 + v as u64, &REGIME));
        }
    }
    let t = TraceFile::from_bytes(bytes).unwrap();
    ALLOC.reset_peak();
    let base = ALLOC.live();
    let (replayed, iterated) = counts(&t);
    let events = t.events().count() as u64;
    let grew = ALLOC.peak() - base;
    let n = 3 * vcpus as u64;
    assert_eq!((replayed, iterated, events), (n, n, n));
    assert!(grew < 256 << 20, "{vcpus} vCPUs took {} MB", grew >> 20);
}

/// Two vCPUs, one record with sequence number u64::MAX: the 2-stream replay stopped before it (a strict
/// comparison against u64::MAX as "none yet"), silently dropping it.
#[test]
fn a_record_numbered_u64_max_is_replayed() {
    let _serial = serial();
    let mut w = TraceWriter::new(Vec::new(), &Header::new(Geometry::default(), vec![])).unwrap();
    let regime = cohtrace_analyzer::trace::Record { kind: 5, ..Default::default() };
    let two = [regime, cohtrace_analyzer::trace::Record { seq: 1, ..regime }];
    w.write_chunk(0, 0, &two).unwrap();
    w.write_chunk(1, u64::MAX, &[regime]).unwrap();
    let t = TraceFile::from_bytes(w.finish(0).unwrap().0).unwrap();
    assert_eq!(counts(&t), (3, 3));
}

/// An empty chunk (the writer never writes one) between two chunks of a vCPU, while the other vCPU is
/// done: the multi-stream replay took the empty batch for the end of everything.
#[test]
fn an_empty_chunk_does_not_end_the_replay() {
    let _serial = serial();
    let mut bytes = header();
    bytes.extend(frame(1, 1, 0, &REGIME));
    bytes.extend(frame(0, 1, 1, &REGIME));
    bytes.extend(frame(0, 0, 2, &[]));
    bytes.extend(frame(0, 2, 2, &[6, 0, 6, 0]));
    let t = TraceFile::from_bytes(bytes).unwrap();
    assert!(t.damage.is_none());
    assert_eq!(counts(&t), (4, 4));
    let mut ev = t.events();
    ev.by_ref().for_each(drop);
    assert!(ev.error().is_none(), "{:?}", ev.error());
}

/// A marker whose arguments straddle a batch boundary still gets them (replay hands a record the rest of
/// its batch as `following`): a chunk of more than one batch of regimes with markers at every offset near
/// the boundary.
#[test]
fn marker_arguments_stay_with_their_marker_across_batches() {
    let _serial = serial();
    use cohtrace_analyzer::event::{Event, MarkerKind};
    use cohtrace_analyzer::trace::Record;
    let regime = Record { kind: 5, ..Default::default() };
    let mut recs = Vec::new();
    let mut markers = 0;
    while recs.len() < 200_000 {
        let near = (recs.len() % 65536) > 65530 || recs.len() % 65536 < 3;
        if near || recs.len() % 1000 == 0 {
            // NameRange: the marker and three arguments (X2, then the name in two words).
            recs.push(Record { kind: 6, info: 2, pc: 0x40, insn: 1, b: 7, a: 0x4000_0000, ..Default::default() });
            recs.push(Record { kind: 7, a: 0x1000, insn: 1, ..Default::default() });
            recs.push(Record { kind: 7, a: u64::from_le_bytes(*b"virtqueu"), insn: 1, ..Default::default() });
            recs.push(Record { kind: 7, a: u64::from_le_bytes(*b"e\0\0\0\0\0\0\0"), insn: 1, ..Default::default() });
            markers += 1;
        } else {
            recs.push(regime);
        }
    }
    for (i, r) in recs.iter_mut().enumerate() {
        r.seq = i as u32;
    }
    let mut w = TraceWriter::new(Vec::new(), &Header::new(Geometry::default(), vec![])).unwrap();
    w.write_chunk(0, 0, &recs).unwrap();
    let t = TraceFile::from_bytes(w.finish(0).unwrap().0).unwrap();
    let mut seen = 0;
    t.events().replay(|_, _, r, following| {
        if r.kind == 6 {
            let args: Vec<u64> = following.iter().take(3).map(|(_, a)| a.a).collect();
            assert_eq!(args, [0x1000, u64::from_le_bytes(*b"virtqueu"), u64::from_le_bytes(*b"e\0\0\0\0\0\0\0")]);
            seen += 1;
        }
    });
    assert_eq!(seen, markers);
    let named = t
        .events()
        .filter(|e| matches!(e, Event::Marker(m) if m.kind == MarkerKind::NameRange && m.name_str() == "virtqueue" && m.args[2] == 0x1000))
        .count();
    assert_eq!(named, markers);
}
