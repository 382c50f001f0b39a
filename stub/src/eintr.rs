//! The one EINTR retry. The stub takes SIGCHLD while it traces, so any blocking call (waitpid,
//! poll, read, pread) may return EINTR; every such call goes through [`retry`].

/// An error that may only mean "interrupted by a signal, try again".
pub trait Interrupted {
    fn interrupted(&self) -> bool;
}

impl Interrupted for nix::errno::Errno {
    fn interrupted(&self) -> bool {
        *self == nix::errno::Errno::EINTR
    }
}

impl Interrupted for std::io::Error {
    fn interrupted(&self) -> bool {
        self.kind() == std::io::ErrorKind::Interrupted
    }
}

/// Runs `op` again for as long as it fails with EINTR.
pub fn retry<T, E: Interrupted>(mut op: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    loop {
        match op() {
            Err(e) if e.interrupted() => continue,
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::errno::Errno;

    #[test]
    fn retries_only_eintr() {
        let mut calls = 0;
        let got = retry(|| {
            calls += 1;
            if calls < 3 {
                Err(Errno::EINTR)
            } else {
                Ok(calls)
            }
        });
        assert_eq!(got, Ok(3));
        let mut calls = 0;
        let got: Result<(), _> = retry(|| {
            calls += 1;
            Err(std::io::Error::from(std::io::ErrorKind::NotFound))
        });
        assert!(got.is_err());
        assert_eq!(calls, 1);
    }
}
