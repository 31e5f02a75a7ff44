//! The Graph objects the client reads and the specifications it converges them to.

use serde::{Deserialize, Serialize};

use crate::domain::app_role::AppRole;
use crate::domain::{
    AppId, DisplayName, FederatedCredential, TokenVersion,
    ownership::{
        MANAGED_BY_VALUE, TAG_ACCOUNT, TAG_GENERATION, TAG_LOGICAL_ID, TAG_MANAGED_BY, TAG_ROLE,
        TAG_ROLE_ID, TAG_ROLE_NAME, TAG_STACK_ID,
    },
    record::Record,
};

/// An application tag: Graph's `tags` are plain strings, so the ownership markers the IAM
/// role carries as key and value are written `key=value`.
fn tag(key: &str, value: &str) -> String {
    format!("{key}={value}")
}

/// An application's `uniqueName`: the alternate key the resource finds its app by, keyed
/// on the generation. 1 to 120 letters, digits, `-`, `_` and `.`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct UniqueName(String);

impl UniqueName {
    /// Validates a unique name.
    pub fn parse(value: &str) -> Result<Self, String> {
        let valid = (1..=120).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(format!(
                "`{}` is not a valid uniqueName (1-120 letters, digits, `-`, `_`, `.`)",
                value.chars().take(130).collect::<String>()
            ))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The OData key segment `applications(uniqueName='…')`.
    pub(crate) fn key_segment(&self) -> String {
        format!("/applications(uniqueName='{}')", self.0)
    }
}

impl std::fmt::Display for UniqueName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who an application belongs to: one generation of one resource, or one role made
/// outside CloudFormation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppOwner {
    /// The account the role lives in.
    pub account: String,
    /// The generation key.
    pub generation: String,
    /// What asked for it.
    pub origin: AppOrigin,
}

pub use crate::domain::ownership::Origin as AppOrigin;

/// The tag an application of a role made outside CloudFormation carries, whichever
/// incarnation of the role it served: how the factory finds it once the role is gone.
pub fn role_tag(account: &str, role_name: &str) -> String {
    tag(
        TAG_ROLE,
        &format!("{account}/{}", role_name.to_ascii_lowercase()),
    )
}

/// The marker every application the factory makes carries.
pub fn managed_by_tag() -> String {
    tag(TAG_MANAGED_BY, MANAGED_BY_VALUE)
}

/// The unique id of the role made outside CloudFormation an application was made for,
/// read from its tags.
pub fn tagged_role_id(tags: &[String]) -> Option<&str> {
    let prefix = format!("{TAG_ROLE_ID}=");
    tags.iter().find_map(|t| t.strip_prefix(prefix.as_str()))
}

/// The role made outside CloudFormation an application was made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaggedRole {
    /// Its account.
    pub account: String,
    /// Its name, as it was made.
    pub name: String,
    /// Its unique id.
    pub id: String,
}

/// An application the factory made for a role made outside CloudFormation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptedApp {
    /// Whose.
    pub role: TaggedRole,
    /// Soft-deleted, not yet purged.
    pub deleted: bool,
}

/// The role an application's tags say it was made for.
pub fn tagged_role(tags: &[String]) -> Option<TaggedRole> {
    let value = |key: &str| {
        let prefix = format!("{key}=");
        tags.iter()
            .find_map(|t| t.strip_prefix(prefix.as_str()).map(str::to_owned))
    };
    let account =
        value(TAG_ACCOUNT).filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()))?;
    Some(TaggedRole {
        account,
        name: value(TAG_ROLE_NAME)?,
        id: value(TAG_ROLE_ID)?,
    })
}

