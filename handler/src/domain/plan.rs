//! What an event does, decided before any call is made (DESIGN §5 "Generations",
//! §11): which generation it converges, which it removes, and which it must refuse.
//!
//! A generation is named by the stack, the logical id and the replacement key
//! ([`GenerationName`]). An Update compares the generation its old properties name with
//! the one its new properties name and with the physical id CloudFormation sent
//! ([`plan_update`]):
//!
//! - the same generation: converged in place, under the same physical id;
//! - a new one: built beside the old one, which CloudFormation deletes afterwards;
//! - a new one under the role name the old one holds: impossible (IAM role names are
//!   unique in an account, whatever their case), so refused before any write — unless the
//!   role already carries the new generation, which makes it the rollback of such a
//!   refusal;
//! - back to the generation the physical id names, from one that never got a physical
//!   id: CloudFormation rolling back a replacement that failed. It never sends a Delete
//!   for the generation that failed, so the rollback removes it.

use std::fmt;

use super::{
    ReplacementKey, RoleName, RolePath, TokenVersion,
    ownership::{StackArn, adopted_generation_key, default_role_name, generation_key},
};

/// The names one generation gives its objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerationName {
    /// The generation key (see [`generation_key`]).
    pub key: String,
    /// The role's name: `RoleName`, or generated per generation.
    pub role_name: RoleName,
    /// The role's path.
    pub role_path: RolePath,
    /// The token version its application asks for.
    pub token_version: TokenVersion,
}

impl GenerationName {
    /// The generation `key` of the resource `logical_id` in `stack`.
    pub fn new(stack: &StackArn, logical_id: &str, key: &ReplacementKey) -> Self {
        let generation = generation_key(&stack.arn, logical_id, key);
        let role_name = key
            .role_name
            .clone()
            .unwrap_or_else(|| default_role_name(stack, logical_id, &generation));
        Self {
            key: generation,
            role_name,
            role_path: key.role_path.clone(),
            token_version: key.token_version,
        }
    }

    /// The generation of a role made outside CloudFormation (DESIGN §9): keyed on its
    /// account and unique id; its application asks for v1 tokens.
    /// (The role's path is not part of its generation: the factory never makes or names
    /// the role by it.)
    pub fn adopted(account: &str, role: &RoleName, id: &str) -> Self {
        Self {
            key: adopted_generation_key(account, id),
            role_name: role.clone(),
            role_path: RolePath::root(),
            token_version: TokenVersion::V1,
        }
    }

    /// The role's ARN: the generation's physical id.
    pub fn role_arn(&self, stack: &StackArn) -> String {
        format!(
            "arn:{}:iam::{}:role{}{}",
            stack.partition, stack.account, self.role_path, self.role_name
        )
    }

    /// The Entra application's `uniqueName`.
    pub fn unique_name(&self) -> String {
        format!("efr-{}", self.key)
    }

    /// Whether both generations would hold the same role: IAM compares role names
    /// without regard to case.
    fn shares_role_with(&self, other: &Self) -> bool {
        self.role_name
            .as_str()
            .eq_ignore_ascii_case(other.role_name.as_str())
    }
}

/// How an Update is carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdatePlan {
    /// The same generation, converged in place; the physical id stays.
    InPlace,
    /// A new generation with a new physical id; CloudFormation deletes the old one.
    Replace,
    /// CloudFormation rolls back to the generation the physical id names: converge it,
    /// and remove `abandoned`, the replacement that failed, which no physical id names.
    RollBack {
        /// The failed replacement.
        abandoned: GenerationName,
    },
}

impl fmt::Display for UpdatePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InPlace => f.write_str("converge in place"),
            Self::Replace => f.write_str("replace: a new generation"),
            Self::RollBack { abandoned } => write!(
                f,
                "roll back a replacement: converge, and remove generation {} (role {})",
                abandoned.key, abandoned.role_name
            ),
        }
    }
}

/// An Update that needs a new generation but keeps the role name the old one holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "changing {changed} replaces the role, and the new role cannot take the name {role_name} \
     while the old one holds it (IAM role names are unique in an account, whatever their \
     case), so nothing was changed; change RoleName in the same update, or remove it to \
     have a name generated"
)]
pub struct ImpossibleReplacement {
    /// What changed, e.g. `RolePath`.
    pub changed: String,
    /// The name both generations would hold.
    pub role_name: RoleName,
}

