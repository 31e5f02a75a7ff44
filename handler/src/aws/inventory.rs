//! What the audit reads of one account (DESIGN §10): the roles under the role path, the
//! tenant's OIDC providers with their audiences, and whether the stacks the factory's
//! roles name still exist. Reads only.

use std::{
    collections::BTreeSet,
    time::{SystemTime, UNIX_EPOCH},
};

use aws_sdk_iam::operation::get_open_id_connect_provider::GetOpenIdConnectProviderOutput;
use futures::StreamExt;

use super::{
    Account, AwsError, ErrorKind,
    role::{boundary_of, tags_of, trust_of},
    sdk_call,
};
use crate::{
    deadline::Deadline,
    domain::{
        RoleName, RolePath,
        adoption::ForeignRole,
        audit::{AccountObjects, Provider},
        federation::provider_arn,
        ownership::{MANAGED_BY_VALUE, StackArn, TAG_MANAGED_BY, TAG_STACK_ID},
    },
};

impl Account {
    /// The roles under `prefix` (each with when it was made), the providers of `issuers`
    /// and the stacks gone of the roles marked as the factory's, reading `concurrency`
    /// roles at once.
    pub async fn audit_objects(
        &self,
        prefix: &RolePath,
        issuers: &[String],
        concurrency: usize,
        deadline: Deadline,
    ) -> Result<AccountObjects, AwsError> {
        let listed = self.roles_under(prefix, deadline).await?;
        let names: Vec<(RoleName, Option<i64>)> = listed
            .iter()
            .filter_map(|role| {
                let name = RoleName::parse(role.role_name()).ok()?;
                let created = SystemTime::try_from(*role.create_date())
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .and_then(|d| i64::try_from(d.as_secs()).ok());
                Some((name, created))
            })
            .collect();
        let roles = futures::stream::iter(names)
            .map(|(name, created)| async move {
                Ok::<_, AwsError>(
                    self.audit_role(&name, deadline)
                        .await?
                        .map(|r| (r, created)),
                )
            })
            .buffer_unordered(concurrency.max(1))
            .collect::<Vec<_>>()
            .await;
        let mut roles: Vec<(ForeignRole, Option<i64>)> = roles
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        roles.sort_by(|a, b| a.0.arn.cmp(&b.0.arn));

        let providers = futures::future::try_join_all(
            issuers
                .iter()
                .map(|issuer| self.audit_provider(issuer, deadline)),
        );
        let stack_ids: BTreeSet<String> = roles
            .iter()
            .filter(|(role, _)| role.made_by_the_resource())
            .filter_map(|(role, _)| {
                role.tags
                    .iter()
                    .find(|(k, _)| k == TAG_STACK_ID)
                    .map(|(_, v)| v.clone())
            })
            .collect();
        let stacks = futures::future::try_join_all(stack_ids.iter().map(|id| async move {
            Ok::<_, AwsError>((id, self.stack_gone(id, deadline).await?))
        }));
        let (providers, stacks) = futures::try_join!(providers, stacks)?;
        Ok(AccountObjects {
            roles,
            providers: providers.into_iter().flatten().collect(),
            stacks_gone: stacks
                .into_iter()
                .filter(|(_, gone)| *gone)
                .map(|(id, _)| id.clone())
                .collect(),
        })
    }

    /// The role `name` as IAM has it (its managed policies not read); `None` when gone.
    async fn audit_role(
        &self,
        name: &RoleName,
        deadline: Deadline,
    ) -> Result<Option<ForeignRole>, AwsError> {
        let role = self.get_role(name, deadline).await?;
        Ok(role.map(|role| ForeignRole {
            name: RoleName::parse(role.role_name()).unwrap_or_else(|_| name.clone()),
            path: role.path().to_owned(),
            id: role.role_id().to_owned(),
            arn: role.arn().to_owned(),
            trust: trust_of(&role),
            boundary: boundary_of(&role),
            tags: tags_of(&role),
            managed: Vec::new(),
        }))
    }

    /// The provider for `issuer` and its audiences; `None` when there is none.
    async fn audit_provider(
        &self,
        issuer: &str,
        deadline: Deadline,
    ) -> Result<Option<Provider>, AwsError> {
        let read = self.read_provider(issuer, deadline).await?;
        Ok(read.map(|(arn, provider)| Provider {
            audiences: provider.client_id_list().to_vec(),
            arn,
        }))
    }

