//! How long the kernel lets the runtime's threads run before it looks at others.
//!
//! Work outside the fair share's tokens — reading a request, checking its token,
//! writing an answer — is short, and a request waits for it. The server runs a
//! runtime worker more than it has CPUs, so on a busy core one worker computes an
//! operation while another could read a quiet tenant's request. The kernel
//! shares time between them in slices of about a millisecond or more, so that
//! request could wait that long, behind another tenant's statement. So the
//! runtime's threads ask for short slices (Linux 6.12 and later,
//! `sched_setattr`'s `sched_runtime` for normal threads): a woken one is run
//! sooner. A slice changes when a thread runs, not how much CPU it gets: the
//! threads keep equal weights, so no work starves.
//!
//! Elsewhere (older kernels ignore the field, other systems lack the call) this
//! changes nothing, and a refusal is not an error: the server only runs as before.
/// The slice the runtime's threads ask for: the shortest Linux accepts.
const SHORT_NS: u64 = 100_000;

/// A thread's scheduling policy and nice value, kept as they are when its slice
/// changes.
struct Scheduling {
    policy: i32,
    nice: i32,
}

/// Called on each of the runtime's threads as it starts.
pub fn ask_for_short_slices() {
    short_slices();
}

/// Asks for short slices for this thread; whether the kernel took them.
fn short_slices() -> bool {
    scheduling().is_some_and(set_short_slice)
}

/// This thread's policy and nice value, if it is a normal (or batch) thread.
#[cfg(target_os = "linux")]
fn scheduling() -> Option<Scheduling> {
    // SAFETY: both calls only read the calling thread's (id 0) attributes.
    unsafe {
        let policy = libc::sched_getscheduler(0);
        if policy != libc::SCHED_OTHER && policy != libc::SCHED_BATCH {
            return None;
        }
        *libc::__errno_location() = 0;
        let nice = libc::getpriority(libc::PRIO_PROCESS, 0);
        if nice == -1 && *libc::__errno_location() != 0 {
            return None;
        }
        Some(Scheduling { policy, nice })
    }
}

#[cfg(not(target_os = "linux"))]
fn scheduling() -> Option<Scheduling> {
    None
}

/// Asks for `SHORT_NS` slices for this thread, keeping its policy and nice
/// value. Whether the kernel took it.
#[cfg(target_os = "linux")]
fn set_short_slice(scheduling: Scheduling) -> bool {
    /// The kernel's `struct sched_attr`, first version (48 bytes).
    #[repr(C)]
    struct SchedAttr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
    }
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: scheduling.policy as u32,
        flags: 0,
        nice: scheduling.nice,
        priority: 0,
        runtime: SHORT_NS,
        deadline: 0,
        period: 0,
    };
    // SAFETY: the call acts on the calling thread (id 0) only; the attribute
    // block is a live, correctly sized value for the call's duration.
    unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn set_short_slice(_scheduling: Scheduling) -> bool {
    false
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The slice as the kernel reports it back (`sched_getattr`).
    fn slice_now() -> u64 {
        let mut attr = [0u64; 7];
        // SAFETY: a 56-byte buffer for a 48-byte attribute block of this thread.
        let r =
            unsafe { libc::syscall(libc::SYS_sched_getattr, 0, attr.as_mut_ptr(), 48u32, 0u32) };
        assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
        attr[3]
    }

    /// The running kernel's (major, minor) version.
    fn kernel_version() -> (u32, u32) {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut parts = release.trim().split(['.', '-']);
        let mut next = || parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        (next(), next())
    }

    #[test]
    fn a_runtime_thread_gets_the_short_slice_it_asks_for() {
        std::thread::spawn(|| {
            let before = slice_now();
            if !short_slices() {
                // Only a kernel without custom slices may refuse, and then
                // nothing changed, as promised.
                assert!(
                    kernel_version() < (6, 12),
                    "refused on {:?}",
                    kernel_version()
                );
                assert_eq!(slice_now(), before);
                return;
            }
            assert!(kernel_version() >= (6, 12), "accepted on an older kernel");
            assert_eq!(
                slice_now(),
                SHORT_NS,
                "the kernel reports the slice asked for"
            );
        })
        .join()
        .unwrap();
    }
}