/// The role name an Update's two generations would both hold, when they are different
/// generations: [`plan_update`] then needs to know which generation holds it now. When
/// `old` no longer parses, the old generation is known only by its role, the
/// `physical_id`.
pub fn shared_role(
    stack: &StackArn,
    logical_id: &str,
    old: Option<&ReplacementKey>,
    new: &ReplacementKey,
    physical_id: &str,
) -> Option<RoleName> {
    let wanted = GenerationName::new(stack, logical_id, new);
    match old {
        Some(old) => {
            let old = GenerationName::new(stack, logical_id, old);
            (old.key != wanted.key && old.shares_role_with(&wanted)).then_some(wanted.role_name)
        }
        // The role as the physical id names it.
        None => physical_id
            .rsplit_once('/')
            .filter(|(_, name)| name.eq_ignore_ascii_case(wanted.role_name.as_str()))
            .and_then(|(_, name)| RoleName::parse(name).ok()),
    }
}

/// How an Update of the resource `logical_id` in `stack` from `old` (the replacement key
/// of `OldResourceProperties`; `None` when it no longer parses) to `new`, sent for
/// `physical_id`, is carried out. `holder` is the generation key the role named by
/// [`shared_role`] carries, read when there is one.
pub fn plan_update(
    stack: &StackArn,
    logical_id: &str,
    old: Option<&ReplacementKey>,
    new: &ReplacementKey,
    physical_id: &str,
    holder: Option<&str>,
) -> Result<UpdatePlan, ImpossibleReplacement> {
    let wanted = GenerationName::new(stack, logical_id, new);
    let Some(old) = old.map(|old| GenerationName::new(stack, logical_id, old)) else {
        // Only the physical id names the old generation. When its role, under the name
        // the new one wants, carries another generation, that is a replacement which
        // keeps the role name.
        if holder.is_some_and(|holder| holder != wanted.key) {
            return Err(ImpossibleReplacement {
                changed: "RolePath, TokenVersion or the case of RoleName".to_owned(),
                role_name: wanted.role_name,
            });
        }
        return Ok(if physical_id == wanted.role_arn(stack) {
            UpdatePlan::InPlace
        } else {
            UpdatePlan::Replace
        });
    };
    if old.key == wanted.key {
        return Ok(UpdatePlan::InPlace);
    }
    if old.shares_role_with(&wanted) {
        // The request reads the same whether it asks for the replacement or rolls it
        // back: the role tells, by the generation it carries.
        if holder == Some(wanted.key.as_str()) {
            return Ok(UpdatePlan::RollBack { abandoned: old });
        }
        let mut changed = Vec::new();
        if old.role_name != wanted.role_name {
            changed.push("the case of RoleName");
        }
        if old.role_path != wanted.role_path {
            changed.push("RolePath");
        }
        if old.token_version != wanted.token_version {
            changed.push("TokenVersion");
        }
        return Err(ImpossibleReplacement {
            changed: changed.join(" and "),
            role_name: wanted.role_name,
        });
    }
    Ok(if physical_id == wanted.role_arn(stack) {
        UpdatePlan::RollBack { abandoned: old }
    } else {
        UpdatePlan::Replace
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::Properties;

    const STACK: &str = "arn:aws:cloudformation:eu-west-1:222222222222:stack/ci-roles/0e5b8c10-86e3-11ef-a6a3-0affd3b5c7a1";

    fn key(properties: serde_json::Value) -> ReplacementKey {
        Properties::recover_replacement_key(&properties).expect("a valid replacement key")
    }

    fn arn(properties: serde_json::Value) -> String {
        let stack = StackArn::parse(STACK).unwrap();
        GenerationName::new(&stack, "CiRole", &key(properties)).role_arn(&stack)
    }

    /// `(old properties, new properties, physical id's properties, plan)`.
    #[test]
    fn every_update_is_planned_from_the_generations_it_names() {
        let stack = StackArn::parse(STACK).unwrap();
        let blue = json!({"RoleName": "ci-blue"});
        let green = json!({"RoleName": "ci-green"});
        let generated = json!({});
        let generated_v2 = json!({"TokenVersion": "2"});
        let plan = |old: &serde_json::Value, new: &serde_json::Value, physical_id: String| {
            let (old, new) = (key(old.clone()), key(new.clone()));
            assert_eq!(
                shared_role(&stack, "CiRole", Some(&old), &new, &physical_id),
                None
            );
            plan_update(&stack, "CiRole", Some(&old), &new, &physical_id, None)
        };
        let cases = [
            // An in-place change of the same generation.
            (&blue, &blue, arn(blue.clone()), "converge in place"),
            (
                &generated,
                &generated,
                arn(generated.clone()),
                "converge in place",
            ),
            // Replacements: a new name, or a new generated name.
            (
                &blue,
                &green,
                arn(blue.clone()),
                "replace: a new generation",
            ),
            (
                &generated,
                &generated_v2,
                arn(generated.clone()),
                "replace: a new generation",
            ),
            (
                &generated,
                &blue,
                arn(generated.clone()),
                "replace: a new generation",
            ),
            // A physical id that is no role of ours (reported by an older release).
            (
                &blue,
                &green,
                "efr-other".to_owned(),
                "replace: a new generation",
            ),
        ];
        for (old, new, physical_id, expected) in cases {
            assert_eq!(
                plan(old, new, physical_id.clone()).unwrap().to_string(),
                expected,
                "{old} -> {new} for {physical_id}"
            );
        }

        // CloudFormation's rollback of a failed replacement: back to blue, from green,
        // for blue's physical id. Green never had a physical id: it is removed.
        let UpdatePlan::RollBack { abandoned } = plan(&green, &blue, arn(blue.clone())).unwrap()
        else {
            panic!("a rollback");
        };
        assert_eq!(
            abandoned,
            GenerationName::new(&stack, "CiRole", &key(green))
        );
    }

    #[test]
    fn a_replacement_under_the_same_role_name_is_refused_and_its_rollback_served() {
        let stack = StackArn::parse(STACK).unwrap();
        let cases = [
            (
                json!({"RoleName": "ci"}),
                json!({"RoleName": "ci", "RolePath": "/ci/"}),
                "RolePath",
            ),
            (
                json!({"RoleName": "ci"}),
                json!({"RoleName": "ci", "TokenVersion": "2"}),
                "TokenVersion",
            ),
            (
                json!({"RoleName": "ci"}),
                json!({"RoleName": "CI"}),
                "the case of RoleName",
            ),
            (
                json!({"RoleName": "ci"}),
                json!({"RoleName": "ci", "RolePath": "/ci/", "TokenVersion": "2"}),
                "RolePath and TokenVersion",
            ),
        ];
        for (old, new, changed) in cases {
            let (old_key, new_key) = (key(old.clone()), key(new.clone()));
            let name = |k| GenerationName::new(&stack, "CiRole", k);
            assert_eq!(
                shared_role(
                    &stack,
                    "CiRole",
                    Some(&old_key),
                    &new_key,
                    &arn(old.clone())
                ),
                Some(name(&new_key).role_name)
            );
            // Forward: the role is the old generation's.
            let holder = name(&old_key).key;
            let refused = plan_update(
                &stack,
                "CiRole",
                Some(&old_key),
                &new_key,
                &arn(old.clone()),
                Some(&holder),
            )
            .expect_err("refused");
            assert_eq!(refused.changed, changed, "{old} -> {new}");
            let reason = refused.to_string();
            assert!(
                reason.contains(changed) && reason.contains("change RoleName"),
                "{reason}"
            );
            // CloudFormation's rollback of that refusal: back to the generation the role
            // carries, from the one that was refused.
            let rollback = plan_update(
                &stack,
                "CiRole",
                Some(&new_key),
                &old_key,
                &arn(old.clone()),
                Some(&holder),
            );
            assert_eq!(
                rollback,
                Ok(UpdatePlan::RollBack {
                    abandoned: name(&new_key)
                }),
                "{new} -> {old}"
            );
        }
    }

    #[test]
    fn old_properties_that_no_longer_parse_converge_what_the_physical_id_names() {
        let stack = StackArn::parse(STACK).unwrap();
        let blue = key(json!({"RoleName": "ci-blue"}));
        let wanted = GenerationName::new(&stack, "CiRole", &blue);
        let plan = |physical_id: &str, holder: Option<&str>| {
            plan_update(&stack, "CiRole", None, &blue, physical_id, holder)
        };
        let same = arn(json!({"RoleName": "ci-blue"}));
        assert_eq!(
            shared_role(&stack, "CiRole", None, &blue, &same),
            Some(wanted.role_name.clone())
        );
        assert_eq!(plan(&same, Some(&wanted.key)), Ok(UpdatePlan::InPlace));
        assert_eq!(plan(&same, None), Ok(UpdatePlan::InPlace));
        let other = arn(json!({"RoleName": "ci-other"}));
        assert_eq!(shared_role(&stack, "CiRole", None, &blue, &other), None);
        assert_eq!(plan(&other, None), Ok(UpdatePlan::Replace));
        // The role under the wanted name, at another path or in another case, holds
        // another generation: a replacement that keeps the role name.
        for (physical_id, name) in [
            (
                arn(json!({"RoleName": "ci-blue", "RolePath": "/old/"})),
                "ci-blue",
            ),
            (arn(json!({"RoleName": "CI-Blue"})), "CI-Blue"),
            (same, "ci-blue"),
        ] {
            assert_eq!(
                shared_role(&stack, "CiRole", None, &blue, &physical_id),
                Some(RoleName::parse(name).unwrap())
            );
            let refused = plan(&physical_id, Some("0123456789abcdef")).expect_err("refused");
            assert!(refused.to_string().contains("change RoleName"), "{refused}");
        }
    }
}