    /// The provider for `issuer`, with its ARN, as IAM has it; `None` when there is none.
    async fn read_provider(
        &self,
        issuer: &str,
        deadline: Deadline,
    ) -> Result<Option<(String, GetOpenIdConnectProviderOutput)>, AwsError> {
        let arn = provider_arn(self.partition(), self.id(), issuer);
        let read = self
            .read(deadline, format!("reading provider {arn}"), |iam| {
                iam.get_open_id_connect_provider()
                    .open_id_connect_provider_arn(&arn)
                    .send()
            })
            .await;
        match read {
            Ok(provider) => Ok(Some((arn, provider))),
            Err(error) if error.kind() == ErrorKind::NoSuchEntity => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Whether the stack `stack_id` is gone: deleted, or unknown to CloudFormation.
    async fn stack_gone(&self, stack_id: &str, deadline: Deadline) -> Result<bool, AwsError> {
        let Ok(stack) = StackArn::parse(stack_id) else {
            return Ok(false);
        };
        if stack.account != self.id() {
            return Ok(false);
        }
        let config = self
            .cloudformation
            .config()
            .to_builder()
            .region(aws_config::Region::new(stack.region.clone()))
            .build();
        let cloudformation = aws_sdk_cloudformation::Client::from_conf(config);
        let action = format!("reading stack {stack_id}");
        let read = sdk_call(deadline, &action, AwsError::is_transient, || {
            cloudformation.describe_stacks().stack_name(stack_id).send()
        })
        .await;
        match read {
            Ok(output) => Ok(output.stacks().iter().all(|s| {
                s.stack_status()
                    .is_some_and(|status| status.as_str() == "DELETE_COMPLETE")
            })),
            // "Stack with id … does not exist".
            Err(error) if error.kind() == ErrorKind::Validation => Ok(true),
            Err(error) => Err(error),
        }
    }
}

/// What the doctor learns of the tenant's provider in an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderHealth {
    /// Its ARN.
    pub arn: String,
    /// How many client ids it holds.
    pub audiences: usize,
    /// Whether the factory made it (else it adopted one someone else made).
    pub ours: bool,
}

impl Account {
    /// Whether outbound identity federation is enabled in this account, and its issuer
    /// (`iam:GetOutboundWebIdentityFederationInfo`).
    pub async fn outbound_federation(
        &self,
        deadline: Deadline,
    ) -> Result<(bool, Option<String>), AwsError> {
        let read = self
            .read(
                deadline,
                "reading the account's outbound identity federation".to_owned(),
                |iam| iam.get_outbound_web_identity_federation_info().send(),
            )
            .await;
        match read {
            Ok(info) => Ok((
                info.jwt_vending_enabled(),
                info.issuer_identifier().map(str::to_owned),
            )),
            // The action's one documented error: the feature is off in the account.
            Err(error) if error.code() == Some("FeatureDisabled") => Ok((false, None)),
            Err(error) => Err(error),
        }
    }

    /// Tries, without changing anything, what the factory does here: lists the roles under
    /// `prefix`, reads the provider of `issuer` and removes from it a client id it does not
    /// hold (IAM's removal is idempotent, so this writes nothing, but it is authorised as
    /// any removal is). The provider, when there is one.
    pub async fn probe(
        &self,
        prefix: &RolePath,
        issuer: &str,
        deadline: Deadline,
    ) -> Result<Option<ProviderHealth>, AwsError> {
        self.roles_under(prefix, deadline).await?;
        let Some((arn, provider)) = self.read_provider(issuer, deadline).await? else {
            return Ok(None);
        };
        let probe = uuid::Uuid::new_v4().to_string();
        self.remove_audience(
            &arn,
            &format!("entra-federated-role-doctor-{probe}"),
            deadline,
        )
        .await?;
        Ok(Some(ProviderHealth {
            audiences: provider.client_id_list().len(),
            ours: provider
                .tags()
                .iter()
                .any(|t| t.key() == TAG_MANAGED_BY && t.value() == MANAGED_BY_VALUE),
            arn,
        }))
    }

    /// The value of the SSM parameter `name` in this account and region; `None` when
    /// there is none.
    pub async fn parameter(
        &self,
        name: &str,
        deadline: Deadline,
    ) -> Result<Option<String>, AwsError> {
        let action = format!("reading parameter {name}");
        let read = sdk_call(deadline, &action, AwsError::is_transient, || {
            self.ssm.get_parameter().name(name).send()
        })
        .await;
        match read {
            Ok(output) => Ok(output
                .parameter()
                .and_then(|p| p.value())
                .map(str::to_owned)),
            Err(error) if error.code() == Some("ParameterNotFound") => Ok(None),
            Err(error) => Err(error),
        }
    }
}
