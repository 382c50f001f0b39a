use crate::protocol::common::hex::decode_hex_buf;
use crate::protocol::common::hex::is_hex;

/// A wrapper type around a list of hex encoded arguments separated by `;`.
#[derive(Debug)]
pub struct ArgListHex<'a> {
    list: Option<&'a mut [u8]>,
    keep_empty: bool,
}

impl<'a> ArgListHex<'a> {
    pub fn from_packet(args: &'a mut [u8]) -> Option<Self> {
        Self::new(Some(args), false)
    }

    /// `vRun`'s arguments: every `;`-separated item is one, the empty ones too
    /// (`run '' x`), and no list at all (`None`) is no argument.
    pub fn from_packet_keeping_empty(args: Option<&'a mut [u8]>) -> Option<Self> {
        Self::new(args, true)
    }

    fn new(list: Option<&'a mut [u8]>, keep_empty: bool) -> Option<Self> {
        // validate that args have valid hex encoding (with ';' delimiters).
        // this removes all the error handling from the lazy `Args` iterator.
        if let Some(args) = &list {
            if args.iter().any(|b| !(is_hex(*b) || *b == b';')) {
                return None;
            }
        }
        Some(Self { list, keep_empty })
    }

    pub fn into_iter(self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let keep_empty = self.keep_empty;
        self.list
            .into_iter()
            .flat_map(|list| list.split_mut(|b| *b == b';'))
            // the `from_packet` method guarantees that the args are valid hex ascii, so this should
            // method should never fail.
            .map(|raw| decode_hex_buf(raw).unwrap_or(&mut []))
            .map(|s| s as &[u8])
            .filter(move |s| keep_empty || !s.is_empty())
    }
}
