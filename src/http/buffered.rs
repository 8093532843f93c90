//! A read buffer in front of a stream that keeps what it read ahead, so that
//! pipelined requests and an upgrade's first bytes are never lost.

use std::io::{self, Read, Write};

const INITIAL_CAPACITY: usize = 8 * 1024;

/// A stream with a read-ahead buffer. Writes go straight to the stream.
pub struct BufferedStream<S> {
    stream: S,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<S: Read> BufferedStream<S> {
    pub fn new(stream: S) -> BufferedStream<S> {
        BufferedStream {
            stream,
            buf: Vec::new(),
            start: 0,
            end: 0,
        }
    }

    /// The bytes read ahead and not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Marks `n` buffered bytes as consumed.
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads more bytes from the stream into the buffer, growing it up to
    /// `limit` buffered bytes. Returns how many were added: 0 at end of stream.
    pub fn fill(&mut self, limit: usize) -> io::Result<usize> {
        if self.start > 0 && self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            // Not `clamp`: it panics when the limit is below the initial
            // capacity (a server with a small maxHeaderSize).
            let want = (self.buf.len() * 2)
                .max(INITIAL_CAPACITY)
                .min(limit.max(self.end + 1));
            if want <= self.buf.len() {
                return Err(io::Error::other("read buffer limit reached"));
            }
            self.buf.resize(want, 0);
        }
        let n = self.stream.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// Reads into `out`, first from the buffer, then from the stream.
    pub fn read_some(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.start < self.end {
            let n = out.len().min(self.end - self.start);
            out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
            self.consume(n);
            return Ok(n);
        }
        self.stream.read(out)
    }

    /// Drops the buffer's memory when nothing is buffered (an idle connection
    /// should cost little).
    pub fn shrink_when_empty(&mut self) {
        if self.start == self.end {
            self.buf = Vec::new();
            self.start = 0;
            self.end = 0;
        }
    }

    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Gives back the stream and the bytes read ahead.
    pub fn into_parts(self) -> (S, Vec<u8>) {
        let rest = self.buf[self.start..self.end].to_vec();
        (self.stream, rest)
    }
}

impl<S: Read> Read for BufferedStream<S> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.read_some(out)
    }
}

impl<S: Read + Write> Write for BufferedStream<S> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.stream.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_below_the_initial_capacity_is_honoured_without_a_panic() {
        // Regression: `fill` used `clamp(8192, limit)`, which panics for a
        // limit under 8 KiB (nhttps_server_options_set_max_header_size(64..8191)).
        let mut stream = BufferedStream::new(&b"GET / HTTP/1.1\r\n\r\n"[..]);
        assert_eq!(stream.fill(65).unwrap(), 18);
        let mut long = BufferedStream::new(&[b'a'; 200][..]);
        assert_eq!(long.fill(65).unwrap(), 65);
        // Past the limit the buffer grows a byte at a time: enough for a
        // caller to see that the limit was passed.
        assert_eq!(long.fill(65).unwrap(), 1);
    }

    #[test]
    fn consumed_bytes_make_room_before_the_buffer_grows() {
        let mut stream = BufferedStream::new(&[b'a'; 100][..]);
        assert_eq!(stream.fill(40).unwrap(), 40);
        stream.consume(30);
        assert_eq!(stream.fill(40).unwrap(), 30);
        assert_eq!(stream.buffered().len(), 40);
    }
}
