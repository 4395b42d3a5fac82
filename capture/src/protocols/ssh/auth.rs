//! Guessing the outcome of user authentication from the sizes of encrypted
//! segments, as Zeek does: the server's first encrypted segment after the
//! client's is SERVICE_ACCEPT; USERAUTH_SUCCESS is 16 bytes shorter; a
//! USERAUTH_FAILURE keeps the size of the first one. Only segment lengths
//! are counted, so the encrypted phase stays cheap.

use model::Direction;

/// A first reply this much larger than SERVICE_ACCEPT is a pre-auth banner.
const BANNER_EXCESS: usize = 256;
/// SERVICE_ACCEPT minus USERAUTH_SUCCESS, once padded and MAC'd.
const SUCCESS_SHORTER_BY: usize = 16;

#[derive(Default)]
pub struct AuthGuess {
    saw_client_data: bool,
    service_accept_size: usize,
    failure_size: usize,
    skipped_banner: bool,
    decided: bool,
    /// A gap made segment sizes meaningless.
    pub gave_up: bool,
    pub attempts: u32,
    pub success: Option<bool>,
}

impl AuthGuess {
    pub fn done(&self) -> bool {
        self.decided || self.gave_up
    }

    /// One encrypted segment of `len` bytes; true when this decided.
    pub fn segment(&mut self, dir: Direction, len: usize) -> bool {
        if self.done() || len == 0 {
            return false;
        }
        if dir == Direction::ToServer {
            self.saw_client_data = true;
            return false;
        }
        if !self.saw_client_data {
            return false;
        }
        if self.service_accept_size == 0 {
            self.service_accept_size = len;
            return false;
        }
        let success_size = self.service_accept_size.checked_sub(SUCCESS_SHORTER_BY);
        if self.failure_size == 0 {
            if Some(len) == success_size {
                // `none` authentication succeeded straight away.
                return self.succeed();
            }
            if !self.skipped_banner && len > self.service_accept_size.saturating_add(BANNER_EXCESS)
            {
                self.skipped_banner = true;
                return false;
            }
            self.failure_size = len;
            return false;
        }
        if len == self.failure_size {
            self.attempts = self.attempts.saturating_add(1);
            self.success = Some(false);
            return false;
        }
        if Some(len) == success_size {
            return self.succeed();
        }
        false
    }

    fn succeed(&mut self) -> bool {
        self.decided = true;
        self.attempts = self.attempts.saturating_add(1);
        self.success = Some(true);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{ToClient, ToServer};

    fn guess(segments: &[(Direction, usize)]) -> AuthGuess {
        let mut g = AuthGuess::default();
        for &(d, n) in segments {
            g.segment(d, n);
        }
        g
    }

    #[test]
    fn failures_then_success() {
        let g = guess(&[
            (ToServer, 52),
            (ToClient, 52), // SERVICE_ACCEPT
            (ToServer, 68),
            (ToClient, 68), // first FAILURE (the `none` probe): not counted
            (ToServer, 400),
            (ToClient, 68), // failure
            (ToServer, 400),
            (ToClient, 36), // success
        ]);
        assert_eq!((g.success, g.attempts, g.done()), (Some(true), 2, true));
    }

    #[test]
    fn failures_only() {
        let g = guess(&[
            (ToServer, 52),
            (ToClient, 52),
            (ToClient, 68),
            (ToClient, 68),
            (ToClient, 68),
        ]);
        assert_eq!((g.success, g.attempts, g.done()), (Some(false), 2, false));
    }

    #[test]
    fn server_before_client_and_banner() {
        let g = guess(&[
            (ToClient, 52),
            (ToServer, 52),
            (ToClient, 52),
            (ToClient, 900),
            (ToClient, 36),
        ]);
        assert_eq!((g.success, g.attempts), (Some(true), 1));
        assert_eq!(guess(&[(ToClient, 10), (ToClient, 0)]).attempts, 0);
    }
}