impl AppOwner {
    /// The application `tags` marking it as ours (each at most 256 characters).
    pub fn tags(&self) -> Vec<String> {
        let mut tags = vec![
            managed_by_tag(),
            self.generation_tag(),
            tag(TAG_ACCOUNT, &self.account),
        ];
        match &self.origin {
            AppOrigin::Resource {
                stack_id,
                logical_id,
            } => {
                tags.push(tag(TAG_LOGICAL_ID, logical_id));
                tags.push(tag(TAG_STACK_ID, stack_id));
            }
            AppOrigin::Role { name, id } => {
                tags.push(role_tag(&self.account, name));
                tags.push(tag(TAG_ROLE_ID, id));
                tags.push(tag(TAG_ROLE_NAME, name));
            }
        }
        tags.retain(|t| t.chars().count() <= 256);
        tags
    }

    /// The application `notes` (at most 1024 characters).
    pub fn notes(&self) -> String {
        let notes = match &self.origin {
            AppOrigin::Resource {
                stack_id,
                logical_id,
            } => format!(
                "Managed by the CloudFormation resource Custom::EntraFederatedRole. Stack: {stack_id}; logical id: {logical_id}; account: {}; generation: {}. Changes made here are overwritten by the stack; delete the stack resource to remove it.",
                self.account, self.generation
            ),
            AppOrigin::Role { name, id } => format!(
                "Managed by entra-federated-role for the IAM role {name} (id {id}) of account {}, which asked for it with its tags; generation: {}. Changes made here are overwritten; remove the role's opt-in tag, or the role, to remove it.",
                self.account, self.generation
            ),
        };
        notes.chars().take(1024).collect()
    }

    /// Whether `tags` mark an application of this generation.
    pub fn owns(&self, tags: &[String]) -> bool {
        tags.contains(&managed_by_tag()) && tags.contains(&self.generation_tag())
    }

    /// The tag that names this generation, on its application and service principal.
    pub fn generation_tag(&self) -> String {
        tag(TAG_GENERATION, &self.generation)
    }
}

/// The workload application to upsert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationSpec {
    /// Its generation-keyed `uniqueName`.
    pub unique_name: UniqueName,
    /// `displayName`.
    pub display_name: DisplayName,
    /// `api.requestedAccessTokenVersion`.
    pub token_version: TokenVersion,
    /// Whose it is (tags and notes).
    pub owner: AppOwner,
    /// What the convergence makes of it, recorded in its tags.
    pub record: Record,
}

impl ApplicationSpec {
    /// The `signInAudience` the factory's applications have: this tenant only.
    pub const SIGN_IN_AUDIENCE: &str = "AzureADMyOrg";

    /// Its `tags`: the owner's markers and the record.
    pub fn tags(&self) -> Vec<String> {
        let mut tags = self.owner.tags();
        tags.push(self.record.tag());
        tags
    }

    /// `api.requestedAccessTokenVersion`.
    pub fn requested_version(&self) -> u8 {
        match self.token_version {
            TokenVersion::V1 => 1,
            TokenVersion::V2 => 2,
        }
    }

    /// Whether `app`, as read, already says everything the upsert would write — its
    /// `uniqueName`, display name, sign-in audience, token version, notes and tags (in any
    /// order) — so that the upsert can be left out.
    pub fn describes(&self, app: &Application) -> bool {
        let mut tags = self.tags();
        let mut read = app.tags.clone();
        tags.sort();
        read.sort();
        app.unique_name.as_deref() == Some(self.unique_name.as_str())
            && app.display_name.as_deref() == Some(self.display_name.as_str())
            && app.sign_in_audience.as_deref() == Some(Self::SIGN_IN_AUDIENCE)
            && app
                .api
                .as_ref()
                .and_then(|api| api.requested_access_token_version)
                == Some(self.requested_version())
            && app.notes.as_deref() == Some(self.owner.notes().as_str())
            && tags == read
    }
}

/// Everything the resource wants in Entra for one generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadSpec {
    /// The application.
    pub application: ApplicationSpec,
    /// Its federated identity credentials, exactly.
    pub federated_credentials: Vec<FederatedCredential>,
    /// Existing apps also allowed to assume the role.
    pub trusted_client_app_ids: Vec<AppId>,
    /// Whether callers need an assignment of the app role.
    pub require_app_role_assignment: bool,
}

