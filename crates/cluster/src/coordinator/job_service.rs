//! The client-facing gRPC `JobService`: submit (checked, journaled, queued), watch (the job's
//! status channel until a terminal state), get, list (without reports), cancel (a queued job
//! at once; a running one through its cancel flag and the control state), cluster status.

use super::{JobEntry, Shared, now_ms};
use crate::control::CancelReason;
use crate::journal::{self, JobRecord, JobState};
use futures::Stream;
use reelforest_core::error_chain;
use reelforest_pipeline::JobSpec;
use reelforest_proto::wire::{self, job_service_server};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tonic::{Request, Response, Status};

fn job_not_found(id: &str) -> Status {
    Status::not_found(format!("no job {id:?} (see `reelforest jobs list`)"))
}

/// The `JobService` handlers.
pub(super) struct JobSvc(pub(super) Arc<Shared>);

type StatusStream = Pin<Box<dyn Stream<Item = std::result::Result<wire::JobStatus, Status>> + Send>>;

#[tonic::async_trait]
impl job_service_server::JobService for JobSvc {
    async fn submit_job(
        &self,
        req: Request<wire::SubmitJobRequest>,
    ) -> std::result::Result<Response<wire::SubmitJobResponse>, Status> {
        let r = req.into_inner();
        let origin = if r.origin.is_empty() { "submitted spec".to_string() } else { r.origin.clone() };
        let spec = JobSpec::from_toml(&r.spec_toml, &origin).map_err(|e| Status::invalid_argument(e.to_string()))?;
        if !r.data_dir.is_empty() && !std::path::Path::new(&r.data_dir).is_dir() {
            return Err(Status::invalid_argument(format!(
                "data_dir {:?} is not a directory the coordinator can read",
                r.data_dir
            )));
        }
        let job_id = format!("job-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let rec = JobRecord {
            job_id: job_id.clone(),
            name: spec.name.clone(),
            state: JobState::Queued,
            error: String::new(),
            report_json: String::new(),
            spec_toml: r.spec_toml,
            data_dir: r.data_dir,
            submitted_unix_ms: now_ms(),
            finished_unix_ms: 0,
        };
        journal::write(&self.0.warehouse, &rec).await.map_err(|e| Status::unavailable(error_chain(&e)))?;
        self.0.jobs().insert(job_id.clone(), JobEntry::new(rec));
        self.0.submitted.notify_one();
        tracing::info!(job = %job_id, name = %spec.name, "job submitted");
        Ok(Response::new(wire::SubmitJobResponse { job_id }))
    }

    type WatchJobStream = StatusStream;

    async fn watch_job(
        &self,
        req: Request<wire::WatchJobRequest>,
    ) -> std::result::Result<Response<Self::WatchJobStream>, Status> {
        let id = req.into_inner().job_id;
        let rx = self.0.jobs().get(&id).map(|e| e.status.subscribe()).ok_or_else(|| job_not_found(&id))?;
        let terminal = |s: &wire::JobStatus| {
            matches!(
                wire::JobState::try_from(s.state),
                Ok(wire::JobState::Succeeded | wire::JobState::Failed | wire::JobState::Cancelled)
            )
        };
        let stream = futures::stream::unfold((rx, false, true), move |(mut rx, done, first)| async move {
            if done {
                return None;
            }
            if !first && rx.changed().await.is_err() {
                return None;
            }
            let s = rx.borrow_and_update().clone();
            let end = terminal(&s);
            Some((Ok(s), (rx, end, false)))
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_job(
        &self,
        req: Request<wire::GetJobRequest>,
    ) -> std::result::Result<Response<wire::JobStatus>, Status> {
        let id = req.into_inner().job_id;
        self.0.jobs().get(&id).map(|e| Response::new(e.status.borrow().clone())).ok_or_else(|| job_not_found(&id))
    }

    async fn list_jobs(
        &self,
        _req: Request<wire::ListJobsRequest>,
    ) -> std::result::Result<Response<wire::ListJobsResponse>, Status> {
        let mut jobs: Vec<wire::JobStatus> = self.0.jobs().values().map(|e| e.status.borrow().clone()).collect();
        jobs.sort_by(|a, b| (a.submitted_unix_ms, &a.job_id).cmp(&(b.submitted_unix_ms, &b.job_id)));
        for j in &mut jobs {
            j.report_json.clear();
        }
        Ok(Response::new(wire::ListJobsResponse { jobs }))
    }

    async fn cancel_job(
        &self,
        req: Request<wire::CancelJobRequest>,
    ) -> std::result::Result<Response<wire::JobStatus>, Status> {
        let id = req.into_inner().job_id;
        let (finished, queued) = {
            let jobs = self.0.jobs();
            let e = jobs.get(&id).ok_or_else(|| job_not_found(&id))?;
            (e.record.is_finished(), e.record.state == JobState::Queued)
        };
        if !finished {
            if queued {
                self.0.update(&id, |e| {
                    e.cancelled.store(true, Ordering::SeqCst);
                    e.record.state = JobState::Cancelled;
                    e.record.error = "cancelled by a client before it started".into();
                    e.record.finished_unix_ms = now_ms();
                });
                let rec = self.0.jobs().get(&id).map(|e| e.record.clone());
                if let Some(rec) = rec {
                    journal::write(&self.0.warehouse, &rec).await.map_err(|e| Status::unavailable(error_chain(&e)))?;
                }
            } else {
                let cancel = self.0.jobs().get(&id).map(|e| {
                    e.cancelled.store(true, Ordering::SeqCst);
                    e.cancel.clone()
                });
                self.0.control().cancel_job(&id, CancelReason::Client);
                if let Some(c) = cancel {
                    c.notify_one();
                }
                tracing::info!(job = %id, "cancel requested");
            }
        }
        let s = self.0.jobs().get(&id).map(|e| e.status.borrow().clone()).ok_or_else(|| job_not_found(&id))?;
        Ok(Response::new(s))
    }

    async fn cluster_status(
        &self,
        _req: Request<wire::ClusterStatusRequest>,
    ) -> std::result::Result<Response<wire::ClusterStatusResponse>, Status> {
        let control = self.0.control();
        let workers = control
            .workers(Instant::now())
            .into_iter()
            .map(|w| wire::WorkerStatus {
                worker_id: w.id,
                name: w.name,
                cpus: w.cpus,
                last_heartbeat_ms_ago: w.since_heartbeat.as_millis() as u64,
                lease_ids: w.leases,
                trees_built: w.trees_built,
                blocks_evaluated: w.blocks_evaluated,
            })
            .collect();
        Ok(Response::new(wire::ClusterStatusResponse { workers, queued_tasks: control.queued() as u32 }))
    }
}
