//! Pauses inside a long read that computes on the runtime's thread.
//!
//! An embedded store computes its statements itself, inside the poll that asked
//! for them. A long one, run straight through, holds the CPU for its whole length,
//! and a request of a lighter tenant then waits for it to end. So a long read runs
//! on a stack of its own (`super::sqlite`) and stops between steps of the
//! statement at checkpoints, where it asks whether the operation should pause.
//! When it should, the read's future returns `Pending` and goes on, on the same
//! stack, the next time it is polled. Who gets the CPU stays the fair share's
//! business (`crate::share` implements this trait); the store only asks.
pub trait Pauses: Sync {
    /// Whether the read runs inside an operation that shares the CPU, and so
    /// may pause at all.
    fn can_pause(&self) -> bool;
    /// Asked at each checkpoint of a long read: whether the operation should
    /// stop computing now. If so, it is marked as yielding, and the store must
    /// then await `tokio::task::yield_now()` before it goes on.
    fn should_pause(&self) -> bool;
}

/// Reads that are not part of a shared operation (checks, migrations, tests).
pub struct NoPauses;

impl Pauses for NoPauses {
    fn can_pause(&self) -> bool {
        false
    }

    fn should_pause(&self) -> bool {
        false
    }
}
