use super::prelude::*;

#[derive(Debug)]
pub struct M<'a> {
    pub addr: &'a [u8],
    pub val: &'a [u8],
}

impl<'a> ParseCommand<'a> for M<'a> {
    #[inline(always)]
    fn from_packet(buf: PacketBuf<'a>) -> Option<Self> {
        let body = buf.into_body();

        let mut body = body.split_mut(|&b| b == b',' || b == b':');
        let addr = decode_hex_buf(body.next()?).ok()?;
        // gostub patch: the data must be whole bytes of hex, exactly as many as the declared
        // length (gdbserver refuses a mismatch too). Upstream ignored the length, so
        // `M a,1:41424344` wrote 4 bytes, and accepted odd hex.
        let len: usize = decode_hex(body.next()?).ok()?;
        let hex = body.next()?;
        if hex.len() % 2 != 0 || body.next().is_some() {
            return None;
        }
        let val = decode_hex_buf(hex).ok()?;
        if val.len() != len {
            return None;
        }

        Some(M { addr, val })
    }
}
