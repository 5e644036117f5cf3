//! The one merge of per-vCPU record streams into global order (docs/trace-format.md, "Ordering"): the trace
//! reader and the plugin's online model both pick the next stream with it.
//!
//! A stream is anything that can say the sequence number of its next record (`Heads`). `Merge::next` names
//! the stream whose head comes first (ties go to the lower stream index), optionally only if it lies below a
//! watermark; the caller then consumes that head (and may consume more of the same stream, e.g. a marker's
//! argument records) before asking again. Up to `SCAN_STREAMS` streams it scans their heads; beyond, it
//! keeps them in a heap, so a trace with thousands of vCPUs merges in O(log n) per record.

use super::codes::DEVICE_STREAM;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The index a stream takes among the merged streams so that ties break by the format's rule
/// (docs/trace-format.md, "Ordering"): at an equal sequence number the device stream's record comes
/// first, so it is stream 0 and vCPU `v` is stream `v + 1`. The online model's queues use it; the trace
/// reader puts the device stream first among its streams too.
#[inline]
pub fn stream_index(vcpu: u16) -> usize {
    if vcpu == DEVICE_STREAM { 0 } else { vcpu as usize + 1 }
}

/// The inverse of `stream_index`: the chunk `vcpu` field of stream `i`.
#[inline]
pub fn stream_vcpu(i: usize) -> u16 {
    if i == 0 { DEVICE_STREAM } else { (i - 1) as u16 }
}

/// The streams being merged.
pub trait Heads {
    fn count(&self) -> usize;
    /// Sequence number of stream `i`'s next record, `None` when it has none (now). May load more data.
    fn head(&mut self, i: usize) -> Option<u64>;
}

/// Up to this many streams the merge scans their heads; beyond, it keeps them in a heap.
pub const SCAN_STREAMS: usize = 8;

#[derive(Debug, Default)]
pub struct Merge {
    /// Heap mode: (head sequence number, stream) of every stream with a head, except `taken`.
    heap: BinaryHeap<Reverse<(u64, usize)>>,
    use_heap: bool,
    /// The heap must be rebuilt from the heads (at start, and after `refresh`).
    stale: bool,
    /// The stream `next` returned last: its head has moved and goes back into the heap at the next call.
    taken: Option<usize>,
}

impl Merge {
    pub fn new(streams: usize) -> Merge {
        Merge { heap: BinaryHeap::new(), use_heap: streams > SCAN_STREAMS, stale: true, taken: None }
    }

    /// Streams gained records from outside (the online model's queues): heads are read afresh.
    pub fn refresh(&mut self, streams: usize) {
        self.use_heap = streams > SCAN_STREAMS;
        self.stale = true;
        self.taken = None;
    }

