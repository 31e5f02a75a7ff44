//! The Lambda behind the CloudFormation custom resource `Custom::EntraFederatedRole`.
//!
//! (crate docs are written once the layers are in place)

pub mod aws;
pub mod cfn;
pub mod config;
pub mod deadline;
pub mod domain;
pub mod graph;
pub mod logging;
pub mod resource;
pub mod retry;
pub mod secret;
pub mod signin;
