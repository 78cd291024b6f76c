//! Kernel threads and a preemptive round-robin scheduler for one CPU.
//!
//! A thread's saved state is the [`InterruptFrame`] on its own stack: every interrupt saves
//! the full CPU state (including FPU/SSE), and [`switch_point`], called at the end of every
//! interrupt, may return another thread's frame instead of the current one. Threads give up
//! the CPU through the same path (a software interrupt), so there is one way in and out.
//! The local APIC timer preempts a thread after [`SLICE_TICKS`] ticks when others are ready.
//!
//! The boot thread becomes the idle thread: it runs only when nothing else is ready, halting
//! the CPU until the next interrupt.
//!
//! # Invariants
//! - The scheduler state is only touched with interrupts disabled (it sits in an
//!   [`IrqMutex`]), so the timer and device interrupts see it consistent.
//! - Exactly one thread is `Running`: the one whose stack the CPU is on.
//! - A thread's frame pointer is valid only while it is not running.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::arch::{self, InterruptFrame};
use crate::mm::map::{allocate_stack, KernelStack};
use crate::sync::IrqMutex;
use crate::time;

/// Timer ticks a thread may run before another ready thread gets the CPU.
pub const SLICE_TICKS: u64 = 2;
/// Default kernel thread stack size.
pub const STACK_BYTES: u64 = 256 * 1024;

pub type ThreadId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running,
    Ready,
    /// Waiting for [`wake`].
    Blocked,
    /// Waiting for the clock to reach a time (nanoseconds since boot).
    Sleeping(u64),
    /// Finished; its stack is freed by [`reap`].
    Dead,
}

struct Thread {
    id: ThreadId,
    name: String,
    state: State,
    frame: *mut InterruptFrame,
    stack: Option<KernelStack>,
    /// Times this thread was switched to.
    runs: u64,
}

struct Scheduler {
    threads: Vec<Thread>,
    current: ThreadId,
    idle: ThreadId,
    ready: VecDeque<ThreadId>,
    next_id: ThreadId,
    ticks_in_slice: u64,
}

// SAFETY: the raw frame pointers are only dereferenced by the scheduler with interrupts off,
// on the one CPU; they point into the threads' own stacks, which the scheduler owns.
unsafe impl Send for Scheduler {}

static SCHEDULER: IrqMutex<Option<Scheduler>> = IrqMutex::new(None);
static NEED_RESCHEDULE: AtomicBool = AtomicBool::new(false);
static CONTEXT_SWITCHES: AtomicU64 = AtomicU64::new(0);
/// Set by `debug hang spin`: the running thread keeps the CPU whatever happens.
static PREEMPTION_DISABLED: AtomicBool = AtomicBool::new(false);

/// Stops all thread switching for good (for `debug hang spin`).
pub fn disable_preemption() {
    PREEMPTION_DISABLED.store(true, Ordering::SeqCst);
}

impl Scheduler {
    fn thread_mut(&mut self, id: ThreadId) -> Option<&mut Thread> {
        self.threads.iter_mut().find(|t| t.id == id)
    }