    /// The stream whose head comes next in global order; with a watermark `below`, only if that head's
    /// sequence number is below it (`None`: no watermark).
    #[inline]
    pub fn next<H: Heads>(&mut self, streams: &mut H, below: Option<u64>) -> Option<usize> {
        let ok = |seq: u64| below.is_none_or(|w| seq < w);
        if !self.use_heap {
            let mut best: Option<(u64, usize)> = None;
            for i in 0..streams.count() {
                if let Some(seq) = streams.head(i)
                    && best.is_none_or(|(b, _)| seq < b)
                {
                    best = Some((seq, i));
                }
            }
            return best.filter(|(seq, _)| ok(*seq)).map(|(_, i)| i);
        }
        if self.stale {
            self.heap.clear();
            for i in 0..streams.count() {
                if let Some(seq) = streams.head(i) {
                    self.heap.push(Reverse((seq, i)));
                }
            }
            self.stale = false;
        } else if let Some(i) = self.taken.take()
            && let Some(seq) = streams.head(i)
        {
            self.heap.push(Reverse((seq, i)));
        }
        self.taken = None;
        loop {
            let &Reverse((seq, i)) = self.heap.peek()?;
            // Only the stream taken last moves between calls, so an entry is its stream's head; a caller
            // that broke that rule gets the entry corrected rather than a wrong order.
            match streams.head(i) {
                Some(h) if h == seq => {
                    if !ok(seq) {
                        return None;
                    }
                    self.heap.pop();
                    self.taken = Some(i);
                    return Some(i);
                }
                Some(h) => {
                    self.heap.pop();
                    self.heap.push(Reverse((h, i)));
                }
                None => {
                    self.heap.pop();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    struct Queues(Vec<VecDeque<u64>>, u64);

    impl Heads for Queues {
        fn count(&self) -> usize {
            self.0.len()
        }
        fn head(&mut self, i: usize) -> Option<u64> {
            self.1 += 1; // head reads: the merge's work
            self.0[i].front().copied()
        }
    }

    fn rng(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// Deals `n` increasing sequence numbers at random to `streams` streams (some stay empty).
    fn deal(n: u64, streams: usize, start: u64, seed: u64) -> Queues {
        let mut r = rng(seed);
        let mut q = Queues(vec![VecDeque::new(); streams], 0);
        let mut seq = start;
        for _ in 0..n {
            seq = seq.saturating_add(1 + r() % 3);
            q.0[(r() % streams as u64) as usize].push_back(seq);
        }
        q
    }

    fn drain(q: &mut Queues, m: &mut Merge, below: Option<u64>) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(i) = m.next(q, below) {
            out.push(q.0[i].pop_front().unwrap());
        }
        out
    }

    #[test]
    fn random_interleavings_come_out_in_order_scan_and_heap() {
        for (streams, seed) in [(1, 1), (2, 2), (3, 3), (8, 4), (9, 5), (64, 6), (1000, 7)] {
            let mut q = deal(20_000, streams, 0, seed);
            let mut want: Vec<u64> = q.0.iter().flatten().copied().collect();
            want.sort();
            let got = drain(&mut q, &mut Merge::new(streams), None);
            assert_eq!(got, want, "{streams} streams");
        }
    }

    #[test]
    fn the_heap_reads_a_bounded_number_of_heads_per_record() {
        // A scan per record over 65536 streams took seconds (hostile.rs); the heap must not depend on n.
        for streams in [16, 4096, 65536] {
            let mut q = deal(200_000, streams, 0, 13);
            let n: u64 = q.0.iter().map(|d| d.len() as u64).sum();
            let got = drain(&mut q, &mut Merge::new(streams), None);
            assert_eq!(got.len() as u64, n);
            assert!(q.1 <= streams as u64 + 3 * n, "{streams} streams: {} head reads for {n} records", q.1);
        }
    }

    #[test]
    fn empty_streams_and_no_streams() {
        let mut none = Queues(Vec::new(), 0);
        assert_eq!(Merge::new(0).next(&mut none, None), None);
        for streams in [3, 20] {
            let mut q = Queues(vec![VecDeque::new(); streams], 0);
            q.0[streams - 1].extend([5, 6]);
            assert_eq!(drain(&mut q, &mut Merge::new(streams), None), vec![5, 6]);
        }
    }

    #[test]
    fn sequence_numbers_at_the_top_of_the_range() {
        for streams in [2, 12] {
            let mut q = Queues(vec![VecDeque::new(); streams], 0);
            q.0[0].extend([u64::MAX - 2, u64::MAX]);
            q.0[1].extend([u64::MAX - 1]);
            let got = drain(&mut q, &mut Merge::new(streams), None);
            assert_eq!(got, vec![u64::MAX - 2, u64::MAX - 1, u64::MAX], "{streams} streams");
        }
    }

    #[test]
    fn ties_go_to_the_lower_stream_in_both_modes() {
        for streams in [2, 12] {
            let mut q = Queues(vec![VecDeque::new(); streams], 0);
            q.0[1].push_back(7);
            q.0[0].push_back(7);
            let mut m = Merge::new(streams);
            assert_eq!(m.next(&mut q, None), Some(0));
            q.0[0].pop_front();
            assert_eq!(m.next(&mut q, None), Some(1));
        }
    }

    #[test]
    fn a_device_record_comes_before_a_vcpu_record_with_its_number() {
        // The device stream repeats numbers (several transfers while no vCPU record was written) and ties
        // with vCPU 1 at 7: stream_index puts it first.
        for vcpus in [2usize, 12] {
            let mut q = Queues(vec![VecDeque::new(); vcpus + 1], 0);
            let mut put = |vcpu: u16, seqs: &[u64]| q.0[stream_index(vcpu)].extend(seqs);
            put(DEVICE_STREAM, &[3, 3, 7, 7, 9]);
            put(0, &[1, 2, 4, 9]);
            put(1, &[5, 6, 7, 8]);
            let mut m = Merge::new(vcpus + 1);
            let mut got = Vec::new();
            while let Some(i) = m.next(&mut q, None) {
                got.push((stream_vcpu(i), q.0[i].pop_front().unwrap()));
            }
            let d = DEVICE_STREAM;
            assert_eq!(got, vec![(0, 1), (0, 2), (d, 3), (d, 3), (0, 4), (1, 5), (1, 6), (d, 7), (d, 7), (1, 7), (1, 8), (d, 9), (0, 9)]);
        }
        for v in [0u16, 1, 7, DEVICE_STREAM - 1, DEVICE_STREAM] {
            assert_eq!(stream_vcpu(stream_index(v)), v);
        }
    }

    #[test]
    fn a_watermark_stalls_and_resumes_when_streams_grow() {
        for streams in [3, 16] {
            let mut q = deal(5_000, streams, 0, 11);
            let all: Vec<u64> = {
                let mut v: Vec<u64> = q.0.iter().flatten().copied().collect();
                v.sort();
                v
            };
            // Hold back the second half: it arrives later, as the online model's queues fill.
            let cut = all[all.len() / 2];
            let mut later: Vec<VecDeque<u64>> = q.0.iter_mut().map(|d| d.iter().copied().filter(|s| *s >= cut).collect()).collect();
            for d in q.0.iter_mut() {
                d.retain(|s| *s < cut);
            }
            let mut m = Merge::new(streams);
            let w = all[all.len() / 4];
            let first = drain(&mut q, &mut m, Some(w));
            assert!(first.iter().all(|s| *s < w) && first.len() == all.iter().filter(|s| **s < w).count());
            // Stalled: nothing below the watermark is left, however often it asks.
            assert_eq!(m.next(&mut q, Some(w)), None);
            assert_eq!(m.next(&mut q, Some(w)), None);
            for (d, l) in q.0.iter_mut().zip(later.iter_mut()) {
                d.extend(l.drain(..));
            }
            m.refresh(streams);
            let rest = drain(&mut q, &mut m, None);
            let mut got = first;
            got.extend(rest);
            assert_eq!(got, all, "{streams} streams");
        }
    }

    #[test]
    fn a_caller_may_take_more_than_the_head_of_the_stream_it_got() {
        // Marker arguments: the caller takes the following records of the same stream too.
        for streams in [2, 10] {
            let mut q = Queues(vec![VecDeque::new(); streams], 0);
            q.0[0].extend([1, 2, 3, 10]);
            q.0[1].extend([4, 5]);
            let mut m = Merge::new(streams);
            let i = m.next(&mut q, None).unwrap();
            assert_eq!(i, 0);
            q.0[0].drain(..3);
            assert_eq!(drain(&mut q, &mut m, None), vec![4, 5, 10]);
        }
    }
}
