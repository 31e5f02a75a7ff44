//! The web-identity role: created with everything at once, converged in place by diffing
//! desired against observed, and deleted only when its ownership tags say it is this
//! generation's.

use std::future::Future;

use aws_sdk_iam::types::Tag;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::{Account, AwsError, ErrorKind, provider::ProviderError};
use crate::{
    deadline::Deadline,
    domain::{
        RoleName, RolePath,
        adoption::ForeignRole,
        ownership::{MANAGED_BY_VALUE, Ownership, TAG_GENERATION, TAG_MANAGED_BY},
        role::{RoleSpec, RoleState, RoleWrite, RoleWrites, role_removal, role_writes},
        trust::TrustPolicyError,
    },
    retry::Backoff,
    settle::settle_all,
};

/// Errors of the role operations.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    /// A call failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The provider the trust names could not be put back.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The role's policies are over one of IAM's quotas.
    #[error(
        "{source}; role {role} is over IAM's quota (by default 10 managed policies per role, \
         at most 20, and 10,240 characters of inline policies): give fewer \
         ManagedPolicyArns or smaller Policies, or raise the quota in Service Quotas, and \
         retry"
    )]
    PolicyQuota {
        /// The role's name.
        role: String,
        /// IAM's refusal.
        source: AwsError,
    },
    /// A role made outside CloudFormation is gone, made again, or no longer asks to be
    /// federated: what the factory was about to write no longer applies.
    #[error("role {name} {why}, so the factory left it alone; its own event converges it")]
    Changed {
        /// The role's name.
        name: String,
        /// What changed.
        why: &'static str,
    },
    /// The trust of a role made outside CloudFormation cannot take the factory's
    /// statement.
    #[error(transparent)]
    Trust(#[from] TrustPolicyError),
    /// A role of that name exists but is not this resource generation's.
    #[error(
        "a role named {name} (IAM compares role names regardless of case) already exists in \
         account {account} and was not made by this resource; choose another RoleName, or \
         delete or rename that role"
    )]
    NotOurs {
        /// The role's name.
        name: String,
        /// The account.
        account: String,
    },
}

/// What Delete found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleDeletion {
    /// Deleted.
    Deleted,
    /// There was no such role.
    Absent,
    /// A role of that name exists but is not this generation's: left alone.
    NotOurs,
}

/// What [`Account::create_sealed`] came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedRole {
    /// Created sealed, its policies in place: only the trust is left to set. The ARN.
    Created(String),
    /// A role of that name exists already: converge it once the trust is known.
    Exists,
    /// IAM refused the sealed trust: create the role once the trust is known.
    Refused,
}

/// The role as [`Account::observe_role`] read it: `None` when there was none.
pub type ObservedRole = Option<RoleState>;

/// IAM returns policy documents URL-encoded (RFC 3986).
pub(crate) fn decode_policy(document: &str) -> String {
    percent_encoding::percent_decode_str(document)
        .decode_utf8_lossy()
        .into_owned()
}

pub(super) fn trust_of(role: &aws_sdk_iam::types::Role) -> String {
    role.assume_role_policy_document()
        .map(decode_policy)
        .unwrap_or_default()
}

pub(super) fn boundary_of(role: &aws_sdk_iam::types::Role) -> Option<String> {
    role.permissions_boundary()
        .and_then(|b| b.permissions_boundary_arn())
        .map(str::to_owned)
}

