//! Checked writes to standard output and standard error.
//!
//! Every byte the CLI writes goes through this module (no `print!` or
//! `eprint!`, which panic when a write fails), so a failed write is an
//! ordinary outcome:
//!
//! - the reader of a pipe went away (`EPIPE`, as in `adjoint print f.adj |
//!   head -1`): the CLI stops quietly with status 0, like a coreutils tool
//!   ended by `SIGPIPE` but without the signal status ([`Stop::Closed`]);
//! - any other failure (a full disk, `>/dev/full`): one line on stderr and
//!   status 1 ([`Stop::Error`]);
//! - if writing that line to stderr fails too, status 1 alone
//!   ([`report`] ignores its own failure: there is nowhere left to say it).

use adjoint::ir::Error;
use std::fmt::Display;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Why the CLI stops before finishing its work.
#[derive(Debug)]
pub enum Stop {
    /// An error to report on stderr; exit status 1.
    Error(Error),
    /// The output is a pipe whose reader has gone; a quiet exit, status 0.
    Closed,
}

impl From<Error> for Stop {
    fn from(e: Error) -> Stop {
        Stop::Error(e)
    }
}

/// Writes `text` to standard output and flushes it.
pub fn out(text: &str) -> Result<(), Stop> {
    write_checked(io::stdout().lock(), "standard output", text)
}

/// Writes requested diagnostics (`--dump-clif`, `--arena`, …) to standard
/// error and flushes them.
pub fn diag(text: &str) -> Result<(), Stop> {
    write_checked(io::stderr().lock(), "standard error", text)
}

/// Writes `text` to `w` and flushes; a closed pipe is [`Stop::Closed`],
/// any other failure an error naming `what`.
pub fn write_checked(mut w: impl Write, what: &str, text: &str) -> Result<(), Stop> {
    w.write_all(text.as_bytes())
        .and_then(|()| w.flush())
        .map_err(|e| match e.kind() {
            io::ErrorKind::BrokenPipe => Stop::Closed,
            _ => Stop::Error(Error::input(format!("cannot write to {what}: {e}"))),
        })
}

/// Standard error as a [`Write`] for the pass manager's IR dumps and timing
/// report, which the manager writes itself (and turns a failure into its
/// own error): a closed pipe is remembered in a flag, so the CLI can still
/// stop quietly ([`Stop::Closed`]) rather than report that error.
pub struct DiagWriter {
    closed: Arc<AtomicBool>,
}

impl DiagWriter {
    /// A writer to stderr and the flag it sets when stderr is a closed pipe.
    pub fn new() -> (DiagWriter, Arc<AtomicBool>) {
        let closed = Arc::new(AtomicBool::new(false));
        (
            DiagWriter {
                closed: closed.clone(),
            },
            closed,
        )
    }

    fn note<T>(&self, r: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &r {
            if e.kind() == io::ErrorKind::BrokenPipe {
                self.closed.store(true, Ordering::Relaxed);
            }
        }
        r
    }
}

impl Write for DiagWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = io::stderr().lock().write(buf);
        self.note(r)
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = io::stderr().lock().flush();
        self.note(r)
    }
}

/// Reports `message` as one line `adjoint: …` on stderr, ignoring a failure
/// to write it (the exit status still says the command failed).
pub fn report(message: impl Display) {
    let _ = writeln!(io::stderr().lock(), "adjoint: {message}");
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Failing(io::ErrorKind);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(self.0))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_is_a_quiet_stop_and_other_failures_are_errors() {
        let mut buf = Vec::new();
        assert!(write_checked(&mut buf, "x", "hello\n").is_ok());
        assert_eq!(buf, b"hello\n");
        assert!(matches!(
            write_checked(Failing(io::ErrorKind::BrokenPipe), "x", "a"),
            Err(Stop::Closed)
        ));
        match write_checked(Failing(io::ErrorKind::StorageFull), "standard output", "a") {
            Err(Stop::Error(e)) => {
                assert!(
                    e.message.starts_with("cannot write to standard output"),
                    "{e}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
