//! The CPU, shared fairly between tenants.
//!
//! An operation computes only while it holds one of `tokens` run tokens (one
//! per CPU by default). It takes one for each poll of its future and gives it
//! back when the poll ends, so waiting on a database, the network or a slow
//! client holds none. When tokens are short, the next one goes to the group
//! (a tenant, or all anonymous or all platform callers) that has used the least
//! CPU so far — its virtual time — and within a group to its operations in
//! arrival order. So a tenant that sends one request at a time is served before
//! one that keeps the server busy; groups that all keep it busy are meant to
//! get equal parts (not yet shown by a test or a benchmark). A group back from idle starts at most `CATCH_UP` of CPU behind the
//! others: it cannot bank idle time.
//!
//! Why per poll and not per operation: an embedded store answers inside one
//! poll, so without this an operation never waits for anything and the server
//! serves tenants in the order tokio happens to poll their connections — a
//! tenant with 64 connections then goes 64 times before one with one. Long
//! polls are cut at yield points (`yield_point`, before each tenant-database
//! read): when a group with less virtual time waits, the running operation
//! gives its token up there.
//!
//! A long read of an embedded store computes inside one poll, too, and is cut
//! the same way between the steps of its statement (`OperationPauses`).
use std::{
    cell::RefCell,
    collections::{BTreeSet, HashMap, HashSet, VecDeque},
    future::Future,
    pin::Pin,
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, MutexGuard,
    },
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use crate::store::Pauses;

/// How far behind the others a group coming back from idle may start.
const CATCH_UP: Duration = Duration::from_millis(5);

/// How long a poll may compute before a yield point lets the runtime poll the
/// others (new requests among them, which can only be seen once polled).
const SLICE: Duration = Duration::from_micros(250);

/// How often a long read's checkpoints look at the queue (under the lock) while
/// others wait: a group `PAUSE_MARGIN` lighter waits at most about this long for
/// a long read to pause, and a heavy tenant's own queue costs its reads little.
const CHECKPOINT_GAP: Duration = Duration::from_micros(20);

/// How much less CPU a waiting group must have used for a long read to pause for
/// it. A group back from idle is up to `CATCH_UP` behind and is served at the
/// next checkpoint. Groups that all keep the server busy are within about a slice
/// of each other, and their long reads would otherwise hand the CPU back and
/// forth every `CHECKPOINT_GAP`: reads that interleave so finely cost more each
/// (a quarter more CPU per dashboard when measured so).
const PAUSE_MARGIN: Duration = Duration::from_micros(2_500);

/// How long the server counts as contended after a group became busy beside
/// another: far longer than a quiet tenant's pause between two requests.
const CONTENDED_FOR: Duration = Duration::from_millis(100);

/// Idle groups whose record is looked at for pruning at each operation's end.
const PRUNE_PER_END: usize = 2;

#[derive(Clone)]
pub struct CpuShare {
    shared: Arc<Shared>,
}

struct Shared {
    tokens: usize,
    state: Mutex<State>,
    /// Groups with an operation waiting for a token (read without the lock by
    /// yield points, which only lock when it is not zero).
    waiting_groups: AtomicUsize,
    /// Operations alive, all groups together.
    active: AtomicUsize,
    /// Until when the server counts as contended (`CONTENDED_FOR` after a group
    /// became busy beside another), in nanoseconds since `started`.
    contended_until: AtomicU64,
    started: Instant,
    next_id: AtomicU64,
}

#[derive(Default)]
struct State {
    free: usize,
    /// The virtual time of the group served last: where a group new or back
    /// from idle is placed (less `CATCH_UP`).
    clock: Duration,
    groups: HashMap<Arc<str>, Group>,
    /// Groups with waiting operations, by virtual time.
    ready: BTreeSet<(Duration, Arc<str>)>,
    /// Waiting operations' wakers, by run id.
    waiting: HashMap<u64, Waker>,
    /// Operations handed a token they have not taken yet.
    granted: HashSet<u64>,
    /// Groups whose last operation ended, oldest first (pruning candidates).
    idle: VecDeque<Arc<str>>,
    /// Groups with an operation alive.
    busy_groups: usize,
}

