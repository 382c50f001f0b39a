use crate::conn::Connection;
use crate::internal::BeBytes;
use crate::protocol::SpecificIdKind;
use crate::protocol::SpecificThreadId;
use core::convert::TryInto;
#[cfg(feature = "trace-pkt")]
use alloc::string::String;
#[cfg(feature = "trace-pkt")]
use alloc::vec::Vec;
use num_traits::identities::one;
use num_traits::CheckedRem;
use num_traits::PrimInt;

/// Newtype around a Connection error. Having a newtype allows implementing a
/// `From<ResponseWriterError<C>> for crate::Error<T, C>`, which greatly
/// simplifies some of the error handling in the main gdbstub.
#[derive(Debug, Clone)]
pub struct Error<C>(pub C);

/// A wrapper around [`Connection`] that computes the single-byte checksum of
/// incoming / outgoing data.
pub struct ResponseWriter<'a, C: Connection> {
    inner: &'a mut C,
    started: bool,
    checksum: u8,

    rle_enabled: bool,
    rle: Rle,

    // buffer to log outgoing packets. only allocates if logging is enabled.
    #[cfg(feature = "trace-pkt")]
    msg: Vec<u8>,
    // whether trace logging was on when the reply started (asked once, not per byte)
    #[cfg(feature = "trace-pkt")]
    trace: bool,
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Run-length encoding state: the last char seen and how many times in a row. The run is
/// written when a different char comes (or the count would leave the printable range).
#[derive(Clone, Copy)]
struct Rle {
    char: u8,
    repeat: u8,
}

const ASCII_FIRST_PRINT: u8 = b' ';
const ASCII_LAST_PRINT: u8 = b'~';

impl Rle {
    /// Writes the pending run into `out` as `push` does when a different char comes (it stays
    /// the pending run); returns the bytes written (at most 3).
    fn flush_into(&self, out: &mut [u8]) -> usize {
        let (c, mut repeat) = (self.char, self.repeat);
        let mut n = 0;
        loop {
            match repeat {
                0 => {}
                1 | 2 | 3 => {
                    out[..repeat as usize].fill(c);
                    n += repeat as usize;
                }
                7 | 8 => {
                    out[n] = c;
                    n += 1;
                    repeat -= 1;
                    continue;
                }
                _ => {
                    out[n..n + 3].copy_from_slice(&[c, b'*', ASCII_FIRST_PRINT - 4 + repeat]);
                    n += 3;
                }
            }
            return n;
        }
    }

    /// `push` of every char of `chars` into `out`, which must be at least `chars.len() + 3`
    /// long; returns the bytes written. Chars that differ from the next (most of hex-encoded
    /// text) are copied as one span.
    fn push_all(&mut self, chars: &[u8], out: &mut [u8]) -> usize {
        // The longest run one count char can say (the count stays printable).
        const MAX_RUN: u8 = ASCII_LAST_PRINT - (ASCII_FIRST_PRINT - 4);
        let mut n = 0;
        let mut i = 0;
        while i < chars.len() {
            if chars[i] == self.char {
                // The whole run at once (register and memory dumps hold long runs of `0`).
                let mut left = same_prefix(&chars[i..], self.char);
                i += left;
                while left > 0 {
                    if self.repeat == MAX_RUN {
                        n += self.flush_into(&mut out[n..]);
                        self.repeat = 0;
                    }
                    let take = left.min((MAX_RUN - self.repeat) as usize);
                    self.repeat += take as u8;
                    left -= take;
                }
                continue;
            }
            n += self.flush_into(&mut out[n..]);
            // chars[i..end - 1] are runs of one char each; chars[end - 1] starts the new run.
            let end = i + distinct_prefix(&chars[i..]);
            out[n..n + end - 1 - i].copy_from_slice(&chars[i..end - 1]);
            n += end - 1 - i;
            self.char = chars[end - 1];
            self.repeat = 1;
            i = end;
        }
        n
    }