/// An application as Graph returns it (the fields the client uses).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    /// Object id.
    pub id: String,
    /// Application (client) id.
    pub app_id: String,
    /// `uniqueName`.
    #[serde(default)]
    pub unique_name: Option<String>,
    /// `displayName`.
    #[serde(default)]
    pub display_name: Option<String>,
    /// `tags`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// `identifierUris`.
    #[serde(default)]
    pub identifier_uris: Vec<String>,
    /// `appRoles`.
    #[serde(default)]
    pub app_roles: Vec<AppRole>,
    /// `notes`.
    #[serde(default)]
    pub notes: Option<String>,
    /// `signInAudience`.
    #[serde(default)]
    pub sign_in_audience: Option<String>,
    /// `api`: only its `requestedAccessTokenVersion` is read.
    #[serde(default)]
    pub api: Option<ApiSettings>,
}

/// An application's `api` settings (the part the factory sets).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiSettings {
    /// `requestedAccessTokenVersion`.
    #[serde(default)]
    pub requested_access_token_version: Option<u8>,
}

impl Application {
    /// `api://<appId>`: the identifier URI, and the v1 token audience.
    pub fn identifier_uri(&self) -> String {
        format!("api://{}", self.app_id)
    }
}

/// A service principal as Graph returns it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipal {
    /// Object id: the `sub` (and `oid`) of its app-only v1 tokens.
    pub id: String,
    /// The application it represents.
    pub app_id: String,
    /// `appRoleAssignmentRequired`.
    #[serde(default)]
    pub app_role_assignment_required: bool,
    /// `appOwnerOrganizationId`: the tenant its application is registered in.
    #[serde(default)]
    pub app_owner_organization_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FederatedIdentityCredential {
    pub id: String,
    pub name: String,
    pub issuer: String,
    pub subject: String,
    #[serde(default)]
    pub audiences: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
}

impl From<FederatedIdentityCredential> for crate::domain::credentials::CredentialState {
    fn from(credential: FederatedIdentityCredential) -> Self {
        Self {
            id: credential.id,
            name: credential.name,
            issuer: credential.issuer,
            subject: credential.subject,
            audiences: credential.audiences,
            description: credential.description,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AppRoleAssignment {
    pub id: String,
    pub app_role_id: String,
    pub principal_id: String,
}

/// The result of [`GraphClient::upsert_application`](super::GraphClient::upsert_application).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted {
    /// The application after the upsert.
    pub application: Application,
    /// Whether it was created now (201) rather than updated (204).
    pub created: bool,
}

/// A `TrustedClientAppIds` entry resolved to its service principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedClient {
    /// The client's application id.
    pub app_id: AppId,
    /// Its service principal's object id: the `sub` of its tokens.
    pub service_principal_id: String,
    /// The tenant its application is registered in (`appOwnerOrganizationId`).
    pub owner_tenant_id: Option<String>,
}

/// What converging a set changed, by name (federated credentials) or principal id
/// (app role assignments).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Added.
    pub created: Vec<String>,
    /// Changed in place.
    pub updated: Vec<String>,
    /// Removed.
    pub removed: Vec<String>,
}

impl Changes {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.updated.is_empty() && self.removed.is_empty()
    }
}

/// Where a Delete found this generation's application
/// ([`GraphClient::locate_application`](super::GraphClient::locate_application)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    /// Live: soft delete, then purge.
    Live(Application),
    /// Soft deleted already (a crash between the steps): purge.
    Deleted(Application),
    /// Nothing under that name, live or deleted.
    Gone,
    /// An application under that name is not ours: leave it.
    NotOurs,
}