#[derive(Default)]
struct Group {
    vtime: Duration,
    /// Operations of the group alive now (running, waiting or between polls).
    active: usize,
    queue: VecDeque<u64>,
    /// Whether it is in `State::idle` (listed once, so that list stays bounded
    /// by the groups, however many operations end).
    listed_idle: bool,
}

impl CpuShare {
    /// `tokens` of 0: one per CPU this process may run on.
    pub fn new(tokens: usize) -> Self {
        let tokens = match tokens {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        CpuShare {
            shared: Arc::new(Shared {
                tokens,
                state: Mutex::new(State {
                    free: tokens,
                    ..State::default()
                }),
                waiting_groups: AtomicUsize::new(0),
                active: AtomicUsize::new(0),
                contended_until: AtomicU64::new(0),
                started: Instant::now(),
                next_id: AtomicU64::new(0),
            }),
        }
    }

    pub fn tokens(&self) -> usize {
        self.shared.tokens
    }

    /// Runs `work` as an operation of `group`, computing only with a token.
    pub fn run<F: Future>(&self, group: Arc<str>, work: F) -> Run<F> {
        let shared = self.shared.clone();
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        join_group(&mut shared.lock(), &shared, &group);
        shared.active.fetch_add(1, Ordering::Relaxed);
        Run {
            work: Box::pin(work),
            shared,
            group,
            id,
            polled: false,
            kept: false,
            holding: false,
        }
    }

    /// (tokens held, operations waiting for one).
    pub fn load(&self) -> (usize, usize) {
        let state = self.shared.lock();
        (self.shared.tokens - state.free, state.waiting.len())
    }

    /// The CPU time `group` has been charged (its virtual time), if it has a record.
    #[cfg(test)]
    fn charged(&self, group: &str) -> Option<Duration> {
        self.shared.lock().groups.get(group).map(|g| g.vtime)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn nanos_since_start(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Whether two groups have been busy at once within `CONTENDED_FOR`: a
    /// tenant that sends one request at a time is between two of them now and
    /// then, and its next one must still be read soon.
    fn contended(&self) -> bool {
        self.nanos_since_start() < self.contended_until.load(Ordering::Relaxed)
    }
}

/// An operation of one group; see the module's documentation.
pub struct Run<F> {
    work: Pin<Box<F>>,
    shared: Arc<Shared>,
    group: Arc<str>,
    id: u64,
    /// Whether it has been polled: a first poll queues.
    polled: bool,
    /// Whether its last poll paused keeping its token (`OperationPauses`).
    kept: bool,
    /// Whether it holds a token now (inside a poll of `work`): if that poll
    /// panics, the token is given back when the unwinding drops the run.
    holding: bool,
}

impl<F: Future> Future for Run<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let first = !std::mem::replace(&mut this.polled, true);
        // Back from a pause that kept its token: only a group well behind it
        // takes that token now.
        let margin = if std::mem::take(&mut this.kept) {
            PAUSE_MARGIN
        } else {
            Duration::ZERO
        };
        let (vtime, wake) = {
            let mut state = this.shared.lock();
            let took = take_token(
                &mut state,
                &this.shared,
                &this.group,
                this.id,
                first,
                margin,
                cx.waker(),
            );
            match took {
                Taken::Yes => (vtime_of(&state, &this.group), Vec::new()),
                Taken::No(wake) => {
                    drop(state);
                    wake_all(wake);
                    return Poll::Pending;
                }
            }
        };
        wake_all(wake);
        let started = Instant::now();
        let previous = CURRENT.with(|current| {
            current.replace(Some(Current {
                shared: this.shared.clone(),
                group: this.group.clone(),
                vtime,
                started,
                checked: started,
                yielded: false,
                keeps_token: false,
            }))
        });
        this.holding = true;
        let outcome = this.work.as_mut().poll(cx);
        this.holding = false;
        let (yielded, keeps_token) = CURRENT
            .with(|current| current.replace(previous))
            .map_or((false, false), |mine| (mine.yielded, mine.keeps_token));
        let used = started.elapsed();
        if keeps_token && outcome.is_pending() {
            // Paused only so that the runtime looks at its sockets: the token
            // stays this run's, as one handed to it and not yet taken, so the
            // other groups' long reads do not interleave with its own.
            let mut state = this.shared.lock();
            charge(&mut state, &this.group, used);
            state.granted.insert(this.id);
            this.kept = true;
            return outcome;
        }
        let wake = {
            let mut state = this.shared.lock();
            charge(&mut state, &this.group, used);
            if yielded && outcome.is_pending() {
                // Cut at a yield point, not waiting for anything: it queues
                // at its group's head at once, so the token goes to a heavier
                // group only if this one has stopped being the lightest. The
                // runtime meanwhile polls the others, and any that are lighter
                // are seen before this run takes its token.
                enqueue(
                    &mut state,
                    &this.shared,
                    &this.group,
                    this.id,
                    cx.waker(),
                    true,
                );
            }
            state.free += 1;
            let mut wake = dispatch(&mut state, &this.shared);
            if yielded {
                // Handed its own token back: `yield_now` has already asked
                // the runtime to poll it after it has looked at the sockets,
                // and a wake now would poll it before (new requests unseen).
                wake.retain(|waker| !waker.will_wake(cx.waker()));
            }
            wake
        };
        wake_all(wake);
        outcome
    }
}

impl<F> Drop for Run<F> {
    fn drop(&mut self) {
        self.shared.active.fetch_sub(1, Ordering::Relaxed);
        if self.holding {
            // Its poll panicked: the token goes back (the thread's current
            // operation is cleared, too, so no yield point charges it).
            CURRENT.with(|current| current.replace(None));
        }
        let wake = leave(
            &mut self.shared.lock(),
            &self.shared,
            &self.group,
            self.id,
            self.holding,
        );
        wake_all(wake);
    }
}

/// Counts one more live operation of `group`; a group back from idle starts
/// at most `CATCH_UP` behind the clock, and the server is contended from then
/// on for `CONTENDED_FOR` if another group is busy too.
fn join_group(state: &mut State, shared: &Shared, group: &Arc<str>) {
    let floor = state.clock.saturating_sub(CATCH_UP);
    let entry = state.groups.entry(group.clone()).or_default();
    if entry.active == 0 {
        entry.vtime = entry.vtime.max(floor);
        state.busy_groups += 1;
        if state.busy_groups > 1 {
            let until = shared.nanos_since_start() + CONTENDED_FOR.as_nanos() as u64;
            shared.contended_until.store(until, Ordering::Relaxed);
        }
    }
    entry.active += 1;
}

/// Run `id` of `group` ends: its token (if `holding`, or handed to it and not
/// taken) goes on, its place in the queue is left, and its group counts one
/// live operation less. Returns the wakers of runs handed a token.
fn leave(
    state: &mut State,
    shared: &Shared,
    group: &Arc<str>,
    id: u64,
    holding: bool,
) -> Vec<Waker> {
    let mut wake = Vec::new();
    if holding || state.granted.remove(&id) {
        state.free += 1;
        wake = dispatch(state, shared);
    } else if state.waiting.remove(&id).is_some() {
        leave_queue(state, shared, group, id);
    }
    let clock = state.clock;
    let mut went_idle = false;
    let list_idle = state.groups.get_mut(group).is_some_and(|entry| {
        entry.active -= 1;
        went_idle = entry.active == 0;
        let list = went_idle && !entry.listed_idle;
        entry.listed_idle |= list;
        list
    });
    if went_idle {
        state.busy_groups -= 1;
    }
    if list_idle {
        state.idle.push_back(group.clone());
    }
    prune(state, clock);
    wake
}

fn vtime_of(state: &State, group: &str) -> Duration {
    state.groups.get(group).map_or(Duration::ZERO, |g| g.vtime)
}

/// Whether a group other than `group` waits with less virtual time than `mine`.
fn lighter_waits(state: &State, group: &Arc<str>, mine: Duration) -> bool {
    state
        .ready
        .iter()
        .take(2)
        .any(|(vtime, other)| other != group && *vtime < mine)
}

enum Taken {
    Yes,
    /// Queued; the wakers of runs handed a token meanwhile.
    No(Vec<Waker>),
}

/// Takes a token for run `id`, or queues it (refreshing its waker). A token
/// handed to it is passed on if a group with more than `margin` less virtual
/// time has come to wait since. A first poll always queues, even when a token
/// is free: operations that tokio has not polled yet cannot be seen, and this
/// lets them be before anyone computes.
fn take_token(
    state: &mut State,
    shared: &Shared,
    group: &Arc<str>,
    id: u64,
    first: bool,
    margin: Duration,
    waker: &Waker,
) -> Taken {
    if state.granted.remove(&id) {
        let mine = vtime_of(state, group).saturating_sub(margin);
        if !lighter_waits(state, group, mine) {
            return Taken::Yes;
        }
        state.free += 1;
        enqueue(state, shared, group, id, waker, true);
        return Taken::No(dispatch(state, shared));
    }
    if let Some(queued) = state.waiting.get_mut(&id) {
        if !queued.will_wake(waker) {
            *queued = waker.clone();
        }
        return Taken::No(Vec::new());
    }
    // Tokens are handed out as soon as they free, so a free one means nobody
    // waits — among the operations polled so far. A first poll queues anyway
    // (and is handed the free token at once, to take on its next poll): the
    // connections tokio polls before that next poll are seen first.
    if state.free > 0 && !first {
        state.free -= 1;
        return Taken::Yes;
    }
    enqueue(state, shared, group, id, waker, false);
    Taken::No(dispatch(state, shared))
}

fn enqueue(
    state: &mut State,
    shared: &Shared,
    group: &Arc<str>,
    id: u64,
    waker: &Waker,
    front: bool,
) {
    let Some(entry) = state.groups.get_mut(group) else {
        return;
    };
    state.waiting.insert(id, waker.clone());
    if front {
        entry.queue.push_front(id);
    } else {
        entry.queue.push_back(id);
    }
    if entry.queue.len() == 1 {
        let vtime = entry.vtime;
        state.ready.insert((vtime, group.clone()));
        shared.waiting_groups.fetch_add(1, Ordering::Relaxed);
    }
}

/// Adds `used` to the group's virtual time (keeping its place in `ready` right).
fn charge(state: &mut State, group: &Arc<str>, used: Duration) {
    let Some(entry) = state.groups.get_mut(group) else {
        return;
    };
    let before = entry.vtime;
    entry.vtime += used;
    if !entry.queue.is_empty() {
        let after = entry.vtime;
        state.ready.remove(&(before, group.clone()));
        state.ready.insert((after, group.clone()));
    }
}

/// Hands free tokens to the waiting groups with the least virtual time; the
/// wakers are returned to be called once the lock is released.
fn dispatch(state: &mut State, shared: &Shared) -> Vec<Waker> {
    let mut wake = Vec::new();
    while state.free > 0 {
        let Some((vtime, group)) = state.ready.pop_first() else {
            break;
        };
        let Some(entry) = state.groups.get_mut(&group) else {
            shared.waiting_groups.fetch_sub(1, Ordering::Relaxed);
            continue;
        };
        let next = entry.queue.pop_front();
        if entry.queue.is_empty() {
            shared.waiting_groups.fetch_sub(1, Ordering::Relaxed);
        } else {
            state.ready.insert((vtime, group.clone()));
        }
        let Some(id) = next else { continue };
        if let Some(waker) = state.waiting.remove(&id) {
            state.free -= 1;
            state.granted.insert(id);
            state.clock = state.clock.max(vtime);
            wake.push(waker);
        }
    }
    wake
}

fn leave_queue(state: &mut State, shared: &Shared, group: &Arc<str>, id: u64) {
    let Some(entry) = state.groups.get_mut(group) else {
        return;
    };
    entry.queue.retain(|queued| *queued != id);
    if entry.queue.is_empty() {
        let vtime = entry.vtime;
        if state.ready.remove(&(vtime, group.clone())) {
            shared.waiting_groups.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Forgets idle groups far enough behind the clock that a new record would
/// start where theirs is: memory stays bounded by the recently busy groups.
fn prune(state: &mut State, clock: Duration) {
    for _ in 0..PRUNE_PER_END {
        let Some(group) = state.idle.pop_front() else {
            return;
        };
        let Some(entry) = state.groups.get_mut(&group) else {
            continue;
        };
        if entry.active > 0 {
            // Busy again: listed anew when it next goes idle.
            entry.listed_idle = false;
        } else if entry.vtime + CATCH_UP <= clock {
            state.groups.remove(&group);
        } else {
            // Not prunable yet: look again later, behind the others.
            state.idle.push_back(group);
        }
    }
}

fn wake_all(wakers: Vec<Waker>) {
    for waker in wakers {
        waker.wake();
    }
}

/// The operation being polled on this thread, for yield points.
struct Current {
    shared: Arc<Shared>,
    group: Arc<str>,
    vtime: Duration,
    started: Instant,
    /// When a long read's checkpoint last looked at the queue in this poll.
    checked: Instant,
    /// Whether its poll is ending at a yield point (it still wants the CPU).
    yielded: bool,
    /// Whether it yields only for the runtime to look at its sockets, keeping
    /// its token.
    keeps_token: bool,
}

thread_local! {
    static CURRENT: RefCell<Option<Current>> = const { RefCell::new(None) };
}

/// Whether the operation polled on this thread should give its token up now:
/// another group with less virtual time is waiting for one, or it has computed
/// a whole slice while other operations are alive (which may not have been
/// polled yet, and so cannot be waiting).
fn should_yield() -> bool {
    CURRENT.with(|current| {
        let current = current.borrow();
        let Some(current) = current.as_ref() else {
            return false;
        };
        let shared = &current.shared;
        let computed = current.started.elapsed();
        if computed >= SLICE && shared.active.load(Ordering::Relaxed) > shared.tokens {
            return true;
        }
        if shared.waiting_groups.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let state = shared.lock();
        lighter_waits(&state, &current.group, current.vtime + computed)
    })
}

/// A point where a long poll may be cut: returns at once unless a group with
/// less virtual time waits for a token (or the slice is used up), else once
/// tokio has looked at its sockets and polled the others.
pub async fn yield_point() {
    if should_yield() {
        CURRENT.with(|current| {
            if let Some(current) = current.borrow_mut().as_mut() {
                current.yielded = true;
            }
        });
        // Tokio runs a yielded task only after it has polled its I/O driver:
        // requests that arrived meanwhile are read and queued for their share
        // before this operation computes on.
        tokio::task::yield_now().await;
    }
}

/// Pauses for the operation polled on this thread, asked at the checkpoints of
/// a long read its embedded store computes inside the poll (`crate::store::pause`):
/// it stops there as a poll does at a yield point, but inside one statement — for
/// a group more than `PAUSE_MARGIN` lighter that waits, or once it has computed
/// a slice while other operations are alive and the server is `contended`. The
/// pause lets the runtime look at its sockets, where the next request of a quiet
/// tenant waits to be read (a request not read yet cannot wait for a token).
/// With one tenant busy alone that pause would only cost (a dashboard flood's
/// reads, cut into slices, took an eighth more CPU when measured so), hence
/// `contended`.
pub struct OperationPauses;

impl Pauses for OperationPauses {
    fn can_pause(&self) -> bool {
        CURRENT.with(|current| current.borrow().is_some())
    }

    fn should_pause(&self) -> bool {
        CURRENT.with(|current| {
            let mut current = current.borrow_mut();
            let Some(current) = current.as_mut() else {
                return false;
            };
            let shared = &current.shared;
            if current.started.elapsed() >= SLICE
                && shared.active.load(Ordering::Relaxed) > shared.tokens
                && shared.contended()
            {
                current.yielded = true;
                current.keeps_token = true;
                return true;
            }
            if shared.waiting_groups.load(Ordering::Relaxed) == 0
                || current.checked.elapsed() < CHECKPOINT_GAP
            {
                return false;
            }
            current.checked = Instant::now();
            let mine = current.vtime + current.started.elapsed();
            let pause = lighter_waits(
                &shared.lock(),
                &current.group,
                mine.saturating_sub(PAUSE_MARGIN),
            );
            current.yielded |= pause;
            pause
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(for_: Duration) {
        let until = Instant::now() + for_;
        while Instant::now() < until {
            std::hint::spin_loop();
        }
    }

    /// A CPU-bound operation in `steps` chunks, each ending at a yield point.
    async fn busy(steps: usize, chunk: Duration) {
        for _ in 0..steps {
            spin(chunk);
            yield_point().await;
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_group_alone_runs_without_waiting() {
        let share = CpuShare::new(1);
        let out = share.run("a".into(), async { 7 }).await;
        assert_eq!(out, 7);
        assert_eq!(share.load(), (0, 0));
        assert!(share.charged("a").is_some(), "the group's CPU is on record");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_lighter_group_goes_first_and_cuts_the_heavy_ones_at_yield_points() {
        let share = CpuShare::new(1);
        // A: 16 operations of 20 chunks of 0.5 ms each (160 ms of CPU), all at once.
        let mut flood = Vec::new();
        for _ in 0..16 {
            let share = share.clone();
            flood.push(tokio::spawn(async move {
                share
                    .run("a".into(), busy(20, Duration::from_micros(500)))
                    .await
            }));
        }
        tokio::task::yield_now().await;
        // B: one operation of 2 ms, sent once A is busy.
        let started = Instant::now();
        let b_share = share.clone();
        let b = tokio::spawn(async move {
            b_share
                .run("b".into(), busy(4, Duration::from_micros(500)))
                .await;
            started.elapsed()
        });
        let b_took = b.await.unwrap();
        for task in flood {
            task.await.unwrap();
        }
        // B waits for at most A's current chunk, not for A's 160 ms.
        assert!(
            b_took < Duration::from_millis(40),
            "B took {b_took:?} beside the flood"
        );
        assert_eq!(share.load(), (0, 0));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_lighter_operation_cut_at_a_yield_point_keeps_its_turn() {
        use std::sync::atomic::AtomicUsize;
        let share = CpuShare::new(1);
        let a_chunks = Arc::new(AtomicUsize::new(0));
        let mut flood = Vec::new();
        for _ in 0..8 {
            let (share, a_chunks) = (share.clone(), a_chunks.clone());
            flood.push(tokio::spawn(async move {
                share
                    .run("a".into(), async move {
                        for _ in 0..10 {
                            spin(Duration::from_micros(500));
                            a_chunks.fetch_add(1, Ordering::Relaxed);
                            yield_point().await;
                        }
                    })
                    .await
            }));
        }
        // A has used 10 ms of CPU when B comes: B (2 ms, starting at most 5 ms
        // behind) stays the lighter group throughout, even if the kernel
        // preempts this thread inside a few of B's chunks (time is wall time).
        while a_chunks.load(Ordering::Relaxed) < 20 {
            tokio::task::yield_now().await;
        }
        // B: 4 chunks, each past the slice, so it is cut at every yield point.
        let b = {
            let (share, a_chunks) = (share.clone(), a_chunks.clone());
            tokio::spawn(async move {
                share
                    .run("b".into(), async move {
                        spin(Duration::from_micros(500));
                        let first = a_chunks.load(Ordering::Relaxed);
                        for _ in 0..3 {
                            yield_point().await;
                            spin(Duration::from_micros(500));
                        }
                        a_chunks.load(Ordering::Relaxed) - first
                    })
                    .await
            })
        };
        let a_beside_b = b.await.unwrap();
        for task in flood {
            task.await.unwrap();
        }
        // Cut to let the runtime see others, B is still the lightest: A
        // computes nothing between B's chunks.
        assert_eq!(a_beside_b, 0, "A's chunks between B's first and last");
        assert_eq!(share.load(), (0, 0));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_waiter_dropped_before_its_turn_passes_the_token_on() {
        let share = CpuShare::new(1);
        let (release, hold) = tokio::sync::oneshot::channel::<()>();
        // Holds the token across a whole poll that ends Pending, then nothing.
        let holder = {
            let share = share.clone();
            tokio::spawn(async move {
                share.run("a".into(), async { hold.await.ok() }).await;
            })
        };
        tokio::task::yield_now().await;
        let waiter = {
            let share = share.clone();
            tokio::spawn(async move { share.run("b".into(), async { 1 }).await })
        };
        tokio::task::yield_now().await;
        waiter.abort();
        let _ = waiter.await;
        release.send(()).unwrap();
        holder.await.unwrap();
        assert_eq!(share.run("c".into(), async { 2 }).await, 2);
        assert_eq!(share.load(), (0, 0));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_poll_that_panics_gives_its_token_back() {
        let share = CpuShare::new(1);
        let failing = {
            let share = share.clone();
            tokio::spawn(async move {
                share
                    .run("a".into(), async { panic!("a handler's bug") })
                    .await
            })
        };
        assert!(failing.await.unwrap_err().is_panic());
        assert_eq!(share.load(), (0, 0), "no token lost");
        assert_eq!(share.run("b".into(), async { 3 }).await, 3);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_tenant_alone_one_request_at_a_time_leaves_one_record() {
        let share = CpuShare::new(1);
        for _ in 0..1_000 {
            share.run("b".into(), async {}).await;
        }
        let state = share.shared.lock();
        assert_eq!(state.groups.len(), 1);
        assert_eq!(state.idle.len(), 1, "listed once, not once per request");
    }

    #[test]
    fn idle_groups_are_forgotten_once_the_clock_passes_them() {
        let mut state = State {
            clock: Duration::from_secs(1),
            ..State::default()
        };
        let group: Arc<str> = "old".into();
        let listed = Group {
            listed_idle: true,
            ..Group::default()
        };
        state.groups.insert(group.clone(), listed);
        state.idle.push_back(group.clone());
        prune(&mut state, Duration::from_secs(1));
        assert!(state.groups.is_empty() && state.idle.is_empty());
    }

    /// An operation's long read as an embedded store runs it: `chunks` of
    /// `chunk` of CPU inside the poll, asking at a checkpoint after each.
    /// Returns how often it paused.
    async fn long_read(chunks: usize, chunk: Duration) -> usize {
        assert!(OperationPauses.can_pause(), "polled inside an operation");
        let mut paused = 0;
        for _ in 0..chunks {
            spin(chunk);
            if OperationPauses.should_pause() {
                paused += 1;
                tokio::task::yield_now().await;
            }
        }
        paused
    }

    /// Two threads, as in the server (a worker more than the tokens): B's
    /// operation starts on one while A's read computes on the other.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_long_read_pauses_at_its_checkpoints_for_a_lighter_group() {
        let share = CpuShare::new(1);
        // A: one read of 30 ms of CPU, on the runtime's worker.
        let a = {
            let share = share.clone();
            tokio::spawn(async move {
                share
                    .run("a".into(), long_read(60, Duration::from_micros(500)))
                    .await
            })
        };
        // B comes once A has computed well past its slice, on the test's own
        // thread (a timer would not fire: the one worker that drives timers
        // is computing A's read).
        std::thread::sleep(Duration::from_millis(8));
        let started = Instant::now();
        share
            .run("b".into(), busy(4, Duration::from_micros(500)))
            .await;
        let b_took = started.elapsed();
        let a_paused = a.await.unwrap();
        // Without the pauses B would wait for the rest of A's read (~22 ms).
        assert!(
            b_took < Duration::from_millis(12),
            "B took {b_took:?} beside A's long read"
        );
        assert!(a_paused >= 1, "A paused {a_paused} times");
        assert!(share.charged("a").unwrap() >= Duration::from_millis(30));
        assert_eq!(share.load(), (0, 0));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_long_read_beside_another_busy_tenant_pauses_when_its_slice_is_up() {
        let share = CpuShare::new(1);
        // B: an operation alive but waiting (on a database, say), not computing.
        let (release, waiting) = tokio::sync::oneshot::channel::<()>();
        let b = {
            let share = share.clone();
            tokio::spawn(async move { share.run("b".into(), async { waiting.await.ok() }).await })
        };
        tokio::task::yield_now().await;
        // A: 10 ms of CPU in one read; nobody waits for a token, but the
        // runtime must get to look at its sockets every slice.
        let paused = share
            .run("a".into(), long_read(20, Duration::from_micros(500)))
            .await;
        assert!(paused >= 10, "paused {paused} times in 10 ms");
        release.send(()).unwrap();
        b.await.unwrap();
        assert_eq!(share.load(), (0, 0));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_long_read_alone_does_not_pause() {
        assert!(
            !OperationPauses.can_pause(),
            "no pauses outside an operation"
        );
        assert!(!OperationPauses.should_pause());
        let share = CpuShare::new(1);
        // No other tenant, nobody waiting: 10 ms straight through, past any slice.
        let paused = share
            .run("a".into(), long_read(20, Duration::from_micros(500)))
            .await;
        assert_eq!(paused, 0);
        assert_eq!(share.load(), (0, 0));
    }
}
