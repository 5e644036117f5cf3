use super::*;
use crate::event::{Access, AccessKind, Event};
use crate::memtype::MemType;

fn access(vcpu: u16, pa: u64, store: bool) -> Event {
    Event::Access(Access {
        vcpu,
        pc: 0x4010_0000 + (store as u64) * 4,
        va: pa,
        pa,
        size: 8,
        kind: if store { AccessKind::Store } else { AccessKind::Load },
        mem: MemType::NORMAL_WB,
        mmio: false,
    })
}

/// A trace with `chunks` chunks of `per` records for vCPU 0, interleaved with vCPU 1 when `two`.
fn build(chunks: usize, per: usize, two: bool, finish: bool) -> (Vec<u8>, Vec<Event>) {
    let header = Header::new(Geometry::default(), vec![("qemu".into(), "10.2.2".into())]);
    let mut w = TraceWriter::new(Vec::new(), &header).unwrap();
    let mut all = Vec::new();
    let mut seq = 0u64;
    for c in 0..chunks {
        for vcpu in 0..if two { 2 } else { 1 } {
            let base = seq;
            let mut recs = Vec::new();
            for i in 0..per {
                let ev = access(vcpu, 0x4000_0000 + ((c * per + i) as u64) * 8, i % 2 == 1);
                let mut r = Record::from_event(&ev, 1 + (i % 2) as u32 + vcpu as u32 * 2)[0];
                // Two vCPUs interleave in global order: give them alternating sequence numbers.
                r.seq = if two { (i * 2) as u32 } else { i as u32 };
                recs.push(r);
                all.push((base + if two { (i * 2) as u64 + vcpu as u64 } else { i as u64 }, ev));
            }
            w.write_chunk(vcpu, base + vcpu as u64, &recs).unwrap();
        }
        seq += per as u64 * if two { 2 } else { 1 };
    }
    let bytes = if finish { w.finish(0).unwrap().0 } else { w.abandon() };
    all.sort_by_key(|(s, _)| *s);
    (bytes, all.into_iter().map(|(_, e)| e).collect())
}

#[test]
fn a_finished_trace_reads_back_completely() {
    let (bytes, events) = build(3, 100, false, true);
    let t = TraceFile::from_bytes(bytes).unwrap();
    assert_eq!(t.header.get("qemu"), Some("10.2.2"));
    assert!(t.damage.is_none());
    assert_eq!(t.end.unwrap().records, 300);
    let back: Vec<Event> = t.events().collect();
    assert_eq!(back, events);
}

#[test]
fn two_vcpus_merge_in_sequence_order() {
    let (bytes, events) = build(2, 50, true, true);
    let t = TraceFile::from_bytes(bytes).unwrap();
    assert_eq!(t.vcpus(), vec![0, 1]);
    let back: Vec<Event> = t.events().collect();
    assert_eq!(back.len(), events.len());
    assert_eq!(back, events);
}

#[test]
fn skipping_to_a_sequence_number_drops_only_whole_chunks_before_it() {
    for two in [false, true] {
        let (bytes, events) = build(4, 100, two, true);
        let t = TraceFile::from_bytes(bytes).unwrap();
        let all: Vec<(u64, Record)> = {
            let mut e = t.events();
            std::iter::from_fn(|| e.next_record().map(|(_, s, r)| (s, r))).collect()
        };
        assert_eq!(all.len(), events.len());
        for from in [0, 1, 150, 199, 200, 201, 399, 10_000] {
            let mut e = t.events();
            e.skip_to(from);
            let got: Vec<(u64, Record)> = std::iter::from_fn(|| e.next_record().map(|(_, s, r)| (s, r))).collect();
            let want: Vec<&(u64, Record)> = all.iter().filter(|(s, _)| *s >= from).collect();
            let kept: Vec<&(u64, Record)> = got.iter().filter(|(s, _)| *s >= from).collect();
            assert_eq!(kept, want, "two {two}, from {from}: every record at or after it");
            let streams = if two { 2 } else { 1 };
            assert!(got.len() - kept.len() <= 100 * streams, "two {two}, from {from}: at most one chunk per stream before it");
            if from >= 100 * streams as u64 && from < 400 {
                assert!(got.len() < all.len(), "two {two}, from {from}: whole chunks skipped");
            }
        }
    }
}

