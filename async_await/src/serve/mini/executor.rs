//! mini's executor, grown for a server. Three things change from
//! `crate::mini::Executor`, each one a shortcut the fetch could take and a
//! server cannot:
//!
//! - a task can spawn tasks (the accept loop spawns one per connection),
//!   through a [`Spawner`]: the new task waits in a queue and joins the
//!   ready queue as soon as the task that spawned it has been polled;
//! - a finished task's slot is given to the next task, so a server that
//!   runs for days holds as many slots as it ever had connections at once;
//! - [`block_on`](Executor::block_on) runs until its first task, the
//!   server, ends, and drops whatever still runs then (which closes its
//!   sockets), as tokio does when its runtime is dropped.
//!
//! The wakers, the ready queue and the poll are mini's own.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use crate::mini::{next_ready, Reactor, Task};

type BoxedTask<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Hands new tasks to the executor from inside a task: asyncio's
/// `loop.create_task`. Clones share the queue.
#[derive(Clone)]
pub struct Spawner<'a> {
    queue: Rc<RefCell<Vec<BoxedTask<'a>>>>,
}

impl<'a> Spawner<'a> {
    /// Start `future` as a task of its own on the executor's next round.
    pub fn spawn(&self, future: impl Future<Output = ()> + 'a) {
        self.queue.borrow_mut().push(Box::pin(future));
    }
}

/// Tasks, the slots free for new ones, and the ready queue.
pub struct Executor<'a> {
    tasks: Vec<Option<Task<'a>>>,
    free: Vec<usize>,
    ready: Arc<Mutex<VecDeque<usize>>>,
    spawner: Spawner<'a>,
}

impl<'a> Executor<'a> {
    pub fn new() -> Executor<'a> {
        Executor {
            tasks: Vec::new(),
            free: Vec::new(),
            ready: Arc::new(Mutex::new(VecDeque::new())),
            spawner: Spawner {
                queue: Rc::new(RefCell::new(Vec::new())),
            },
        }
    }

    /// What tasks spawn tasks with.
    pub fn spawner(&self) -> Spawner<'a> {
        self.spawner.clone()
    }

    /// Put `future` in a free slot (or a new one), ready for its first step.
    fn start(&mut self, future: BoxedTask<'a>) -> usize {
        let id = self.free.pop().unwrap_or(self.tasks.len());
        let task = Some(Task::new(id, future, &self.ready));
        match self.tasks.get_mut(id) {
            Some(slot) => *slot = task,
            None => self.tasks.push(task),
        }
        self.ready
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(id);
        id
    }

    /// The tasks spawned since the last look, started.
    fn start_spawned(&mut self) {
        let spawned = std::mem::take(&mut *self.spawner.queue.borrow_mut());
        for future in spawned {
            self.start(future);
        }
    }

    // ANCHOR: block_on
    /// Run `main`, and every task it spawns, until `main` ends; then drop
    /// the tasks left and return what `main` returned.
    pub fn block_on(
        &mut self,
        reactor: &Reactor,
        main: impl Future<Output = io::Result<()>> + 'a,
    ) -> io::Result<()> {
        let outcome = Rc::new(Cell::new(None));
        let main_id = {
            let outcome = outcome.clone();
            self.start(Box::pin(async move { outcome.set(Some(main.await)) }))
        };
        loop {
            // mini's loop: poll every task whose waker was called.
            while let Some(id) = next_ready(&self.ready) {
                // A wake for a slot that is empty (a stale timer): skip. A
                // stale wake for a slot that holds a newer task polls that
                // task once for nothing, which every future here allows.
                let Some(task) = &mut self.tasks[id] else {
                    continue;
                };
                let finished = task.step();
                // The tasks it spawned join the ready queue, behind it.
                self.start_spawned();
                if finished {
                    self.tasks[id] = None; // frees the task's state machine
                    self.free.push(id);
                    if id == main_id {
                        // The server is done: drop the tasks left.
                        self.tasks.iter_mut().for_each(|slot| *slot = None);
                        self.free = (0..self.tasks.len()).collect();
                        self.spawner.queue.borrow_mut().clear();
                        return outcome.take().unwrap_or(Ok(()));
                    }
                }
            }
            reactor.turn(true)?;
        }
    }
    // ANCHOR_END: block_on
}

impl Default for Executor<'_> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Let the other ready tasks run before this one goes on: it wakes itself
    /// and answers `Pending` once.
    async fn yield_now() {
        let mut yielded = false;
        std::future::poll_fn(|cx| {
            if yielded {
                return std::task::Poll::Ready(());
            }
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        })
        .await
    }

    /// Tasks spawned by a task run, reuse the slots of those that ended,
    /// and the loop ends with the first task even if others still wait.
    #[test]
    fn tasks_spawn_tasks_reuse_slots_and_end_with_the_first() {
        let reactor = Reactor::new().unwrap();
        let ran = Cell::new(0);
        let mut executor = Executor::new();
        let spawner = executor.spawner();
        let ran_ref = &ran;
        let result = executor.block_on(&reactor, async move {
            for round in 1..=3 {
                spawner.spawn(async move { ran_ref.set(ran_ref.get() + 1) });
                while ran_ref.get() < round {
                    yield_now().await;
                }
            }
            // One that never ends: dropped when main returns.
            spawner.spawn(std::future::pending());
            yield_now().await;
            Ok(())
        });
        result.unwrap();
        assert_eq!(ran.get(), 3);
        assert!(
            executor.tasks.iter().all(Option::is_none),
            "the pending task was dropped"
        );
        // main's slot, and one the four others took in turn.
        assert_eq!(executor.tasks.len(), 2);
    }
}
