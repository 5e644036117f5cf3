//! LEB128 varints and zigzag, the only integer encodings in a chunk payload.

#[inline(always)]
pub fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline(always)]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline(always)]
pub fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

/// A bounds-checked cursor over a chunk payload; every read reports running off the end.
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncated;

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf, pos: 0 }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline(always)]
    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The next `n` bytes as a cursor of their own (an extension record's payload), skipping them here.
    pub fn take(&mut self, n: usize) -> Result<Cursor<'a>, Truncated> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or(Truncated)?;
        let sub = Cursor { buf: &self.buf[self.pos..end], pos: 0 };
        self.pos = end;
        Ok(sub)
    }

    #[inline(always)]
    pub fn skip(&mut self, n: usize) {
        self.pos += n;
    }

    #[inline(always)]
    pub fn byte(&mut self) -> Result<u8, Truncated> {
        let b = *self.buf.get(self.pos).ok_or(Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    #[inline(always)]
    pub fn varint(&mut self) -> Result<u64, Truncated> {
        let first = self.byte()?;
        if first < 0x80 {
            return Ok(first as u64);
        }
        let mut v = (first & 0x7f) as u64;
        let mut shift = 7;
        loop {
            let b = self.byte()?;
            if shift >= 64 {
                // More than ten bytes: not something our encoder writes.
                return Err(Truncated);
            }
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Ok(v);
            }
            shift += 7;
        }
    }

    #[inline(always)]
    pub fn zigzag(&mut self) -> Result<i64, Truncated> {
        self.varint().map(unzigzag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_the_edges() {
        let values = [0u64, 1, 127, 128, 255, 16383, 16384, u32::MAX as u64, u64::MAX - 1, u64::MAX];
        let mut buf = Vec::new();
        for v in values {
            put(&mut buf, v);
        }
        let mut c = Cursor::new(&buf);
        for v in values {
            assert_eq!(c.varint(), Ok(v));
        }
        assert!(c.is_empty());
        assert_eq!(c.varint(), Err(Truncated));
    }

    #[test]
    fn zigzag_round_trips() {
        for v in [0i64, 1, -1, 63, -64, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn overlong_varint_is_an_error_not_a_panic() {
        let buf = [0xffu8; 12];
        assert_eq!(Cursor::new(&buf).varint(), Err(Truncated));
    }
}
