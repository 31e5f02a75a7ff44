//! Benchmarks of the `bootstrap` binary (issues 7 and 18), run by `scripts/bench` through the
//! `efr-bench` binary, which writes `bench/results.json` and the figures block of
//! `BENCHMARKS.md`:
//!
//! - [`cold_start`]: exec → first poll of the Lambda Runtime API, against a boto3
//!   baseline doing the equivalent initialisation, interleaved in one run;
//! - [`footprint`]: peak resident memory across Create, Update and Delete, binary and
//!   zip sizes;
//! - [`critical_path`]: sequential remote round trips of a Create and a Delete, from
//!   runs with and without a fixed latency on every call, and the calls themselves;
//! - [`org_scale`]: N resources across A accounts through the hub, P processes, Graph
//!   throttled at its documented limits ([`throttle`]): success, duplicates, leftovers,
//!   throughput.
//!
//! Everything runs on the local stand-ins of [`lab`]; nothing here asserts on time (the
//! smoke test in `tests/` checks only correctness).

pub mod audit_scale;
pub mod cold_start;
pub mod critical_path;
pub mod footprint;
pub mod lab;
pub mod org_scale;
pub mod report;
pub mod stats;
pub mod sweep_scale;
pub mod throttle;
