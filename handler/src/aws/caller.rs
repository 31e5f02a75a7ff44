//! Confirming the caller's stack (DESIGN §2): Lambda does not say who invoked it, and
//! anyone the resource policy admits can forge a whole event, so before any write we
//! check, in the target account, that the stack exists, is in an `*_IN_PROGRESS` status,
//! and holds the event's logical resource with the event's resource type.

use super::{Account, AwsError, ErrorKind};
use crate::{
    deadline::Deadline,
    domain::ownership::StackArn,
    retry::{Backoff, retry},
};

/// Why the caller's stack could not be confirmed.
#[derive(Debug, thiserror::Error)]
pub enum CallerError {
    /// No such stack in the target account.
    #[error(
        "stack {stack} does not exist in account {account}; the request was not sent by CloudFormation for this account"
    )]
    NoStack {
        /// The stack.
        stack: String,
        /// The account.
        account: String,
    },
    /// The stack is not being changed.
    #[error(
        "stack {stack} is {status}, not in progress; CloudFormation only sends requests while a stack operation runs"
    )]
    NotInProgress {
        /// The stack.
        stack: String,
        /// Its status.
        status: String,
    },
    /// The stack has no such resource.
    #[error("stack {stack} has no resource {logical_id}")]
    NoResource {
        /// The stack.
        stack: String,
        /// The logical id.
        logical_id: String,
    },
    /// The resource is of another type.
    #[error("resource {logical_id} of stack {stack} is a {found}, not a {expected}")]
    WrongType {
        /// The stack.
        stack: String,
        /// The logical id.
        logical_id: String,
        /// Its type.
        found: String,
        /// The event's type.
        expected: String,
    },
    /// A call failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
}

impl Account {
    /// Confirms that `stack` is in progress and holds `logical_id` of `resource_type`.
    pub async fn verify_caller(
        &self,
        stack: &StackArn,
        logical_id: &str,
        resource_type: &str,
        deadline: Deadline,
    ) -> Result<(), CallerError> {
        let described = retry(
            deadline,
            Backoff::STANDARD,
            AwsError::is_transient,
            || async {
                self.cloudformation
                    .describe_stacks()
                    .stack_name(&stack.arn)
                    .send()
                    .await
                    .map_err(|e| AwsError::from_sdk(format!("describing stack {}", stack.arn), e))
            },
        );
        let resource = retry(
            deadline,
            Backoff::STANDARD,
            AwsError::is_transient,
            || async {
                self.cloudformation
                    .describe_stack_resource()
                    .stack_name(&stack.arn)
                    .logical_resource_id(logical_id)
                    .send()
                    .await
                    .map_err(|e| {
                        AwsError::from_sdk(
                            format!("describing resource {logical_id} of {}", stack.arn),
                            e,
                        )
                    })
            },
        );
        let (described, resource) = futures::join!(described, resource);

        let no_stack = || CallerError::NoStack {
            stack: stack.arn.clone(),
            account: self.id.clone(),
        };
        let described = match described {
            Ok(described) => described,
            Err(error) if error.kind() == ErrorKind::Validation => return Err(no_stack()),
            Err(error) => return Err(error.into()),
        };
        let status = described
            .stacks()
            .iter()
            .find(|s| s.stack_id() == Some(stack.arn.as_str()))
            .and_then(|s| s.stack_status())
            .map(|status| status.as_str().to_owned())
            .ok_or_else(no_stack)?;
        if !status.ends_with("_IN_PROGRESS") {
            return Err(CallerError::NotInProgress {
                stack: stack.arn.clone(),
                status,
            });
        }
        let no_resource = || CallerError::NoResource {
            stack: stack.arn.clone(),
            logical_id: logical_id.to_owned(),
        };
        let resource = match resource {
            Ok(resource) => resource,
            Err(error) if error.kind() == ErrorKind::Validation => return Err(no_resource()),
            Err(error) => return Err(error.into()),
        };
        let found = resource
            .stack_resource_detail()
            .and_then(|detail| detail.resource_type())
            .map(str::to_owned)
            .ok_or_else(no_resource)?;
        if found != resource_type {
            return Err(CallerError::WrongType {
                stack: stack.arn.clone(),
                logical_id: logical_id.to_owned(),
                found,
                expected: resource_type.to_owned(),
            });
        }
        Ok(())
    }
}
