//! The tenant's IAM OIDC provider, shared by every resource in an account (DESIGN §5
//! "Provider sharing").
//!
//! IAM allows one provider per issuer URL per account and at most 100 client ids on it.
//! We create the provider when it is absent (tagged as ours, in the same call) and adopt
//! it when it exists (`EntityAlreadyExists` is success); audiences are added and removed
//! one at a time with IAM's idempotent calls, never by rewriting the list; and the
//! provider is deleted only when we created it, no audience is left and no role in the
//! account trusts it.

use aws_sdk_iam::types::Tag;
use serde_json::Value;

use super::{Account, AwsError, ErrorKind};
use crate::{
    deadline::Deadline,
    domain::{
        federation::provider_arn,
        ownership::{MANAGED_BY_VALUE, TAG_MANAGED_BY},
    },
};

/// IAM's limit of client ids per OIDC provider.
pub const MAX_AUDIENCES: usize = 100;

/// The provider we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    /// Its ARN.
    pub arn: String,
    /// Whether this call created it (else it was adopted).
    pub created: bool,
}

/// What became of the provider after its last audience of ours was removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderCleanup {
    /// Deleted: ours, no audience left, trusted by no role.
    Deleted,
    /// Already gone.
    Absent,
    /// Kept: we did not create it.
    NotOurs,
    /// Kept: other audiences remain.
    InUse {
        /// How many.
        audiences: usize,
    },
    /// Kept: a role still trusts it.
    TrustedBy {
        /// The first such role.
        role: String,
    },
    /// Deleted, then put back: a role came to trust it meanwhile (see
    /// [`Account::restore_provider_if_trusted`]).
    Restored {
        /// The audiences put back.
        audiences: Vec<String>,
    },
}

/// The audience quota, explained.
#[derive(Debug, thiserror::Error)]
#[error(
    "the OIDC provider {provider} already has {MAX_AUDIENCES} audiences, IAM's limit of client \
     IDs per provider, and each Custom::EntraFederatedRole adds one; delete unused resources \
     in account {account}, or let workloads share a resource through TrustedClientAppIds"
)]
pub struct AudienceQuotaExceeded {
    provider: String,
    account: String,
    #[source]
    source: AwsError,
}

/// Errors of the provider operations.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// A call failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The provider is full.
    #[error(transparent)]
    AudienceQuota(#[from] AudienceQuotaExceeded),
}

impl Account {
    /// The provider for `issuer`, adopted or created, with `audience` registered on it.
    pub async fn ensure_provider(
        &self,
        issuer: &str,
        audience: &str,
        deadline: Deadline,
    ) -> Result<Provider, ProviderError> {
        let arn = provider_arn(&self.partition, &self.id, issuer);
        // The provider usually exists already (for every role after an account's first):
        // adding the audience first makes that case one round trip instead of two.
        match self.add_audience(&arn, audience, deadline).await {
            Ok(()) => {
                return Ok(Provider {
                    arn,
                    created: false,
                });
            }
            Err(ProviderError::Aws(error)) if error.kind() == ErrorKind::NoSuchEntity => {}
            Err(error) => return Err(error),
        }
        if self.create_provider(issuer, &[audience], deadline).await? {
            return Ok(Provider { arn, created: true });
        }
        // Created by a concurrent request since: adopt it all the same.
        self.add_audience(&arn, audience, deadline).await?;
        Ok(Provider {
            arn,
            created: false,
        })
    }

    /// Creates the provider for `issuer`, tagged as ours, with `audiences`: `false` when it
    /// exists already (left as it is).
    async fn create_provider(
        &self,
        issuer: &str,
        audiences: &[&str],
        deadline: Deadline,
    ) -> Result<bool, ProviderError> {
        let arn = provider_arn(&self.partition, &self.id, issuer);
        let created = self
            .iam_call(
                deadline,
                format!("creating the OIDC provider for {issuer}"),
                AwsError::is_transient,
                |iam| {
                    iam.create_open_id_connect_provider()
                        .url(issuer)
                        .set_client_id_list(Some(
                            audiences.iter().map(|a| (*a).to_owned()).collect(),
                        ))
                        .tags(
                            Tag::builder()
                                .key(TAG_MANAGED_BY)
                                .value(MANAGED_BY_VALUE)
                                .build()
                                .expect("key and value are set"),
                        )
                        .send()
                },
            )
            .await;
        match created {
            Ok(_) => {
                tracing::info!(provider = %arn, "created the OIDC provider");
                Ok(true)
            }
            Err(error) if error.kind() == ErrorKind::EntityAlreadyExists => Ok(false),
            Err(error) if error.kind() == ErrorKind::LimitExceeded => Err(self.quota(&arn, error)),
            Err(error) => Err(error.into()),
        }
    }

