//! Server integration tests, one binary: a real server on 127.0.0.1 with
//! real TLS, against a real SQLite file and a real PostgreSQL.

mod api;
mod archival;
mod archival_crash;
mod archive_s3;
mod common;
mod config;
mod dashboard;
mod deletion;
mod encryption;
mod evidence;
mod export_jobs;
mod export_vectors;
mod exports;
mod health;
mod integrity;
mod jobs;
mod lifecycle;
mod processes;
mod sessions;
mod slow_clients;
mod tls;
mod webhooks;
