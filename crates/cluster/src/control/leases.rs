//! Task leases: the FIFO queue of lease-able tasks, which worker holds which lease until when,
//! and how many attempts each task has had. A task is a range `first..first + count` of one
//! piece of work (trees of a fit, blocks of an evaluation); which one is
//! [`super::assembly`]'s business, who the workers are is [`super::registry`]'s.
//!
//! A lease's deadline is fixed at the grant (`lease_timeout` later) and never extended.
//! A task given back (bad result, retryable failure, expiry, dead worker) goes to the front of
//! the queue: it is the oldest work. Each grant is an attempt; a give-back past `max_attempts`
//! ends the task instead ([`Requeue::Exhausted`]).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Why a lease was given back; the last one is what a fit that runs out of attempts reports.
#[derive(Debug, thiserror::Error)]
pub enum TaskFailure {
    /// The worker's result was refused.
    #[error("worker {worker} returned a bad result")]
    BadResult {
        /// Worker id.
        worker: String,
        /// What was wrong with the result.
        #[source]
        problem: super::ResultProblem,
    },
    /// The worker reported a retryable failure (its message, as sent).
    #[error("worker {worker}: {message}")]
    Worker {
        /// Worker id.
        worker: String,
        /// The worker's message.
        message: String,
    },
    /// The worker stopped sending heartbeats and was declared dead.
    #[error("worker {0} stopped sending heartbeats")]
    Silent(String),
    /// The lease passed its deadline.
    #[error("lease {0} expired")]
    Expired(String),
}

/// A granted lease.
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    pub(crate) id: String,
    pub(crate) worker: String,
    pub(crate) deadline: Instant,
}

/// One lease-able unit: items `first..first + count` of work `work`.
#[derive(Debug)]
pub(crate) struct TaskEntry {
    pub(crate) work: u64,
    pub(crate) first: u32,
    pub(crate) count: u32,
    attempts: u32,
    lease: Option<Lease>,
}

/// What [`Leases::requeue`] did with a task.
#[derive(Debug)]
pub(crate) enum Requeue {
    /// Back at the front of the queue (or already gone).
    Queued,
    /// Out of attempts: the task is still there (its work is to fail).
    Exhausted {
        /// Its work.
        work: u64,
        /// Its range.
        first: u32,
        /// Its length.
        count: u32,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: TaskFailure,
    },
}

/// Tasks, the queue and the lease index.
#[derive(Debug, Default)]
pub(crate) struct Leases {
    tasks: HashMap<u64, TaskEntry>,
    queue: VecDeque<u64>,
    by_id: HashMap<String, u64>,
}

impl Leases {
    /// Queues task `tid` (behind every other one, or first in line with `front`).
    pub(crate) fn add(&mut self, tid: u64, work: u64, first: u32, count: u32, front: bool) {
        self.tasks.insert(tid, TaskEntry { work, first, count, attempts: 0, lease: None });
        if front {
            self.queue.push_front(tid);
        } else {
            self.queue.push_back(tid);
        }
    }

    /// The task `tid`.
    pub(crate) fn task(&self, tid: u64) -> Option<&TaskEntry> {
        self.tasks.get(&tid)
    }

    /// Takes the first queued task and leases it to `worker` until `now + timeout`; returns the
    /// task and the lease.
    pub(crate) fn grant(&mut self, worker: &str, now: Instant, timeout: Duration) -> Option<(&TaskEntry, Lease)> {
        let tid = self.queue.pop_front()?;
        let task = self.tasks.get_mut(&tid)?;
        task.attempts += 1;
        let lease = Lease {
            id: format!("l{}", tid * 1000 + u64::from(task.attempts)),
            worker: worker.to_string(),
            deadline: now + timeout,
        };
        task.lease = Some(lease.clone());
        self.by_id.insert(lease.id.clone(), tid);
        Some((task, lease))
    }

    /// The task behind `lease` if `worker` holds it.
    pub(crate) fn held(&self, worker: &str, lease: &str) -> Option<u64> {
        let tid = *self.by_id.get(lease)?;
        match &self.tasks.get(&tid)?.lease {
            Some(l) if l.id == lease && l.worker == worker => Some(tid),
            _ => None,
        }
    }

