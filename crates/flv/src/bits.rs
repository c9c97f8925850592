//! A bounds-checked MSB-first bit reader and the H.264/H.265 emulation-prevention transforms.

use crate::error::FlvError;

/// Reads bits MSB first; every read past the end is a [`FlvError::Truncated`] naming `what`.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8], what: &'static str) -> Self {
        Self { data, pos: 0, what }
    }

    fn truncated(&self, bits: usize) -> FlvError {
        FlvError::Truncated {
            what: self.what,
            need: (self.pos + bits).div_ceil(8),
            got: self.data.len(),
        }
    }

    /// Reads `n <= 32` bits.
    pub(crate) fn bits(&mut self, n: u32) -> Result<u32, FlvError> {
        debug_assert!(n <= 32);
        let mut v: u64 = 0;
        for _ in 0..n {
            let byte = *self
                .data
                .get(self.pos / 8)
                .ok_or_else(|| self.truncated(1))?;
            let bit = (byte >> (7 - (self.pos % 8))) & 1;
            v = (v << 1) | u64::from(bit);
            self.pos += 1;
        }
        // At most 32 bits were shifted in.
        Ok(v as u32)
    }

    pub(crate) fn flag(&mut self) -> Result<bool, FlvError> {
        Ok(self.bits(1)? == 1)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), FlvError> {
        if self.pos + n > self.data.len() * 8 {
            return Err(self.truncated(n));
        }
        self.pos += n;
        Ok(())
    }

    /// Unsigned Exp-Golomb, refused above `u32::MAX - 1` (more than 31 leading zeros).
    pub(crate) fn ue(&mut self) -> Result<u32, FlvError> {
        let mut zeros = 0u32;
        while !self.flag()? {
            zeros += 1;
            if zeros > 31 {
                return Err(FlvError::BadConfig {
                    what: self.what,
                    detail: "Exp-Golomb code longer than 32 bits".into(),
                });
            }
        }
        let rest = self.bits(zeros)?;
        // zeros <= 31, so (1 << zeros) - 1 + rest <= 2^32 - 2.
        Ok(((1u64 << zeros) - 1 + u64::from(rest)) as u32)
    }
}

/// Writes bits MSB first into a growing buffer: the counterpart of [`BitReader`] for rewriting parameter sets.
#[derive(Debug, Default)]
pub(crate) struct BitWriter {
    out: Vec<u8>,
    /// Bits used in the last byte of `out` (0 = byte aligned).
    used: u32,
}

impl BitWriter {
    /// Appends the low `n <= 32` bits of `v`.
    pub(crate) fn bits(&mut self, n: u32, v: u32) {
        debug_assert!(n <= 32);
        for i in (0..n).rev() {
            let bit = ((v >> i) & 1) as u8;
            if self.used == 0 {
                self.out.push(0);
            }
            if let Some(last) = self.out.last_mut() {
                *last |= bit << (7 - self.used);
            }
            self.used = (self.used + 1) % 8;
        }
    }

    pub(crate) fn flag(&mut self, b: bool) {
        self.bits(1, u32::from(b));
    }

    /// Unsigned Exp-Golomb; every `u32` below `u32::MAX` (the largest [`BitReader::ue`] returns is `u32::MAX - 1`).
    pub(crate) fn ue(&mut self, v: u32) {
        let code = u64::from(v) + 1;
        let len = 64 - code.leading_zeros(); // bits of v + 1, at most 33
        self.bits(len - 1, 0);
        // code < 2^33: written as its top bit then the low len - 1 bits.
        self.bits(1, 1);
        self.bits(len - 1, (code & ((1u64 << (len - 1)) - 1)) as u32);
    }

    /// Adds the RBSP trailing bits (a one, then zeros to the byte boundary) and returns the bytes.
    pub(crate) fn finish_rbsp(mut self) -> Vec<u8> {
        self.flag(true);
        self.out
    }
}

/// Removes emulation-prevention bytes (the `03` of every `00 00 03`) from a NAL unit payload.
pub(crate) fn unescape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut zeros = 0;
    for &b in data {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Inserts emulation-prevention bytes so that no `00 00 0x` (x <= 3) appears in a NAL unit payload.
pub(crate) fn escape(data: &[u8], out: &mut Vec<u8>) {
    let mut zeros = 0;
    for &b in data {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb() {
        // 1 | 010 | 011 | 00100 | 00101 -> 0, 1, 2, 3, 4
        let data = [0b1010_0110, 0b0100_0010, 0b1000_0000];
        let mut r = BitReader::new(&data, "test");
        let got: Vec<u32> = (0..5).map(|_| r.ue().unwrap()).collect();
        assert_eq!(got, [0, 1, 2, 3, 4]);
        assert!(matches!(r.bits(8), Err(FlvError::Truncated { .. })));
    }

    #[test]
    fn exp_golomb_write_read_round_trip() {
        let values = [0, 1, 2, 3, 4, 7, 8, 255, 65_535, 1 << 20, u32::MAX - 1];
        let mut w = BitWriter::default();
        for &v in &values {
            w.ue(v);
        }
        w.bits(3, 0b101);
        let data = w.finish_rbsp();
        let mut r = BitReader::new(&data, "test");
        for &v in &values {
            assert_eq!(r.ue().unwrap(), v);
        }
        assert_eq!(r.bits(3).unwrap(), 0b101);
        assert!(r.flag().unwrap(), "the RBSP stop bit");
        assert!(r.bits(8).is_err(), "then zeros to the byte boundary only");
    }

    #[test]
    fn escape_round_trip() {
        let raw = [0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0, 0];
        let mut esc = Vec::new();
        escape(&raw, &mut esc);
        assert_eq!(
            esc,
            [0, 0, 3, 0, 0, 3, 0, 1, 0, 0, 3, 2, 0, 0, 3, 3, 0, 0, 4, 0, 0]
        );
        assert_eq!(unescape(&esc), raw);
    }
}