#[test]
fn a_growing_trace_counts_the_records_of_its_whole_chunks() {
    let (bytes, _) = build(3, 100, false, true);
    let t = TraceFile::from_bytes(bytes.clone()).unwrap();
    let dir = std::env::temp_dir().join(format!("cohtrace-growing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.ctrace");
    let mut g = reader::GrowingTrace::new(&path);
    g.poll();
    assert_eq!((g.bytes, g.records), (0, 0), "not there yet");
    // Cut: before the first chunk ends, in the second, after the third, and the whole file.
    let cuts = [t.chunks[0].offset as usize + 10, t.chunks[1].offset as usize + 40, t.chunks[2].offset as usize, bytes.len()];
    for (cut, records) in cuts.into_iter().zip([0, 100, 200, 300]) {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        g.poll();
        assert_eq!((g.bytes, g.records), (cut as u64, records), "cut at {cut}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_chosen_stream_reads_alone_in_order() {
    let (bytes, events) = build(3, 50, true, true);
    let t = TraceFile::from_bytes(bytes).unwrap();
    for v in [0, 1] {
        let back: Vec<Event> = t.events_of(|s| s == v).collect();
        let want: Vec<Event> = events.iter().filter(|e| e.vcpu() == v).copied().collect();
        assert_eq!(back, want, "vCPU {v}");
    }
    assert_eq!(t.events_of(|_| false).count(), 0);
}

#[test]
fn a_truncated_trace_reads_up_to_its_last_whole_chunk() {
    let (bytes, events) = build(4, 100, false, false);
    let t = TraceFile::from_bytes(bytes.clone()).unwrap();
    assert!(t.damage.is_none() && t.end.is_none(), "unfinished but undamaged");
    // Cut in the middle of the third chunk.
    let third = t.chunks[2].offset as usize;
    let cut = third + 40;
    let t = TraceFile::from_bytes(bytes[..cut].to_vec()).unwrap();
    let d = t.damage.clone().expect("damage reported");
    assert_eq!(d.chunk, 2);
    assert_eq!(d.offset, third as u64);
    assert!(d.reason.contains("truncated"), "{d}");
    let back: Vec<Event> = t.events().collect();
    assert_eq!(back, events[..200]);
}

#[test]
fn a_flipped_byte_is_located_by_its_chunk_checksum() {
    let (mut bytes, events) = build(3, 100, false, true);
    let t = TraceFile::from_bytes(bytes.clone()).unwrap();
    let second = t.chunks[1];
    bytes[second.offset as usize + CHUNK_HEADER + 5] ^= 0x10;
    let t = TraceFile::from_bytes(bytes).unwrap();
    let d = t.damage.clone().unwrap();
    assert_eq!((d.chunk, d.offset), (1, second.offset));
    assert!(d.reason.contains("checksum mismatch"), "{d}");
    assert!(t.end.is_none(), "nothing after the damage is trusted");
    let back: Vec<Event> = t.events().collect();
    assert_eq!(back, events[..100]);
}

#[test]
fn header_damage_is_a_clear_error() {
    let (bytes, _) = build(1, 10, false, true);
    let mut bad = bytes.clone();
    bad[0] = b'X';
    assert!(matches!(TraceFile::from_bytes(bad), Err(TraceError::BadMagic { .. })));
    let mut bad = bytes.clone();
    bad[12] ^= 1;
    let e = TraceFile::from_bytes(bad).err().unwrap();
    assert!(e.to_string().contains("checksum"), "{e}");
    let mut bad = bytes.clone();
    bad[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(TraceFile::from_bytes(bad), Err(TraceError::MetaTooLong { .. })));
    assert!(matches!(TraceFile::from_bytes(bytes[..10].to_vec()), Err(TraceError::HeaderTruncated { .. })));
    assert!(matches!(TraceFile::from_bytes(Vec::new()), Err(TraceError::BadMagic { .. })));
}

#[test]
fn a_huge_length_field_is_rejected_before_use() {
    let (mut bytes, _) = build(2, 10, false, true);
    let t = TraceFile::from_bytes(bytes.clone()).unwrap();
    let off = t.chunks[1].offset as usize;
    bytes[off + 8..off + 12].copy_from_slice(&u32::MAX.to_le_bytes());
    let t = TraceFile::from_bytes(bytes).unwrap();
    let d = t.damage.unwrap();
    assert_eq!(d.chunk, 1);
    assert!(d.reason.contains("exceeds"), "{}", d.reason);
}

#[test]
fn the_device_stream_is_no_vcpu_and_wins_ties() {
    use crate::event::{Dma, DmaPath};
    use codes::DEVICE_STREAM;
    let dma = |pa: u64| Event::Dma(Dma { device: 1, pa, len: 64, write: true, path: DmaPath::Rw });
    let mut w = TraceWriter::new(Vec::new(), &Header::new(Geometry::default(), vec![])).unwrap();
    // vCPU 0 writes 0..4 first (its chunk comes first in the file); the device's transfers took numbers
    // 2, 2 and 4 from the counter: each comes before vCPU 0's record with that number.
    let cpu: Vec<Record> = (0..5).map(|i| Record { seq: i, ..Record::from_event(&access(0, 0x4000_0000 + 8 * i as u64, false), 1)[0] }).collect();
    w.write_chunk(0, 0, &cpu).unwrap();
    let mut dev = Record::device_name_parts(1, "virtio-blk@a003e00");
    dev.extend([0x4100_0000, 0x4100_0040, 0x4100_0080].map(|pa| Record::from_event(&dma(pa), 0)[0]));
    for (r, s) in dev.iter_mut().zip([0u32, 0, 0, 2]) {
        r.seq = s;
    }
    w.write_chunk(DEVICE_STREAM, 2, &dev).unwrap();
    let t = TraceFile::from_bytes(w.finish(0).unwrap().0).unwrap();
    assert_eq!(t.vcpus(), vec![0]);
    assert!(t.has_device_stream());
    let got: Vec<(u16, u64, u8)> = {
        let mut e = t.events();
        std::iter::from_fn(|| e.next_record().map(|(v, s, r)| (v, s, r.kind))).collect()
    };
    let (d, a, n, m) = (DEVICE_STREAM, RecordKind::Access as u8, RecordKind::DeviceName as u8, RecordKind::Dma as u8);
    assert_eq!(got, vec![(0, 0, a), (0, 1, a), (d, 2, n), (d, 2, m), (d, 2, m), (0, 2, a), (0, 3, a), (d, 4, m), (0, 4, a)]);
    // The same order through `replay` (the analysis's path).
    let mut order = Vec::new();
    t.events().replay(|v, s, r, _| order.push((v, s, r.kind)));
    assert_eq!(order, got);
}