impl Located {
    /// The application found, live or deleted.
    pub fn application(&self) -> Option<&Application> {
        match self {
            Self::Live(app) | Self::Deleted(app) => Some(app),
            Self::Gone | Self::NotOurs => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(generation: &str) -> AppOwner {
        AppOwner {
            account: "222222222222".into(),
            generation: generation.into(),
            origin: AppOrigin::Resource {
                stack_id: "arn:aws:cloudformation:us-east-1:222222222222:stack/ci/1".into(),
                logical_id: "CiRole".into(),
            },
        }
    }

    /// An application as read that says what the upsert would write is not upserted
    /// again; any one difference, and it is.
    #[test]
    fn a_spec_describes_only_an_application_that_says_all_of_it() {
        let spec = ApplicationSpec {
            unique_name: UniqueName::parse("efr-0123abcd").unwrap(),
            display_name: DisplayName::parse("ci/CiRole").unwrap(),
            token_version: TokenVersion::V1,
            owner: owner("0123abcd"),
            record: Record::wanted(&[], &[], false),
        };
        let mut tags = spec.tags();
        tags.reverse();
        let read = Application {
            id: "object".into(),
            app_id: "app".into(),
            unique_name: Some("efr-0123abcd".into()),
            display_name: Some("ci/CiRole".into()),
            tags,
            identifier_uris: Vec::new(),
            app_roles: Vec::new(),
            notes: Some(spec.owner.notes()),
            sign_in_audience: Some("AzureADMyOrg".into()),
            api: Some(ApiSettings {
                requested_access_token_version: Some(1),
            }),
        };
        assert!(spec.describes(&read), "tags in another order still say it");
        let differs: [fn(&mut Application); 6] = [
            |a| a.display_name = Some("renamed".into()),
            |a| a.sign_in_audience = Some("AzureADMultipleOrgs".into()),
            |a| a.api = None,
            |a| a.notes = None,
            |a| drop(a.tags.pop()),
            |a| a.unique_name = Some("efr-other".into()),
        ];
        for change in differs {
            let mut changed = read.clone();
            change(&mut changed);
            assert!(!spec.describes(&changed), "{changed:?}");
        }
    }

    /// The tags are how a later version finds the applications an earlier one made: their
    /// text must not drift.
    #[test]
    fn ownership_tags_keep_their_wire_format() {
        assert_eq!(
            owner("0123abcd").tags(),
            [
                "entra-federated-role:managed-by=entra-federated-role",
                "entra-federated-role:generation=0123abcd",
                "entra-federated-role:account=222222222222",
                "entra-federated-role:logical-id=CiRole",
                "entra-federated-role:stack-id=arn:aws:cloudformation:us-east-1:222222222222:stack/ci/1",
            ]
        );
    }

    #[test]
    fn a_role_made_outside_cloudformation_is_tagged_by_account_name_and_id() {
        let adopted = AppOwner {
            origin: AppOrigin::Role {
                name: "Deploy-Web".into(),
                id: "AROAEXAMPLEROLEID1234".into(),
            },
            ..owner("0123abcd")
        };
        let tags = adopted.tags();
        assert_eq!(
            tags[3..],
            [
                "entra-federated-role:role=222222222222/deploy-web",
                "entra-federated-role:role-id=AROAEXAMPLEROLEID1234",
                "entra-federated-role:role-name=Deploy-Web",
            ]
        );
        assert_eq!(
            tagged_role(&tags),
            Some(TaggedRole {
                account: "222222222222".into(),
                name: "Deploy-Web".into(),
                id: "AROAEXAMPLEROLEID1234".into(),
            })
        );
        assert_eq!(tagged_role(&owner("0123abcd").tags()), None);
        assert_eq!(tags[3], role_tag("222222222222", "DEPLOY-WEB"));
        assert_eq!(tagged_role_id(&tags), Some("AROAEXAMPLEROLEID1234"));
        assert_eq!(tagged_role_id(&owner("0123abcd").tags()), None);
        assert!(adopted.notes().contains("Deploy-Web"));
    }

    #[test]
    fn an_application_is_ours_only_with_the_marker_and_this_generation() {
        let tags = owner("g1").tags();
        assert!(owner("g1").owns(&tags));
        assert!(!owner("g2").owns(&tags), "another generation's");
        let unmarked: Vec<String> = tags[1..].to_vec();
        assert!(
            !owner("g1").owns(&unmarked),
            "without the managed-by marker"
        );
    }
}
