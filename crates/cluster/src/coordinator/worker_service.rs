//! The workers' gRPC `WorkerService`: register, heartbeat, long-poll for a lease (woken when
//! work is queued), complete (result checked by the control state) and fail. A refusal is
//! `FAILED_PRECONDITION` (unknown worker, lease not held) or `INVALID_ARGUMENT` (bad result,
//! naming the field).

use super::{Shared, now_ms};
use crate::control::{Assignment, Refusal};
use reelforest_core::error_chain;
use reelforest_proto::wire::{self, worker_service_server};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::{Request, Response, Status};

/// The `WorkerService` handlers.
pub(super) struct WorkerSvc(pub(super) Arc<Shared>);

fn refusal(r: Refusal) -> Status {
    match r {
        Refusal::UnknownWorker(_) | Refusal::NotHolder { .. } => Status::failed_precondition(r.to_string()),
        Refusal::BadResult { .. } => Status::invalid_argument(error_chain(&r)),
    }
}

#[tonic::async_trait]
impl worker_service_server::WorkerService for WorkerSvc {
    async fn register(
        &self,
        req: Request<wire::RegisterRequest>,
    ) -> std::result::Result<Response<wire::RegisterResponse>, Status> {
        let r = req.into_inner();
        let mut control = self.0.control();
        let id = control.register(&r.name, r.cpus, Instant::now());
        let cfg = control.config();
        tracing::info!(worker = %id, name = %r.name, cpus = r.cpus, "worker registered");
        Ok(Response::new(wire::RegisterResponse {
            worker_id: id,
            heartbeat_interval_ms: cfg.heartbeat_interval.as_millis() as u32,
            heartbeat_timeout_ms: cfg.heartbeat_timeout.as_millis() as u32,
        }))
    }

    async fn heartbeat(
        &self,
        req: Request<wire::HeartbeatRequest>,
    ) -> std::result::Result<Response<wire::HeartbeatResponse>, Status> {
        let known = self.0.control().heartbeat(&req.into_inner().worker_id, Instant::now());
        Ok(Response::new(wire::HeartbeatResponse { known }))
    }

    async fn poll_task(
        &self,
        req: Request<wire::PollTaskRequest>,
    ) -> std::result::Result<Response<wire::PollTaskResponse>, Status> {
        let r = req.into_inner();
        let wait = Duration::from_millis(u64::from(r.wait_ms).min(30_000));
        let until = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.0.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let granted = {
                let mut control = self.0.control();
                if !control.is_registered(&r.worker_id) {
                    return Err(Status::failed_precondition(format!(
                        "worker {} is not registered (register again)",
                        r.worker_id
                    )));
                }
                control.poll(&r.worker_id, Instant::now())
            };
            if let Some(g) = granted {
                let left = g.deadline.saturating_duration_since(Instant::now());
                let (fit, eval) = match g.task {
                    Assignment::Fit(f) => (Some(f), None),
                    Assignment::Eval(e) => (None, Some(e)),
                };
                let lease = wire::TaskLease {
                    lease_id: g.lease_id,
                    job_id: g.job_id.clone(),
                    fit,
                    eval,
                    deadline_unix_ms: now_ms() + left.as_millis() as i64,
                };
                self.0.update(&g.job_id, |_| {});
                return Ok(Response::new(wire::PollTaskResponse { lease: Some(lease) }));
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                return Ok(Response::new(wire::PollTaskResponse { lease: None }));
            }
        }
    }

    async fn complete_task(
        &self,
        req: Request<wire::CompleteTaskRequest>,
    ) -> std::result::Result<Response<wire::CompleteTaskResponse>, Status> {
        let r = req.into_inner();
        let result = self.0.control().complete(&r.worker_id, &r.lease_id, &r.trees, r.stats);
        if let Err(e) = &result {
            tracing::warn!(worker = %r.worker_id, lease = %r.lease_id, error = %error_chain(e), "completion refused");
            // A refused result may have put the task back.
            self.0.work.notify_waiters();
        }
        result.map_err(refusal)?;
        Ok(Response::new(wire::CompleteTaskResponse {}))
    }

    async fn fail_task(
        &self,
        req: Request<wire::FailTaskRequest>,
    ) -> std::result::Result<Response<wire::FailTaskResponse>, Status> {
        let r = req.into_inner();
        let fatal = r.kind == wire::FailureKind::Fatal as i32;
        tracing::warn!(worker = %r.worker_id, lease = %r.lease_id, fatal, message = %r.message, "task failed");
        self.0.control().fail(&r.worker_id, &r.lease_id, fatal, &r.message).map_err(refusal)?;
        self.0.work.notify_waiters();
        Ok(Response::new(wire::FailTaskResponse {}))
    }
}