pub(super) fn tags_of(role: &aws_sdk_iam::types::Role) -> Vec<(String, String)> {
    role.tags()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

/// IAM's answer to a trust naming a provider it does not see: one just created and not yet
/// visible, or one deleted meanwhile.
fn invalid_principal(error: &AwsError) -> bool {
    error.kind() == ErrorKind::MalformedPolicyDocument
        && error
            .message()
            .is_some_and(|m| m.to_ascii_lowercase().contains("invalid principal"))
}

impl RoleError {
    /// Whether IAM refused the trust because it does not see its provider.
    pub fn is_invalid_principal(&self) -> bool {
        matches!(self, Self::Aws(error) if invalid_principal(error))
    }
}

impl Account {
    /// Creates the role, or converges it when it exists already (a repeated Create).
    /// Returns its ARN.
    pub async fn create_role(
        &self,
        spec: &RoleSpec,
        deadline: Deadline,
    ) -> Result<String, RoleError> {
        match self.create_new(spec, deadline).await? {
            Some(arn) => Ok(arn),
            None => self.converge_role(spec, deadline).await,
        }
    }

    /// Creates the role with everything but its callers: `spec`'s trust is
    /// [`sealed_trust_policy`](crate::domain::trust::sealed_trust_policy), so it can be made
    /// while the Entra side is still being registered; [`Account::set_trust`] then sets the
    /// real trust. A role that exists already is left alone (a repeated Create converges
    /// it once the trust is known).
    pub async fn create_sealed(
        &self,
        spec: &RoleSpec,
        deadline: Deadline,
    ) -> Result<SealedRole, RoleError> {
        match self.create_bare(spec, deadline).await {
            Ok(arn) => {
                self.put_policies(spec, deadline).await?;
                tracing::info!(role = %spec.name, "created the role, sealed until its trust is set");
                Ok(SealedRole::Created(arn))
            }
            Err(error) if error.kind() == ErrorKind::EntityAlreadyExists => Ok(SealedRole::Exists),
            Err(error) if error.kind() == ErrorKind::MalformedPolicyDocument => {
                tracing::warn!(role = %spec.name, %error, "IAM refused the sealed trust; the role is created once its trust is known");
                Ok(SealedRole::Refused)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Replaces the trust of the role `spec` names with `spec`'s (one
    /// [`Account::create_sealed`] made sealed, or one converged but for its trust).
    pub async fn set_trust(&self, spec: &RoleSpec, deadline: Deadline) -> Result<(), AwsError> {
        let trust = RoleWrite::SetTrust(spec.trust_policy.clone());
        self.write_role(&spec.name, &trust, deadline).await?;
        tracing::info!(role = %spec.name, "set the role's trust");
        Ok(())
    }

    /// Brings the role in line with `spec` (recreating it if it vanished). Returns its ARN.
    pub async fn converge_role(
        &self,
        spec: &RoleSpec,
        deadline: Deadline,
    ) -> Result<String, RoleError> {
        let observed = self.observe_role(&spec.name, deadline).await?;
        self.converge_observed(spec, observed, deadline).await
    }

    /// [`Account::converge_role`] from `observed`, read earlier in the same event.
    pub async fn converge_observed(
        &self,
        spec: &RoleSpec,
        observed: ObservedRole,
        deadline: Deadline,
    ) -> Result<String, RoleError> {
        let not_ours = || RoleError::NotOurs {
            name: spec.name.to_string(),
            account: self.id.clone(),
        };
        let observed = match observed {
            Some(observed) => observed,
            None => match self.create_new(spec, deadline).await? {
                Some(arn) => return Ok(arn),
                // Made meanwhile, or the name is another role's in another case (IAM
                // compares role names regardless of case, GetRole may not): read it once.
                None => self
                    .observe_role(&spec.name, deadline)
                    .await?
                    .ok_or_else(not_ours)?,
            },
        };
        if !spec.ownership.owns(&observed.tags) {
            return Err(not_ours());
        }
        let writes = role_writes(spec, &observed);
        if !writes.is_empty() {
            tracing::info!(role = %spec.name, plan = %writes, "converging the role");
        }
        self.apply_role_writes(&spec.name, &writes, deadline)
            .await?;
        Ok(spec.arn(&self.partition, &self.id))
    }

    /// The generation key the role `name` carries, when it is one of ours: `None` when
    /// there is no such role, or it carries no marker of ours.
    pub async fn role_generation(
        &self,
        name: &RoleName,
        deadline: Deadline,
    ) -> Result<Option<String>, AwsError> {
        let role = self.get_role(name, deadline).await?;
        let tags = role.as_ref().map(|role| role.tags()).unwrap_or_default();
        let tag = |key: &str| tags.iter().find(|t| t.key() == key).map(|t| t.value());
        Ok((tag(TAG_MANAGED_BY) == Some(MANAGED_BY_VALUE))
            .then(|| tag(TAG_GENERATION).map(str::to_owned))
            .flatten())
    }

    /// Deletes the role if it is `ownership`'s: policies detached and deleted, then the
    /// role. A missing role (or policy) at any step is success.
    pub async fn delete_role(
        &self,
        name: &RoleName,
        ownership: &Ownership,
        deadline: Deadline,
    ) -> Result<RoleDeletion, AwsError> {
        let Some(observed) = self.observe_role(name, deadline).await? else {
            return Ok(RoleDeletion::Absent);
        };
        if !ownership.owns(&observed.tags) {
            tracing::warn!(role = %name, "left a role that is not this generation's");
            return Ok(RoleDeletion::NotOurs);
        }
        settle_all(
            role_removal(&observed)
                .iter()
                .map(|write| self.write_role(name, write, deadline)),
        )
        .await?;
        let deleted = self
            .write(deadline, format!("deleting role {name}"), |iam| {
                iam.delete_role().role_name(name.as_str()).send()
            })
            .await;
        match deleted {
            Err(error) if error.kind() == ErrorKind::DeleteConflict => {
                // Something attached a policy meanwhile: start over while time allows,
                // after a pause (a conflict that persists must not spin).
                let pause = Backoff::STANDARD.pause(2);
                if deadline.allows(Backoff::STANDARD.cap) {
                    tokio::time::sleep(pause).await;
                    Box::pin(self.delete_role(name, ownership, deadline)).await
                } else {
                    Err(error)
                }
            }
            Err(error) if error.kind() != ErrorKind::NoSuchEntity => Err(error),
            _ => {
                tracing::info!(role = %name, "deleted the role");
                Ok(RoleDeletion::Deleted)
            }
        }
    }

    /// CreateRole with everything it takes, then the policies it does not. `None` when
    /// the name is taken.
    async fn create_new(
        &self,
        spec: &RoleSpec,
        deadline: Deadline,
    ) -> Result<Option<String>, RoleError> {
        let arn = match self.create_bare(spec, deadline).await {
            Ok(arn) => arn,
            Err(error) if error.kind() == ErrorKind::EntityAlreadyExists => return Ok(None),
            Err(error) => return Err(error.into()),
        };
        self.put_policies(spec, deadline).await?;
        tracing::info!(role = %spec.name, "created the role");
        Ok(Some(arn))
    }

    /// CreateRole with everything it takes. Returns the ARN.
    async fn create_bare(&self, spec: &RoleSpec, deadline: Deadline) -> Result<String, AwsError> {
        let created = self
            .write(deadline, format!("creating role {}", spec.name), |iam| {
                iam.create_role()
                    .role_name(spec.name.as_str())
                    .path(spec.path.as_str())
                    .assume_role_policy_document(&spec.trust_policy)
                    .set_description(spec.description.as_ref().map(|d| d.as_str().to_owned()))
                    .max_session_duration(session_seconds(spec.max_session_duration.seconds()))
                    .set_permissions_boundary(
                        spec.permissions_boundary
                            .as_ref()
                            .map(|b| b.as_str().to_owned()),
                    )
                    .set_tags(Some(tags(&spec.tags)))
                    .send()
            })
            .await?;
        Ok(created
            .role()
            .map(|role| role.arn().to_owned())
            .unwrap_or_else(|| spec.arn(&self.partition, &self.id)))
    }

    /// The managed and inline policies of a just-created role, all at once.
    async fn put_policies(&self, spec: &RoleSpec, deadline: Deadline) -> Result<(), RoleError> {
        let writes = role_writes(spec, &RoleState::created(spec));
        self.apply_role_writes(&spec.name, &writes, deadline).await
    }

    /// Makes `writes` on the role `name`: the boundary's first, then the rest at once,
    /// each run to its end ([`crate::settle`]).
    async fn apply_role_writes(
        &self,
        name: &RoleName,
        writes: &RoleWrites,
        deadline: Deadline,
    ) -> Result<(), RoleError> {
        let quota = |source: AwsError| match source.kind() {
            ErrorKind::LimitExceeded => RoleError::PolicyQuota {
                role: name.to_string(),
                source,
            },
            _ => source.into(),
        };
        if let Some(boundary) = &writes.boundary {
            self.write_role(name, boundary, deadline)
                .await
                .map_err(quota)?;
        }
        settle_all(
            writes
                .rest
                .iter()
                .map(|write| self.write_role(name, write, deadline)),
        )
        .await
        .map(drop)
        .map_err(quota)
    }

    /// The role `name` as IAM has it now — its managed and inline policy names included;
    /// `None` when it does not exist — for [`Account::converge_observed`]: read while the
    /// rest of the event's work is still running, so the converge writes need not wait.
    pub async fn observe_role(
        &self,
        name: &RoleName,
        deadline: Deadline,
    ) -> Result<ObservedRole, AwsError> {
        let inline = self.read(
            deadline,
            format!("listing the inline policies of {name}"),
            |iam| {
                iam.list_role_policies()
                    .role_name(name.as_str())
                    .into_paginator()
                    .items()
                    .send()
                    .collect::<Result<Vec<_>, _>>()
            },
        );
        let (role, inline) = futures::join!(self.read_role(name, deadline), inline);
        let inline = match inline {
            Ok(inline) => inline,
            Err(error) if error.kind() == ErrorKind::NoSuchEntity => return Ok(None),
            Err(error) => return Err(error),
        };
        let Some((role, managed)) = role? else {
            return Ok(None);
        };
        Ok(Some(RoleState {
            trust: trust_of(&role),
            description: role
                .description()
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
            max_session: role
                .max_session_duration()
                .and_then(|s| u32::try_from(s).ok()),
            boundary: boundary_of(&role),
            tags: tags_of(&role),
            managed,
            inline,
        }))
    }

    /// The role `name` (`GetRole`); `None` when it does not exist.
    pub(super) async fn get_role(
        &self,
        name: &RoleName,
        deadline: Deadline,
    ) -> Result<Option<aws_sdk_iam::types::Role>, AwsError> {
        let read = self
            .read(deadline, format!("reading role {name}"), |iam| {
                iam.get_role().role_name(name.as_str()).send()
            })
            .await;
        match read {
            Ok(output) => Ok(output.role),
            Err(error) if error.kind() == ErrorKind::NoSuchEntity => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The role `name` and the ARNs of its managed policies, read at once; `None` when
    /// it does not exist.
    async fn read_role(
        &self,
        name: &RoleName,
        deadline: Deadline,
    ) -> Result<Option<(aws_sdk_iam::types::Role, Vec<String>)>, AwsError> {
        let role = self.get_role(name, deadline);
        let managed = self.read(
            deadline,
            format!("listing the policies attached to {name}"),
            |iam| {
                iam.list_attached_role_policies()
                    .role_name(name.as_str())
                    .into_paginator()
                    .items()
                    .send()
                    .collect::<Result<Vec<_>, _>>()
            },
        );
        let (role, managed) = match futures::join!(role, managed) {
            (Ok(role), Ok(managed)) => (role, managed),
            (_, Err(error)) if error.kind() == ErrorKind::NoSuchEntity => return Ok(None),
            (Err(error), _) | (_, Err(error)) => return Err(error),
        };
        let managed = managed
            .iter()
            .filter_map(|p| p.policy_arn())
            .map(str::to_owned)
            .collect();
        Ok(role.map(|role| (role, managed)))
    }

    /// The role `name`, made outside CloudFormation, as IAM has it now: read with its
    /// managed policies at once; `None` when it does not exist.
    pub async fn read_foreign(
        &self,
        name: &RoleName,
        deadline: Deadline,
    ) -> Result<Option<ForeignRole>, AwsError> {
        let Some((role, managed)) = self.read_role(name, deadline).await? else {
            return Ok(None);
        };
        Ok(Some(ForeignRole {
            // As IAM spells it, whatever the event's spelling.
            name: RoleName::parse(role.role_name()).unwrap_or_else(|_| name.clone()),
            path: role.path().to_owned(),
            id: role.role_id().to_owned(),
            arn: role.arn().to_owned(),
            trust: trust_of(&role),
            boundary: boundary_of(&role),
            tags: tags_of(&role),
            managed,
        }))
    }

    /// The names of every role under `prefix`, for the sweep of roles made outside
    /// CloudFormation.
    pub async fn roles_on_path(
        &self,
        prefix: &RolePath,
        deadline: Deadline,
    ) -> Result<Vec<RoleName>, AwsError> {
        let roles = self.roles_under(prefix, deadline).await?;
        Ok(roles
            .iter()
            .filter_map(|role| RoleName::parse(role.role_name()).ok())
            .collect())
    }

    /// Every role under `prefix`, as `ListRoles` has it (no tags, no boundary).
    pub(super) async fn roles_under(
        &self,
        prefix: &RolePath,
        deadline: Deadline,
    ) -> Result<Vec<aws_sdk_iam::types::Role>, AwsError> {
        self.read(
            deadline,
            format!("listing the roles under {prefix}"),
            |iam| {
                iam.list_roles()
                    .path_prefix(prefix.as_str())
                    .into_paginator()
                    .items()
                    .send()
                    .collect::<Result<Vec<_>, _>>()
            },
        )
        .await
    }

    /// Makes `writes` on the role `name` made outside CloudFormation, all at once, each
    /// run to its end.
    pub async fn write_foreign(
        &self,
        name: &RoleName,
        writes: &[RoleWrite],
        deadline: Deadline,
    ) -> Result<(), RoleError> {
        settle_all(
            writes
                .iter()
                .map(|write| self.write_role(name, write, deadline)),
        )
        .await
        .map(drop)
        .map_err(RoleError::from)
    }

    /// One planned write on the role `name`. A policy already detached or deleted is
    /// done.
    async fn write_role(
        &self,
        name: &RoleName,
        write: &RoleWrite,
        deadline: Deadline,
    ) -> Result<(), AwsError> {
        let role = name.as_str();
        let action = format!("role {name}: {write}");
        let written = match write {
            RoleWrite::SetBoundary(arn) => self
                .write(deadline, action, |iam| {
                    iam.put_role_permissions_boundary()
                        .role_name(role)
                        .permissions_boundary(arn)
                        .send()
                })
                .await
                .map(drop),
            RoleWrite::RemoveBoundary => self
                .write(deadline, action, |iam| {
                    iam.delete_role_permissions_boundary()
                        .role_name(role)
                        .send()
                })
                .await
                .map(drop),
            RoleWrite::SetTrust(document) => self
                .write(deadline, action, |iam| {
                    iam.update_assume_role_policy()
                        .role_name(role)
                        .policy_document(document)
                        .send()
                })
                .await
                .map(drop),
            RoleWrite::Update {
                description,
                max_session,
            } => self
                .write(deadline, action, |iam| {
                    iam.update_role()
                        .role_name(role)
                        .description(description.clone().unwrap_or_default())
                        .max_session_duration(session_seconds(*max_session))
                        .send()
                })
                .await
                .map(drop),
            RoleWrite::Tag(pairs) => self
                .write(deadline, action, |iam| {
                    iam.tag_role()
                        .role_name(role)
                        .set_tags(Some(tags(pairs)))
                        .send()
                })
                .await
                .map(drop),
            RoleWrite::Untag(keys) => self
                .write(deadline, action, |iam| {
                    iam.untag_role()
                        .role_name(role)
                        .set_tag_keys(Some(keys.clone()))
                        .send()
                })
                .await
                .map(drop),
            RoleWrite::Attach(arn) => self
                .write(deadline, action, |iam| {
                    iam.attach_role_policy()
                        .role_name(role)
                        .policy_arn(arn)
                        .send()
                })
                .await
                .map(drop),
            RoleWrite::Detach(arn) => self
                .write(deadline, action, |iam| {
                    iam.detach_role_policy()
                        .role_name(role)
                        .policy_arn(arn)
                        .send()
                })
                .await
                .map(drop),
            RoleWrite::PutInline {
                name: policy,
                document,
            } => self
                .write(deadline, action, |iam| {
                    iam.put_role_policy()
                        .role_name(role)
                        .policy_name(policy)
                        .policy_document(document)
                        .send()
                })
                .await
                .map(drop),
            RoleWrite::DeleteInline(policy) => self
                .write(deadline, action, |iam| {
                    iam.delete_role_policy()
                        .role_name(role)
                        .policy_name(policy)
                        .send()
                })
                .await
                .map(drop),
        };
        match written {
            Err(error)
                if error.kind() == ErrorKind::NoSuchEntity
                    && matches!(write, RoleWrite::Detach(_) | RoleWrite::DeleteInline(_)) =>
            {
                Ok(())
            }
            other => other,
        }
    }

    /// One IAM write, retried on transient failures within the deadline.
    async fn write<T, E, F, Fut>(
        &self,
        deadline: Deadline,
        action: String,
        call: F,
    ) -> Result<T, AwsError>
    where
        F: Fn(&aws_sdk_iam::Client) -> Fut,
        Fut: Future<Output = Result<T, aws_sdk_iam::error::SdkError<E>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.iam_call(deadline, action, AwsError::is_transient, call)
            .await
    }

    /// One IAM read, retried on transient failures within the deadline.
    pub(super) async fn read<T, E, F, Fut>(
        &self,
        deadline: Deadline,
        action: String,
        call: F,
    ) -> Result<T, AwsError>
    where
        F: Fn(&aws_sdk_iam::Client) -> Fut,
        Fut: Future<Output = Result<T, aws_sdk_iam::error::SdkError<E>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.iam_call(deadline, action, AwsError::is_transient, call)
            .await
    }
}

fn session_seconds(seconds: u32) -> i32 {
    i32::try_from(seconds).expect("at most 43200 seconds")
}

fn tags(pairs: &[(String, String)]) -> Vec<Tag> {
    pairs
        .iter()
        .map(|(key, value)| {
            Tag::builder()
                .key(key)
                .value(value)
                .build()
                .expect("key and value are set")
        })
        .collect()
}
