//! A read's turn on the CPU when it computes off the runtime's threads.
//!
//! An embedded store computes its statements itself. A long one, run inline, holds
//! a runtime worker for its whole length, and a request of a lighter tenant then
//! waits for it to end. Run on a blocking thread instead, it can stop between
//! steps of the statement and hand the CPU over. Who gets the CPU is the fair
//! share's business (`crate::share` implements these traits); the store only says
//! when it starts, where it may stop, and (by dropping the turn) when it ends.

/// Where the running operation's turn comes from.
pub trait ComputeTurns: Sync {
    /// The turn of the operation being polled on this thread, for work it hands
    /// to another thread; `None` outside a shared operation.
    fn turn(&self) -> Option<Box<dyn ComputeTurn>>;
}

/// One operation's work on a thread of its own. Dropping it ends the turn too
/// (a panic on that thread gives the CPU back).
pub trait ComputeTurn: Send {
    /// Blocks the thread until the operation may compute.
    fn begin(&mut self);
    /// A point where the work may stop for a while: blocks the thread while an
    /// operation with the better claim computes.
    fn checkpoint(&mut self);
    /// Gives the CPU back; returns how long the work computed in its turn.
    fn end(&mut self) -> std::time::Duration;
}

/// Reads that are not part of a shared operation (checks, migrations, tests).
pub struct NoTurns;

impl ComputeTurns for NoTurns {
    fn turn(&self) -> Option<Box<dyn ComputeTurn>> {
        None
    }
}
