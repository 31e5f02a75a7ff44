//! Shared state that tasks can wait on: a mutex-guarded value plus a change signal.
//!
//! Every server in this crate keeps what it has seen in a [`Watched`] value; request
//! handlers change it through [`Watched::update`], and test code waits for a condition on
//! it with [`Watched::wait_until`], which wakes on each change instead of polling.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// A value behind a mutex that notifies waiters whenever it is updated.
#[derive(Debug)]
pub(crate) struct Watched<T> {
    value: Mutex<T>,
    changed: watch::Sender<()>,
}

impl<T> Watched<T> {
    /// Wraps `value`.
    pub(crate) fn new(value: T) -> Self {
        Self {
            value: Mutex::new(value),
            changed: watch::Sender::new(()),
        }
    }

    /// Reads the value (the lock is never held across an await).
    pub(crate) fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.lock())
    }

    /// Changes the value and wakes every waiter.
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let result = f(&mut self.lock());
        self.changed.send_replace(());
        result
    }

    /// Waits until `f` returns `Some`, re-checking after every update, or until `wait`
    /// has passed (`None` waits for ever). `f` may change the value (e.g. pop a queue):
    /// it runs under the lock, so the check and the change are atomic.
    pub(crate) async fn wait_until<R>(
        &self,
        wait: Option<Duration>,
        mut f: impl FnMut(&mut T) -> Option<R>,
    ) -> Option<R> {
        let deadline = wait.map(|wait| Instant::now() + wait);
        // Subscribing before checking means no update between the check and the wait
        // can be missed.
        let mut changes = self.changed.subscribe();
        loop {
            let found = f(&mut self.lock());
            if found.is_some() {
                return found;
            }
            match deadline {
                // The sender lives in `self`, so `changed` cannot fail while we borrow it.
                None => changes.changed().await.ok()?,
                Some(deadline) => {
                    match tokio::time::timeout_at(deadline, changes.changed()).await {
                        Ok(changed) => changed.ok()?,
                        // One last look: the condition may have become true just now.
                        Err(_elapsed) => return f(&mut self.lock()),
                    }
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, T> {
        // A panic in a test thread must not hide the state from the other tests' reports.
        self.value.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