    /// Registers `audience` on the provider (idempotent).
    pub async fn add_audience(
        &self,
        arn: &str,
        audience: &str,
        deadline: Deadline,
    ) -> Result<(), ProviderError> {
        let added = self
            .iam_call(
                deadline,
                format!("adding audience {audience} to {arn}"),
                AwsError::is_transient,
                |iam| {
                    iam.add_client_id_to_open_id_connect_provider()
                        .open_id_connect_provider_arn(arn)
                        .client_id(audience)
                        .send()
                },
            )
            .await;
        match added {
            Ok(_) => Ok(()),
            Err(error) if error.kind() == ErrorKind::LimitExceeded => Err(self.quota(arn, error)),
            Err(error) => Err(error.into()),
        }
    }

    fn quota(&self, arn: &str, source: AwsError) -> ProviderError {
        AudienceQuotaExceeded {
            provider: arn.to_owned(),
            account: self.id.clone(),
            source,
        }
        .into()
    }

    /// Removes `audience` (ours) from the provider; an absent provider or audience is
    /// success.
    pub async fn remove_audience(
        &self,
        arn: &str,
        audience: &str,
        deadline: Deadline,
    ) -> Result<(), AwsError> {
        let removed = self
            .iam_call(
                deadline,
                format!("removing audience {audience} from {arn}"),
                AwsError::is_transient,
                |iam| {
                    iam.remove_client_id_from_open_id_connect_provider()
                        .open_id_connect_provider_arn(arn)
                        .client_id(audience)
                        .send()
                },
            )
            .await;
        match removed {
            Err(error) if error.kind() != ErrorKind::NoSuchEntity => Err(error),
            _ => Ok(()),
        }
    }

    /// Deletes the provider for `issuer` if we created it, no audience is left and no role
    /// trusts it.
    pub async fn delete_provider_if_unused(
        &self,
        issuer: &str,
        deadline: Deadline,
    ) -> Result<ProviderCleanup, ProviderError> {
        let arn = provider_arn(&self.partition, &self.id, issuer);
        let read = self
            .iam_call(
                deadline,
                format!("reading {arn}"),
                AwsError::is_transient,
                |iam| {
                    iam.get_open_id_connect_provider()
                        .open_id_connect_provider_arn(&arn)
                        .send()
                },
            )
            .await;
        let provider = match read {
            Ok(provider) => provider,
            Err(error) if error.kind() == ErrorKind::NoSuchEntity => {
                return Ok(ProviderCleanup::Absent);
            }
            Err(error) => return Err(error.into()),
        };
        let ours = provider
            .tags()
            .iter()
            .any(|tag| tag.key() == TAG_MANAGED_BY && tag.value() == MANAGED_BY_VALUE);
        if !ours {
            return Ok(ProviderCleanup::NotOurs);
        }
        if !provider.client_id_list().is_empty() {
            return Ok(ProviderCleanup::InUse {
                audiences: provider.client_id_list().len(),
            });
        }
        if let Some((role, _)) = self
            .roles_trusting(&arn, deadline)
            .await?
            .into_iter()
            .next()
        {
            return Ok(ProviderCleanup::TrustedBy { role });
        }
        let deleted = self
            .iam_call(
                deadline,
                format!("deleting {arn}"),
                AwsError::is_transient,
                |iam| {
                    iam.delete_open_id_connect_provider()
                        .open_id_connect_provider_arn(&arn)
                        .send()
                },
            )
            .await;
        match deleted {
            Err(error) if error.kind() != ErrorKind::NoSuchEntity => return Err(error.into()),
            _ => {
                tracing::info!(provider = %arn, "deleted the OIDC provider: ours, unused and untrusted")
            }
        }
        // A Create in this account can add its audience after the check above and set its
        // role's trust after the scan: its role would then trust a provider that is gone.
        let restored = self.restore_provider_if_trusted(issuer, deadline).await?;
        Ok(if restored.is_empty() {
            ProviderCleanup::Deleted
        } else {
            ProviderCleanup::Restored {
                audiences: restored,
            }
        })
    }