    #[inline(always)]
    fn push<E>(&mut self, byte: u8, mut emit: impl FnMut(u8) -> Result<(), E>) -> Result<(), E> {
        let rle_printable = (ASCII_FIRST_PRINT - 4 + (self.repeat + 1)) <= ASCII_LAST_PRINT;
        if byte == self.char && rle_printable {
            self.repeat += 1;
            return Ok(());
        }
        loop {
            match self.repeat {
                0 => {} // happens once, after the first char is written
                // RLE doesn't win, just output the byte
                1 | 2 | 3 => {
                    for _ in 0..self.repeat {
                        emit(self.char)?
                    }
                }
                // RLE would output an invalid char ('#' or '$')
                7 | 8 => {
                    emit(self.char)?;
                    self.repeat -= 1;
                    continue;
                }
                // RLE wins for repetitions >4
                _ => {
                    emit(self.char)?;
                    emit(b'*')?;
                    emit(ASCII_FIRST_PRINT - 4 + self.repeat)?;
                }
            }
            self.char = byte;
            self.repeat = 1;
            return Ok(());
        }
    }
}

/// The first `k >= 1` with `s[k - 1] == s[k]`, or `s.len()` (`s` not empty): compared eight
/// pairs at a time (a zero byte of `a ^ b` is an equal pair; the lowest flagged byte is exact).
fn distinct_prefix(s: &[u8]) -> usize {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let word = |at: usize| u64::from_le_bytes(s[at..at + 8].try_into().unwrap_or([0; 8]));
    let mut k = 1;
    while k + 8 <= s.len() {
        let x = word(k - 1) ^ word(k);
        let zero = x.wrapping_sub(LOW) & !x & HIGH;
        if zero != 0 {
            return k + (zero.trailing_zeros() / 8) as usize;
        }
        k += 8;
    }
    while k < s.len() && s[k - 1] != s[k] {
        k += 1;
    }
    k
}

/// How many chars at the start of `s` are `c`: eight at a time.
fn same_prefix(s: &[u8], c: u8) -> usize {
    let pattern = u64::from_ne_bytes([c; 8]);
    let mut k = 0;
    while k + 8 <= s.len() {
        let word = u64::from_le_bytes(s[k..k + 8].try_into().unwrap_or([0; 8]));
        let x = word ^ pattern;
        if x != 0 {
            return k + (x.trailing_zeros() / 8) as usize;
        }
        k += 8;
    }
    while k < s.len() && s[k] == c {
        k += 1;
    }
    k
}

/// The two hex digits of every byte.
const HEX_PAIRS: [[u8; 2]; 256] = {
    let mut t = [[0u8; 2]; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = [HEX_DIGITS[b >> 4], HEX_DIGITS[b & 0xf]];
        b += 1;
    }
    t
};

