//! The steps that touch a role made outside CloudFormation (DESIGN §9): only its trust's
//! statement for the tenant's provider and the factory's status tags, and only while the
//! role read just before the write is the generation's (same unique id) and still asks.
//!
//! The plan was decided from the role as the front door read it: the role is read again
//! just before the write, and nothing is written when it is gone, is another, no longer
//! asks, or changed what decides its federation (the event is then delivered again and
//! decided afresh). IAM has no conditional write: a change between that read and the
//! write can still be lost. The window is one round trip; the change's own event
//! converges again.

use super::{Generation, RoleOwner, ports::Iam};
use crate::{
    aws::role::RoleError,
    deadline::Deadline,
    domain::{
        adoption::{ForeignRole, Status, adopted_writes, release_writes},
        federation::provider_arn,
        trust::adopted_trust,
    },
};

/// The role's unique id, and the fingerprint the plan was decided from (if any).
fn adopted(generation: &Generation) -> (&str, Option<&str>) {
    match &generation.role {
        RoleOwner::Adopted { id, asked } => (id, asked.as_deref()),
        RoleOwner::Factory(_) => unreachable!("only a role made outside CloudFormation is adopted"),
    }
}

/// Sets `ours` (a trust policy; `None`: none, which seals the role) as the factory's part
/// of the trust of `generation`'s role, and the tags of `status`. Returns the role's ARN.
pub(super) async fn write_trust<I: Iam>(
    iam: &I,
    generation: &Generation,
    ours: Option<&str>,
    status: Status<'_>,
    deadline: Deadline,
) -> Result<String, RoleError> {
    let name = &generation.name.role_name;
    let changed = |why| RoleError::Changed {
        name: name.to_string(),
        why,
    };
    let (id, asked) = adopted(generation);
    let role = match iam.read_foreign(name, deadline).await? {
        None => return Err(changed("is gone")),
        Some(role) if role.id != id => return Err(changed("was made again under its name")),
        Some(role) if !role.opted_in() => return Err(changed("no longer asks to be federated")),
        // Its tags, boundary or policies changed since the decision: the plan may no
        // longer be what the role asks for, or may break a guardrail now.
        Some(role) if asked.is_some_and(|asked| asked != role.fingerprint()) => {
            return Err(changed("changed what decides its federation meanwhile"));
        }
        Some(role) => role,
    };
    let provider = provider_arn(iam.partition(), iam.account_id(), &generation.issuer);
    let trust = adopted_trust(&role.trust, &provider, ours)?;
    let writes = adopted_writes(&role, &trust, status);
    if !writes.is_empty() {
        iam.write_foreign(name, &writes, deadline).await?;
        tracing::info!(role = %role.arn, ?status, "wrote the factory's part of the role");
    }
    Ok(role.arn)
}

/// Takes the factory's status tags off `generation`'s role, if it is still that role.
pub(super) async fn release<I: Iam>(
    iam: &I,
    generation: &Generation,
    deadline: Deadline,
) -> Result<(), RoleError> {
    let name = &generation.name.role_name;
    let role: Option<ForeignRole> = iam.read_foreign(name, deadline).await?;
    match role {
        Some(role) if role.id == adopted(generation).0 => {
            let writes = release_writes(&role);
            if !writes.is_empty() {
                iam.write_foreign(name, &writes, deadline).await?;
            }
            Ok(())
        }
        // Gone, or another role now: nothing of this generation is on it.
        _ => Ok(()),
    }
}
