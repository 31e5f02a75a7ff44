//! Local stand-ins for everything the `bootstrap` binary talks to in AWS, so the
//! end-to-end tests and the demo run the real binary, as deployed, on one machine.
//!
//! A test starts a [`RuntimeApi`](runtime_api::RuntimeApi) (the Lambda Runtime API the
//! binary polls for events), a [`ResponseEndpoint`](response_endpoint::ResponseEndpoint)
//! (the presigned S3 URL CloudFormation sends as `ResponseURL`, recording every PUT) and,
//! when AWS is involved, a [`Moto`](moto::Moto) server for IAM, STS, Secrets Manager and
//! CloudFormation. It then runs the binary with [`Bootstrap`](process::Bootstrap), whose
//! environment points `AWS_LAMBDA_RUNTIME_API` at the emulator; the test adds
//! `AWS_ENDPOINT_URL` (moto) and `EXTRA_RESPONSE_URL_HOSTS` (the response endpoint's
//! host). Each event is queued with [`RuntimeApi::invoke`](runtime_api::RuntimeApi::invoke),
//! carrying a `ResponseURL` from [`ResponseEndpoint::url`](response_endpoint::ResponseEndpoint::url);
//! the test then checks what the binary answered Lambda
//! ([`Outcome`](runtime_api::Outcome)), what it sent CloudFormation
//! ([`RecordedRequest`](response_endpoint::RecordedRequest)) and what it logged.
//!
//! Every server binds 127.0.0.1 on a port the OS picks, so tests run in parallel, and
//! every wait takes an explicit bound, so a hung binary fails a test instead of hanging
//! it. [`factory`] sets the factory itself up (its sign-in, its environment) the same way
//! for the tests, the demo and the benchmarks; [`stacks`] plays CloudFormation on moto's
//! stacks, so the factory's caller check reads real ones; [`role_events`] makes the IAM
//! events and SQS batches the factory's queue delivers. [`http`] is the minimal client
//! the crate uses to reach its own servers and moto's control API. Nothing here knows the handler's
//! code or CloudFormation's JSON beyond what a test passes in; the handler must never
//! depend on this crate outside its tests.

pub mod crash_proxy;
pub mod factory;
pub mod http;
pub mod moto;
pub mod process;
pub mod response_endpoint;
pub mod role_events;
pub mod runtime_api;
pub mod stacks;
mod watched;