    fn make_ready(&mut self, id: ThreadId) {
        if let Some(thread) = self.thread_mut(id) {
            if matches!(thread.state, State::Blocked | State::Sleeping(_)) {
                thread.state = State::Ready;
                if id != self.idle {
                    self.ready.push_back(id);
                }
                NEED_RESCHEDULE.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// Turns the running boot context into the idle thread. Call once, before interrupts are on.
pub fn init() {
    let mut scheduler = SCHEDULER.lock();
    *scheduler = Some(Scheduler {
        threads: alloc::vec![Thread {
            id: 0,
            name: String::from("idle"),
            state: State::Running,
            frame: core::ptr::null_mut(),
            stack: None,
            runs: 1,
        }],
        current: 0,
        idle: 0,
        ready: VecDeque::new(),
        next_id: 1,
        ticks_in_slice: 0,
    });
}

extern "C" fn thread_start(closure: u64) -> ! {
    // SAFETY: `spawn` passes a pointer from `Box::into_raw` of this exact type, once.
    let closure = unsafe { Box::from_raw(closure as *mut Box<dyn FnOnce() + Send>) };
    arch::enable_interrupts();
    closure();
    exit_current()
}

#[derive(Debug)]
pub enum SpawnError {
    OutOfMemory,
}

/// Starts a kernel thread running `body`.
pub fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Result<ThreadId, SpawnError> {
    let stack = allocate_stack(STACK_BYTES).map_err(|_| SpawnError::OutOfMemory)?;
    let closure: Box<Box<dyn FnOnce() + Send>> = Box::new(Box::new(body));
    let argument = Box::into_raw(closure) as u64;
    let frame_address = (stack.top() - core::mem::size_of::<InterruptFrame>() as u64 - 64) & !15;
    let frame = frame_address as *mut InterruptFrame;
    // SAFETY: `frame` lies inside the freshly mapped stack, below its top, 16-byte aligned.
    unsafe { frame.write(InterruptFrame::new_thread(thread_start, argument, frame_address)) };
    let mut guard = SCHEDULER.lock();
    let scheduler = guard.as_mut().expect("task::init runs first");
    let id = scheduler.next_id;
    scheduler.next_id += 1;
    scheduler.threads.push(Thread {
        id,
        name: String::from(name),
        state: State::Ready,
        frame,
        stack: Some(stack),
        runs: 0,
    });
    scheduler.ready.push_back(id);
    Ok(id)
}

/// Called at the end of every interrupt with the interrupted thread's frame; returns the
/// frame to resume.
pub fn switch_point(frame: *mut InterruptFrame) -> *mut InterruptFrame {
    if PREEMPTION_DISABLED.load(Ordering::Relaxed) || !NEED_RESCHEDULE.swap(false, Ordering::Relaxed) {
        return frame;
    }
    let Some(mut guard) = SCHEDULER.try_lock() else {
        // Interrupted inside the scheduler itself (cannot happen: it runs with interrupts
        // off); try again at the next interrupt.
        NEED_RESCHEDULE.store(true, Ordering::Relaxed);
        return frame;
    };
    let Some(scheduler) = guard.as_mut() else { return frame };
    let current_id = scheduler.current;
    let idle = scheduler.idle;
    if let Some(current) = scheduler.thread_mut(current_id) {
        current.frame = frame;
        if current.state == State::Running {
            current.state = State::Ready;
            if current_id != idle {
                scheduler.ready.push_back(current_id);
            }
        }
    }
    let next_id = loop {
        match scheduler.ready.pop_front() {
            Some(id) if scheduler.thread_mut(id).is_some_and(|t| t.state == State::Ready) => break id,
            Some(_) => continue,
            None => break idle,
        }
    };
    scheduler.current = next_id;
    scheduler.ticks_in_slice = 0;
    let next = scheduler.thread_mut(next_id).expect("ready threads exist");
    next.state = State::Running;
    next.runs += 1;
    if next_id != current_id {
        CONTEXT_SWITCHES.fetch_add(1, Ordering::Relaxed);
    }
    next.frame
}

/// Timer tick: wakes sleepers whose time has come and ends the current slice when due.
pub fn on_timer_tick() {
    let now = time::now_ns();
    let mut guard = SCHEDULER.lock();
    let Some(scheduler) = guard.as_mut() else { return };
    let due: Vec<ThreadId> = scheduler
        .threads
        .iter()
        .filter(|t| matches!(t.state, State::Sleeping(at) if at <= now))
        .map(|t| t.id)
        .collect();
    for id in due {
        scheduler.make_ready(id);
    }
    scheduler.ticks_in_slice += 1;
    if !scheduler.ready.is_empty()
        && (scheduler.current == scheduler.idle || scheduler.ticks_in_slice >= SLICE_TICKS)
    {
        NEED_RESCHEDULE.store(true, Ordering::Relaxed);
    }
}

/// The running thread.
pub fn current() -> ThreadId {
    SCHEDULER.lock().as_ref().map_or(0, |s| s.current)
}

/// The running thread's name (for fault reports; does not block on the scheduler lock).
pub fn current_name(out: &mut dyn FnMut(&str)) {
    if let Some(guard) = SCHEDULER.try_lock() {
        if let Some(scheduler) = guard.as_ref() {
            if let Some(thread) = scheduler.threads.iter().find(|t| t.id == scheduler.current) {
                out(&thread.name);
                return;
            }
        }
    }
    out("?");
}

/// Whether the running thread's stack guard contains `address` (a stack overflow).
pub fn is_current_stack_guard(address: u64) -> bool {
    SCHEDULER.try_lock().is_some_and(|guard| {
        guard.as_ref().is_some_and(|s| {
            s.threads
                .iter()
                .find(|t| t.id == s.current)
                .and_then(|t| t.stack.as_ref())
                .is_some_and(|stack| stack.guard_contains(address))
        })
    })
}

/// Gives the CPU to another ready thread, if any.
pub fn yield_now() {
    if SCHEDULER.lock().is_none() {
        return;
    }
    NEED_RESCHEDULE.store(true, Ordering::Relaxed);
    arch::interrupts::raise_yield();
}

/// Sleeps for at least `ms` milliseconds.
pub fn sleep_ms(ms: u64) {
    sleep_ns(ms.saturating_mul(1_000_000));
}

/// Sleeps for at least `ns` nanoseconds (woken at the first timer tick after that, or
/// earlier by [`wake`]).
pub fn sleep_ns(ns: u64) {
    let until = time::now_ns().saturating_add(ns);
    set_current_state(State::Sleeping(until));
    yield_now();
}

/// Sleeps like [`sleep_ns`] unless `has_work()` holds. It is checked after the thread is
/// marked sleeping, so a [`wake`] by whoever makes it true cannot fall in between and be lost.
pub fn sleep_ns_unless(ns: u64, mut has_work: impl FnMut() -> bool) {
    let until = time::now_ns().saturating_add(ns);
    let sleeping = arch::without_interrupts(|| {
        set_current_state(State::Sleeping(until));
        if has_work() {
            set_current_state(State::Running);
            false
        } else {
            true
        }
    });
    if sleeping {
        yield_now();
    }
}

fn set_current_state(state: State) {
    let mut guard = SCHEDULER.lock();
    if let Some(scheduler) = guard.as_mut() {
        let current = scheduler.current;
        if let Some(thread) = scheduler.thread_mut(current) {
            thread.state = state;
        }
    }
}

/// Makes a blocked or sleeping thread ready.
pub fn wake(id: ThreadId) {
    if let Some(scheduler) = SCHEDULER.lock().as_mut() {
        scheduler.make_ready(id);
    }
}

/// Blocks the current thread until `ready()` holds. `ready` is evaluated with interrupts off;
/// whoever makes it true must then call [`WaitQueue::wake_all`] on `queue`.
pub fn wait_until(queue: &WaitQueue, mut ready: impl FnMut() -> bool) {
    loop {
        let done = arch::without_interrupts(|| {
            if ready() {
                return true;
            }
            let me = current();
            queue.waiters.lock().push_back(me);
            set_current_state(State::Blocked);
            false
        });
        if done {
            return;
        }
        yield_now();
    }
}

/// Threads waiting for something.
pub struct WaitQueue {
    waiters: IrqMutex<VecDeque<ThreadId>>,
}

impl WaitQueue {
    pub const fn new() -> Self {
        WaitQueue { waiters: IrqMutex::new(VecDeque::new()) }
    }

    /// Wakes every waiting thread (safe to call from interrupt handlers).
    pub fn wake_all(&self) {
        let waiters: VecDeque<ThreadId> = core::mem::take(&mut *self.waiters.lock());
        for id in waiters {
            wake(id);
        }
    }
}

/// Ends the current thread.
pub fn exit_current() -> ! {
    set_current_state(State::Dead);
    loop {
        yield_now();
    }
}

/// Frees the stacks of finished threads. The idle thread calls this.
pub fn reap() {
    let dead: Vec<Thread> = {
        let mut guard = SCHEDULER.lock();
        let Some(scheduler) = guard.as_mut() else { return };
        let current = scheduler.current;
        let (dead, alive) = core::mem::take(&mut scheduler.threads)
            .into_iter()
            .partition(|t| t.state == State::Dead && t.id != current);
        scheduler.threads = alive;
        dead
    };
    drop(dead);
}

/// One line per thread for the `tasks` command: (id, name, state, runs).
pub fn snapshot() -> Vec<(ThreadId, String, State, u64)> {
    SCHEDULER
        .lock()
        .as_ref()
        .map(|s| s.threads.iter().map(|t| (t.id, t.name.clone(), t.state, t.runs)).collect())
        .unwrap_or_default()
}

pub fn context_switches() -> u64 {
    CONTEXT_SWITCHES.load(Ordering::Relaxed)
}

/// The idle loop: the boot thread ends here.
pub fn idle_loop() -> ! {
    loop {
        reap();
        // Halt until an interrupt; `enable_and_hlt` cannot lose a wake-up between the two.
        arch::disable_interrupts();
        let nothing_ready = SCHEDULER.lock().as_ref().is_some_and(|s| s.ready.is_empty());
        if nothing_ready {
            arch::enable_interrupts_and_wait();
        } else {
            arch::enable_interrupts();
            yield_now();
        }
    }
}
