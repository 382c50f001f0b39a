use super::prelude::*;
use crate::protocol::common::hex::decode_bin_buf;

#[derive(Debug)]
pub struct X<'a> {
    pub addr: &'a [u8],
    pub val: &'a [u8],
}

impl<'a> ParseCommand<'a> for X<'a> {
    #[inline(always)]
    fn from_packet(buf: PacketBuf<'a>) -> Option<Self> {
        let body = buf.into_body();

        let mut body = body.splitn_mut(3, |&b| b == b',' || b == b':');
        let addr = decode_hex_buf(body.next()?).ok()?;
        // gostub patch: the unescaped data must be exactly the declared length (gdbserver
        // refuses a mismatch too). Upstream ignored the length, so `X a,0:AB` wrote 2 bytes.
        let len: usize = decode_hex(body.next()?).ok()?;
        let val = decode_bin_buf(body.next()?)?;
        if val.len() != len {
            return None;
        }

        Some(X { addr, val })
    }
}