impl<'a, C: Connection + 'a> ResponseWriter<'a, C> {
    /// Creates a new ResponseWriter
    pub fn new(inner: &'a mut C, rle_enabled: bool) -> Self {
        Self {
            inner,
            started: false,
            checksum: 0,

            rle_enabled,
            rle: Rle { char: 0, repeat: 0 },

            #[cfg(feature = "trace-pkt")]
            msg: Vec::new(),
            #[cfg(feature = "trace-pkt")]
            trace: log_enabled!(log::Level::Trace),
        }
    }

    /// Consumes self, writing out the final '#' and checksum
    pub fn flush(mut self) -> Result<(), Error<C::Error>> {
        // don't include the '#' in checksum calculation
        let checksum = if self.rle_enabled {
            self.write(b'#')?;
            // (note: even though `self.write` was called, the the '#' char hasn't been
            // added to the checksum, and is just sitting in the RLE buffer)
            self.checksum
        } else {
            let checksum = self.checksum;
            self.write(b'#')?;
            checksum
        };

        self.write_hex(checksum)?;

        // HACK: "write" a dummy char to force an RLE flush
        if self.rle_enabled {
            self.write(0)?;
        }

        #[cfg(feature = "trace-pkt")]
        trace!("--> ${}", String::from_utf8_lossy(&self.msg));

        self.inner.flush().map_err(Error)?;

        Ok(())
    }

    /// Get a mutable reference to the underlying connection.
    pub fn as_conn(&mut self) -> &mut C {
        self.inner
    }

    #[inline]
    fn inner_write(&mut self, byte: u8) -> Result<(), Error<C::Error>> {
        #[cfg(feature = "trace-pkt")]
        if self.trace {
            if self.rle_enabled {
                match self.msg.as_slice() {
                    [.., c, b'*'] => {
                        let c = *c;
                        self.msg.pop();
                        for _ in 0..(byte - 29) {
                            self.msg.push(c);
                        }
                    }
                    _ => self.msg.push(byte),
                }
            } else {
                self.msg.push(byte)
            }
        }

        if !self.started {
            self.started = true;
            self.inner.write(b'$').map_err(Error)?;
        }

        self.checksum = self.checksum.wrapping_add(byte);
        self.inner.write(byte).map_err(Error)
    }

    #[inline]
    fn write(&mut self, byte: u8) -> Result<(), Error<C::Error>> {
        if !self.rle_enabled {
            return self.inner_write(byte);
        }
        let mut rle = self.rle;
        let res = rle.push(byte, |b| self.inner_write(b));
        self.rle = rle;
        res
    }

    /// `inner_write` for several bytes (trace logging off).
    fn inner_write_all(&mut self, bytes: &[u8]) -> Result<(), Error<C::Error>> {
        if bytes.is_empty() {
            return Ok(());
        }
        if !self.started {
            self.started = true;
            self.inner.write(b'$').map_err(Error)?;
        }
        self.checksum = bytes
            .iter()
            .fold(self.checksum, |a, b| a.wrapping_add(*b));
        self.inner.write_all(bytes).map_err(Error)
    }

    /// Write an entire string over the connection.
    pub fn write_str(&mut self, s: &str) -> Result<(), Error<C::Error>> {
        for b in s.as_bytes().iter() {
            self.write(*b)?;
        }
        Ok(())
    }

    /// Write a single byte as a hex string (two ascii chars)
    fn write_hex(&mut self, byte: u8) -> Result<(), Error<C::Error>> {
        self.write(HEX_DIGITS[(byte >> 4) as usize])?;
        self.write(HEX_DIGITS[(byte & 0xf) as usize])
    }

    /// Write a byte-buffer as a hex string (i.e: two ascii chars / byte).
    ///
    /// Encodes exactly as `write_hex` byte by byte would, a chunk at a time: the digits from a
    /// lookup table, then RLE over them with spans of distinct chars copied at once, passed on
    /// in one `Connection::write_all` per chunk. The per-digit path cost several ns per digit,
    /// most of a long `monitor` reply's CPU.
    pub fn write_hex_buf(&mut self, data: &[u8]) -> Result<(), Error<C::Error>> {
        #[cfg(feature = "trace-pkt")]
        if self.trace {
            return data.iter().try_for_each(|&b| self.write_hex(b));
        }
        // The stack buffers are zeroed at every call: a `g` reply (about 800 bytes) or an `m`
        // reply fits one chunk without zeroing several KiB for it.
        const CHUNK: usize = 1024;
        let mut digits = [0u8; 2 * CHUNK];
        let mut out = [0u8; 2 * CHUNK + 3];
        for chunk in data.chunks(CHUNK) {
            let digits = &mut digits[..2 * chunk.len()];
            for (pair, &b) in digits.chunks_exact_mut(2).zip(chunk) {
                pair.copy_from_slice(&HEX_PAIRS[b as usize]);
            }
            self.write_chars(digits, &mut out)?;
        }
        Ok(())
    }

    /// Writes a chunk of encoded chars (at most `out.len() - 3`): RLE over them into `out`
    /// when RLE is on, then one `Connection::write_all`.
    fn write_chars(&mut self, chars: &[u8], out: &mut [u8]) -> Result<(), Error<C::Error>> {
        if self.rle_enabled {
            let mut rle = self.rle;
            let n = rle.push_all(chars, out);
            self.rle = rle;
            self.inner_write_all(&out[..n])
        } else {
            self.inner_write_all(chars)
        }
    }

    /// Write one byte escaped for the binary protocol.
    fn write_escaped(&mut self, b: u8) -> Result<(), Error<C::Error>> {
        match b {
            b'#' | b'$' | b'}' | b'*' => {
                self.write(b'}')?;
                self.write(b ^ 0x20)
            }
            _ => self.write(b),
        }
    }

    /// Write data using the binary protocol.
    ///
    /// Encodes exactly as `write_escaped` byte by byte would, a chunk at a time as
    /// `write_hex_buf` does: escaped into a buffer, then RLE, then one `Connection::write_all`
    /// per chunk. The per-byte path was a sixth of gostub's CPU at a gdb connect, where gdb
    /// reads the program's headers over `vFile:pread` (32 KiB replies).
    pub fn write_binary(&mut self, data: &[u8]) -> Result<(), Error<C::Error>> {
        #[cfg(feature = "trace-pkt")]
        if self.trace {
            return data.iter().try_for_each(|&b| self.write_escaped(b));
        }
        // The stack buffers are zeroed at every call: a `g` reply (about 800 bytes) or an `m`
        // reply fits one chunk without zeroing several KiB for it.
        const CHUNK: usize = 1024;
        let mut escaped = [0u8; 2 * CHUNK];
        let mut out = [0u8; 2 * CHUNK + 3];
        for chunk in data.chunks(CHUNK) {
            let mut n = 0;
            for &b in chunk {
                if matches!(b, b'#' | b'$' | b'}' | b'*') {
                    escaped[n] = b'}';
                    escaped[n + 1] = b ^ 0x20;
                    n += 2;
                } else {
                    escaped[n] = b;
                    n += 1;
                }
            }
            self.write_chars(&escaped[..n], &mut out)?;
        }
        Ok(())
    }

    /// Write a number as a big-endian hex string using the most compact
    /// representation possible (i.e: trimming leading zeros).
    pub fn write_num<D: BeBytes + PrimInt>(&mut self, digit: D) -> Result<(), Error<C::Error>> {
        if digit.is_zero() {
            return self.write_hex(0);
        }

        let mut buf = [0; 16];
        // infallible (unless digit is a >128 bit number)
        let len = digit.to_be_bytes(&mut buf).unwrap();
        let buf = &buf[..len];
        for b in buf.iter().copied().skip_while(|&b| b == 0) {
            self.write_hex(b)?
        }
        Ok(())
    }

    /// Write a number as a decimal string, converting every digit to an ascii
    /// char.
    pub fn write_dec<D: PrimInt + CheckedRem>(
        &mut self,
        mut digit: D,
    ) -> Result<(), Error<C::Error>> {
        if digit.is_zero() {
            return self.write(b'0');
        }

        let one: D = one();
        let ten = (one << 3) + (one << 1);
        let mut d = digit;
        let mut pow_10 = one;
        // Get the number of digits in digit
        while d >= ten {
            d = d / ten;
            pow_10 = pow_10 * ten;
        }

        // Write every digit from left to right as an ascii char
        while !pow_10.is_zero() {
            let mut byte = 0;
            // We have a single digit here which uses up to 4 bit
            for i in 0..4 {
                if !((digit / pow_10) & (one << i)).is_zero() {
                    byte += 1 << i;
                }
            }
            self.write(b'0' + byte)?;
            digit = digit % pow_10;
            pow_10 = pow_10 / ten;
        }
        Ok(())
    }

    #[inline]
    fn write_specific_id_kind(&mut self, tid: SpecificIdKind) -> Result<(), Error<C::Error>> {
        match tid {
            SpecificIdKind::All => self.write_str("-1")?,
            SpecificIdKind::WithId(id) => self.write_num(id.get())?,
        };
        Ok(())
    }

    pub fn write_specific_thread_id(
        &mut self,
        tid: SpecificThreadId,
    ) -> Result<(), Error<C::Error>> {
        if let Some(pid) = tid.pid {
            self.write_str("p")?;
            self.write_specific_id_kind(pid)?;
            self.write_str(".")?;
        }
        self.write_specific_id_kind(tid.tid)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// A mock connection that captures all written bytes
    struct MockConnection {
        data: Vec<u8>,
    }

    impl MockConnection {
        fn new() -> Self {
            Self { data: Vec::new() }
        }
    }

    impl Connection for MockConnection {
        type Error = ();

        fn write(&mut self, byte: u8) -> Result<(), Self::Error> {
            self.data.push(byte);
            Ok(())
        }

        fn write_all(&mut self, buf: &[u8]) -> Result<(), Self::Error> {
            self.data.extend_from_slice(buf);
            Ok(())
        }

        fn flush(&mut self) -> Result<(), Self::Error> {
            Ok(())
        }
    }

    /// Check that packet body (between '$' and '#') contains no '$' or '#'.
    fn assert_no_special_chars_in_body(data: &[u8]) {
        let hash_pos = data.iter().rposition(|&b| b == b'#').unwrap();
        for &byte in &data[1..hash_pos] {
            assert!(
                byte != b'$' && byte != b'#',
                "found {:?} in packet body",
                byte as char
            );
        }
    }

    /// RLE must not produce '#' in packet body.
    #[test]
    fn rle_avoids_hash() {
        let mut conn = MockConnection::new();
        let mut writer = ResponseWriter::new(&mut conn, true);
        writer.write_str("0000000").unwrap();
        writer.flush().unwrap();
        assert_no_special_chars_in_body(&conn.data);
    }

    /// RLE must not produce '$' in packet body.
    #[test]
    fn rle_avoids_dollar() {
        let mut conn = MockConnection::new();
        let mut writer = ResponseWriter::new(&mut conn, true);
        writer.write_str("00000000").unwrap();
        writer.flush().unwrap();
        assert_no_special_chars_in_body(&conn.data);
    }

    /// The batched hex writer encodes exactly as writing the digits one by one does, for
    /// runs of every length around the RLE limits ('#'/'$' counts, the printable cap) and
    /// across chunk boundaries.
    #[test]
    fn hex_buf_matches_bytewise_rle() {
        let mut data = Vec::new();
        for run in [1usize, 2, 3, 4, 5, 7, 8, 9, 48, 49, 50, 97, 98, 99, 200, 300] {
            data.extend(core::iter::repeat(0u8).take(run));
            data.push(0x10);
            data.extend(core::iter::repeat(0xffu8).take(run));
            data.push(0x01);
        }
        for (i, b) in (0..700u32).map(|i| (i, (i * 37 % 11) as u8)) {
            data.push(if i % 3 == 0 { b } else { 0 });
        }
        // Text (runs of equal digits across bytes: "3333" in "#33", "fff" in "ffff"), and
        // pseudo-random bytes over every chunk boundary.
        data.extend_from_slice(b"goroutine 17 [chan receive]: main.worker /src/app/main.go:42\n");
        data.extend_from_slice(b"#334 DDDD ffff UUUwww\"\"\"\x11\x11\x11\x11 3333333");
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..9000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.push(if x % 5 == 0 { 0x33 } else { (x >> 24) as u8 % 4 * 0x11 });
        }
        for rle in [true, false] {
            let mut batched = MockConnection::new();
            let mut w = ResponseWriter::new(&mut batched, rle);
            w.write_str("m").unwrap();
            w.write_hex_buf(&data).unwrap();
            w.flush().unwrap();

            let mut bytewise = MockConnection::new();
            let mut w = ResponseWriter::new(&mut bytewise, rle);
            w.write_str("m").unwrap();
            for b in &data {
                w.write_hex(*b).unwrap();
            }
            w.flush().unwrap();
            assert_eq!(batched.data, bytewise.data, "rle {rle}");
            assert_no_special_chars_in_body(&batched.data);
        }
    }

    /// The batched binary writer encodes exactly as escaping the bytes one by one does: the
    /// four escaped bytes, runs around the RLE limits and of escaped pairs, across chunks.
    #[test]
    fn binary_matches_bytewise_rle() {
        let mut data = Vec::new();
        for run in [1usize, 2, 3, 4, 6, 7, 8, 9, 97, 98, 99, 2047, 2048, 2049, 5000] {
            for b in [0u8, b'#', b'$', b'}', b'*', 0x7d ^ 0x20, 0xff] {
                data.extend(core::iter::repeat(b).take(run));
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..9000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.push(x as u8 & 0x2f | 0x03);
        }
        for rle in [true, false] {
            let mut batched = MockConnection::new();
            let mut w = ResponseWriter::new(&mut batched, rle);
            w.write_str("F1;").unwrap();
            w.write_binary(&data).unwrap();
            w.flush().unwrap();

            let mut bytewise = MockConnection::new();
            let mut w = ResponseWriter::new(&mut bytewise, rle);
            w.write_str("F1;").unwrap();
            for b in &data {
                w.write_escaped(*b).unwrap();
            }
            w.flush().unwrap();
            assert_eq!(batched.data, bytewise.data, "rle {rle}");
            assert_no_special_chars_in_body(&batched.data);
        }
    }
}
