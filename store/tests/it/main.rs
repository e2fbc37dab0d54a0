//! Store integration tests, one binary. Every test runs against a real
//! SQLite file and a real PostgreSQL database of its own.

mod backends;
