use crate::util::managed_vec::CapacityError;
#[cfg(feature = "trace-pkt")]
use alloc::string::String;
use managed::ManagedSlice;

enum State {
    Ready,
    Body,
    Checksum1,
    Checksum2,
}

/// Receives a packet incrementally using a asynchronous state machine.
///
/// gostub patch: a `$` before a packet's end starts a new packet (clients escape `$` in
/// binary data, and gdb's own reader resyncs the same way), so a truncated packet cannot
/// swallow the next one. A packet longer than the buffer is consumed to its end and reported
/// as a [`CapacityError`] then (upstream grew an owned buffer without bound).
pub struct RecvPacketStateMachine {
    state: State,
    idx: usize,
    oversized: bool,
}

impl RecvPacketStateMachine {
    pub fn new() -> Self {
        RecvPacketStateMachine {
            state: State::Ready,
            idx: 0,
            oversized: false,
        }
    }

    pub fn pump<'b>(
        &mut self,
        packet_buffer: &'b mut ManagedSlice<'_, u8>,
        byte: u8,
    ) -> Result<Option<&'b mut [u8]>, CapacityError<u8>> {
        if byte == b'$' && !matches!(self.state, State::Ready) {
            self.state = State::Ready;
            self.idx = 0;
            self.oversized = false;
        }
        match packet_buffer.get_mut(self.idx) {
            Some(slot) => {
                *slot = byte;
                self.idx += 1;
            }
            None => self.oversized = true,
        }
        #[cfg(feature = "trace-pkt")]
        let end = self.idx;

        match self.state {
            State::Ready => {
                if byte == b'$' {
                    self.state = State::Body;
                } else {
                    self.idx = 0;
                }
            }
            State::Body => {
                if byte == b'#' {
                    self.state = State::Checksum1;
                }
            }
            State::Checksum1 => self.state = State::Checksum2,
            State::Checksum2 => {
                self.state = State::Ready;
                self.idx = 0;
            }
        }

        if matches!(self.state, State::Ready) {
            if core::mem::take(&mut self.oversized) {
                return Err(CapacityError(byte));
            }

            #[cfg(feature = "trace-pkt")]
            trace!("<-- {}", String::from_utf8_lossy(&packet_buffer[..end]));

            Ok(Some(packet_buffer))
        } else {
            Ok(None)
        }
    }
}