    /// The task behind `lease`, whoever holds it.
    pub(crate) fn task_of(&self, lease: &str) -> Option<u64> {
        self.by_id.get(lease).copied()
    }

    /// Ends the lease of task `tid` (without deciding the task's fate); returns it.
    pub(crate) fn release(&mut self, tid: u64) -> Option<Lease> {
        let l = self.tasks.get_mut(&tid)?.lease.take()?;
        self.by_id.remove(&l.id);
        Some(l)
    }

    /// Puts task `tid` (lease released) back at the front of the queue, unless it has had
    /// `max_attempts` attempts.
    pub(crate) fn requeue(&mut self, tid: u64, failure: TaskFailure, max_attempts: u32) -> Requeue {
        let Some(task) = self.tasks.get(&tid) else { return Requeue::Queued };
        if task.attempts >= max_attempts {
            return Requeue::Exhausted {
                work: task.work,
                first: task.first,
                count: task.count,
                attempts: task.attempts,
                last: failure,
            };
        }
        self.queue.push_front(tid);
        Requeue::Queued
    }

    /// Forgets task `tid` (done); its lease must be released first.
    pub(crate) fn remove(&mut self, tid: u64) {
        self.tasks.remove(&tid);
    }

    /// Forgets every task of `work`; returns the leases that were still held.
    pub(crate) fn remove_work(&mut self, work: u64) -> Vec<Lease> {
        let tids: Vec<u64> = self.tasks.iter().filter(|(_, t)| t.work == work).map(|(id, _)| *id).collect();
        let mut released = Vec::new();
        for tid in tids {
            released.extend(self.release(tid));
            self.tasks.remove(&tid);
        }
        self.queue.retain(|t| self.tasks.contains_key(t));
        released
    }

    /// Tasks whose lease is past its deadline, with the lease id.
    pub(crate) fn expired(&self, now: Instant) -> Vec<(u64, String)> {
        self.tasks
            .iter()
            .filter_map(|(tid, t)| t.lease.as_ref().filter(|l| l.deadline < now).map(|l| (*tid, l.id.clone())))
            .collect()
    }

    /// `(work, worker)` of every held lease.
    pub(crate) fn holders(&self) -> impl Iterator<Item = (u64, &str)> {
        self.tasks.values().filter_map(|t| t.lease.as_ref().map(|l| (t.work, l.worker.as_str())))
    }

    /// Tasks waiting for a worker.
    pub(crate) fn queued(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn given_back_tasks_go_first_until_out_of_attempts() {
        let mut l = Leases::default();
        let t0 = Instant::now();
        let timeout = Duration::from_secs(30);
        l.add(2, 1, 0, 5, false);
        l.add(3, 1, 5, 5, false);
        let (task, lease) = l.grant("a", t0, timeout).unwrap();
        assert_eq!((task.first, lease.id.as_str(), lease.deadline), (0, "l2001", t0 + timeout));
        assert_eq!(l.held("a", "l2001"), Some(2));
        assert_eq!(l.held("b", "l2001"), None, "only the holder");
        assert_eq!(l.expired(t0 + Duration::from_secs(31)), vec![(2, "l2001".to_string())]);
        assert_eq!(l.release(2).unwrap().worker, "a");
        assert!(matches!(l.requeue(2, TaskFailure::Expired("l2001".into()), 2), Requeue::Queued));
        let (task, lease) = l.grant("b", t0, timeout).unwrap();
        assert_eq!((task.first, lease.id.as_str()), (0, "l2002"), "the given-back task is first, attempt 2");
        assert_eq!(l.held("a", "l2001"), None, "the old lease is gone");
        l.release(2);
        let out = l.requeue(2, TaskFailure::Silent("b".into()), 2);
        assert!(matches!(out, Requeue::Exhausted { work: 1, first: 0, count: 5, attempts: 2, .. }), "{out:?}");
        assert_eq!(l.queued(), 1);
        assert!(l.remove_work(1).is_empty());
        assert_eq!((l.queued(), l.holders().count()), (0, 0));
    }
}