    /// Puts the provider for `issuer` back, with the audiences their trusts require, when
    /// roles trust it although it is gone (a Delete removed it while a Create in the
    /// account was setting a role's trust). Returns the audiences put back: none when no
    /// role trusts the provider, or when it exists (it is then left as it is).
    pub async fn restore_provider_if_trusted(
        &self,
        issuer: &str,
        deadline: Deadline,
    ) -> Result<Vec<String>, ProviderError> {
        let arn = provider_arn(&self.partition, &self.id, issuer);
        let mut audiences: Vec<String> = self
            .roles_trusting(&arn, deadline)
            .await?
            .into_iter()
            .flat_map(|(_, audiences)| audiences)
            .collect();
        audiences.sort_unstable();
        audiences.dedup();
        if audiences.is_empty() {
            return Ok(audiences);
        }
        let wanted: Vec<&str> = audiences.iter().map(String::as_str).collect();
        if !self.create_provider(issuer, &wanted, deadline).await? {
            return Ok(Vec::new());
        }
        tracing::warn!(provider = %arn, ?audiences, "put the OIDC provider back: roles trust it");
        Ok(audiences)
    }

    /// The roles in the account whose trust policy names `provider_arn`, each with the
    /// audiences (`<provider>:aud` values) its statements require of that provider.
    async fn roles_trusting(
        &self,
        provider_arn: &str,
        deadline: Deadline,
    ) -> Result<Vec<(String, Vec<String>)>, AwsError> {
        let roles = self
            .iam_call(
                deadline,
                "listing roles".to_owned(),
                AwsError::is_transient,
                |iam| {
                    iam.list_roles()
                        .into_paginator()
                        .items()
                        .send()
                        .collect::<Result<Vec<_>, _>>()
                },
            )
            .await?;
        let mut trusting = Vec::new();
        for role in &roles {
            let trust = role
                .assume_role_policy_document()
                .map(super::role::decode_policy)
                .unwrap_or_default();
            if trust.contains(provider_arn) {
                trusting.push((
                    role.role_name().to_owned(),
                    required_audiences(&trust, provider_arn),
                ));
            }
        }
        Ok(trusting)
    }
}

/// The `…:aud` values the statements of `trust` that name `provider_arn` as their
/// federated principal require.
fn required_audiences(trust: &str, provider_arn: &str) -> Vec<String> {
    let Ok(policy) = serde_json::from_str::<Value>(trust) else {
        return Vec::new();
    };
    let statements = match &policy["Statement"] {
        Value::Array(statements) => statements.clone(),
        statement => vec![statement.clone()],
    };
    let strings = |value: &Value| -> Vec<String> {
        match value {
            Value::String(one) => vec![one.clone()],
            Value::Array(many) => many
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    statements
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .filter(|s| {
            strings(&s["Principal"]["Federated"])
                .iter()
                .any(|p| p == provider_arn)
        })
        .filter_map(|s| s["Condition"].as_object())
        .flat_map(|conditions| conditions.values())
        .filter_map(Value::as_object)
        .flat_map(|keys| keys.iter())
        .filter(|(key, _)| key.ends_with(":aud"))
        .flat_map(|(_, value)| strings(value))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ARN: &str = "arn:aws:iam::222222222222:oidc-provider/sts.windows.net/t/";

    #[test]
    fn the_audiences_a_trust_requires_of_the_provider_are_read() {
        let trust = json!({"Statement": [
            {"Effect": "Allow", "Principal": {"Federated": ARN},
             "Action": "sts:AssumeRoleWithWebIdentity",
             "Condition": {"StringEquals": {"sts.windows.net/t/:aud": "api://a", "sts.windows.net/t/:sub": "s"}}},
            {"Effect": "Allow", "Principal": {"Federated": [ARN, "other"]},
             "Condition": {"ForAnyValue:StringEquals": {"sts.windows.net/t/:aud": ["api://b", "api://c"]}}},
            {"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::222222222222:oidc-provider/elsewhere"},
             "Condition": {"StringEquals": {"elsewhere:aud": "api://not-this-one"}}},
            {"Effect": "Deny", "Principal": {"Federated": ARN},
             "Condition": {"StringEquals": {"sts.windows.net/t/:aud": "api://denied"}}}
        ]})
        .to_string();
        assert_eq!(
            required_audiences(&trust, ARN),
            ["api://a", "api://b", "api://c"]
        );
        assert!(required_audiences("not json", ARN).is_empty());
    }
}
