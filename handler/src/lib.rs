//! The Lambda behind the CloudFormation custom resource `Custom::EntraFederatedRole`: for
//! each resource, an Entra ID application and service principal, its audience on the
//! tenant's IAM OIDC provider, and an IAM role that trusts exactly that audience and
//! those callers.
//!
//! The layers, outside in: [`cfn`] speaks CloudFormation's custom-resource protocol and
//! always answers, whatever happens; it hands each request to a [`cfn::CustomResource`],
//! here [`resource::EntraFederatedRole`], the front door that admits the request and
//! plans it with [`domain`] (pure types: the property contract, the trust policy,
//! ownership markers, guardrails, the plan of an event). The lifecycle [`core`] then
//! converges or removes a generation through two small traits ([`core::ports`]) that
//! the adapters implement. A second front door, [`role_events`], federates roles made
//! outside CloudFormation from IAM's events and a scheduled sweep (DESIGN §9) through
//! the same core. The adapters, which know nothing of each other: [`aws`] (IAM, STS,
//! CloudFormation over the AWS SDK) and [`graph`] (Microsoft Graph and the Entra token
//! endpoint over reqwest). [`signin`] joins them for the factory's own Entra
//! credential. [`config`] reads the environment once at cold start; [`deadline`] and
//! [`retry`] budget every wait against the Lambda deadline; [`settle`] lets concurrent
//! writes land before an event is answered; [`secret`] holds credentials so they never
//! print; [`logging`] keeps URLs and payloads out of the logs; [`tls`] reads the system's
//! trusted roots once for every HTTPS client. The binary (`bootstrap`) only wires these
//! together.

pub mod audit;
pub mod aws;
pub mod cfn;
pub mod config;
pub mod core;
pub mod deadline;
pub mod doctor;
pub mod domain;
pub mod graph;
pub mod logging;
pub mod resource;
pub mod retry;
pub mod role_events;
pub mod secret;
pub mod settle;
pub mod signin;
pub mod tls;
