//! Tests of the Lambda as CloudFormation sees it: the protocol layer in-process with test
//! resources, and the real `bootstrap` binary under a local Lambda Runtime API.

mod audit;
mod aws;
mod binary;
mod caller;
mod crash;
mod doctor;
mod events;
mod exchange;
mod graph;
mod lifecycle;
mod moto_support;
mod persisted;
mod protocol;
mod role_events;
mod signin;
mod tls;
