//! A test helper: a reader that hands out its bytes a few at a time, as a
//! network peer might, so that a parser is shown to give the same answer
//! however the bytes of a message are split. Used by the unit tests and by
//! the fuzz oracles (`fuzz_oracle`); not in the shipped library.

use std::io::{self, Read};

/// A reader that hands out `data` at most `step` bytes per read (all that
/// is asked for when `step` is 0), as a network peer might.
pub(crate) struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl<'a> Trickle<'a> {
    pub(crate) fn new(data: &'a [u8], step: usize) -> Trickle<'a> {
        Trickle { data, step }
    }
}

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut n = out.len().min(self.data.len());
        if self.step > 0 {
            n = n.min(self.step);
        }
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}
