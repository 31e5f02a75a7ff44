//! `RequireAppRoleAssignment`: the app role a caller must hold for Entra to issue it a
//! token for the application, as Graph has it ([`AppRole`]), and the writes that make it
//! and its assignments as wanted ([`app_role_writes`], [`assignment_writes`]), planned
//! before any is made.
//!
//! Ours is the app role whose value is [`APP_ROLE_VALUE`]; other app roles on the
//! application are kept as they are. Graph deletes only a disabled app role, so ours is
//! disabled before it is removed.

use serde::{Deserialize, Serialize};

/// The value of our app role: what the `roles` claim of an admitted caller's token holds.
pub const APP_ROLE_VALUE: &str = "AssumeAwsRole";

/// An app role, as Graph has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppRole {
    /// A GUID.
    pub id: String,
    /// `Application` for app-only callers.
    #[serde(default)]
    pub allowed_member_types: Vec<String>,
    /// The `roles` claim value.
    #[serde(default)]
    pub value: Option<String>,
    /// Shown in the portal.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Shown in the portal.
    #[serde(default)]
    pub description: Option<String>,
    /// Must be false before the role can be removed.
    #[serde(default)]
    pub is_enabled: bool,
}

impl AppRole {
    fn is_ours(&self) -> bool {
        self.value.as_deref() == Some(APP_ROLE_VALUE)
    }

    /// Ours, as wanted: enabled, for applications.
    fn wanted(id: String) -> Self {
        Self {
            id,
            allowed_member_types: vec!["Application".to_owned()],
            value: Some(APP_ROLE_VALUE.to_owned()),
            display_name: Some("Assume the AWS role".to_owned()),
            description: Some(
                "Lets an application get tokens that can assume the AWS IAM role of this resource"
                    .to_owned(),
            ),
            is_enabled: true,
        }
    }
}

/// The writes to the application's app roles, and which of them the assignments are of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppRoleWrites {
    /// No assignment is required and there is no app role of ours.
    Nothing,
    /// Ours is in place: converge the assignments of `role_id`.
    Assign {
        /// Our app role's id.
        role_id: String,
    },
    /// Set the app roles to each of `role_sets` in turn (ours added, or repaired under
    /// its id), then converge the assignments of `role_id`.
    SetThenAssign {
        /// The app roles, one set after another: ours disabled first when it is to
        /// change while enabled, then every app role with ours as wanted.
        role_sets: Vec<Vec<AppRole>>,
        /// Our app role's id.
        role_id: String,
    },
    /// No assignment is required any more: remove every assignment of `role_id`, then
    /// set the app roles to each of `role_sets` in turn, the last without ours.
    Withdraw {
        /// Our app role's id.
        role_id: String,
        /// The app roles, one set after another: ours disabled first when it is still
        /// enabled, then every app role but ours.
        role_sets: Vec<Vec<AppRole>>,
    },
}

/// The writes that give `roles` (the application's app roles) ours when `required`, and
/// take it away when not. `new_id` is the id ours gets when there is none yet.
pub fn app_role_writes(roles: &[AppRole], required: bool, new_id: &str) -> AppRoleWrites {
    let ours = roles.iter().find(|role| role.is_ours());
    let mut others: Vec<AppRole> = roles
        .iter()
        .filter(|role| !role.is_ours())
        .cloned()
        .collect();
    match (ours, required) {
        (None, false) => AppRoleWrites::Nothing,
        (Some(role), false) => AppRoleWrites::Withdraw {
            role_id: role.id.clone(),
            role_sets: disabled_first(roles, role, others),
        },
        (Some(role), true)
            if role.is_enabled && role.allowed_member_types.iter().any(|t| t == "Application") =>
        {
            AppRoleWrites::Assign {
                role_id: role.id.clone(),
            }
        }
        (existing, true) => {
            let role_id = existing.map_or(new_id, |role| role.id.as_str()).to_owned();
            others.push(AppRole::wanted(role_id.clone()));
            AppRoleWrites::SetThenAssign {
                role_sets: match existing {
                    Some(role) => disabled_first(roles, role, others),
                    None => vec![others],
                },
                role_id,
            }
        }
    }
}

/// `then`, preceded by `roles` with `ours` disabled when it is enabled: Graph changes or
/// deletes an app role only once it is disabled (`CannotDeleteOrUpdateEnabledEntitlement`).
fn disabled_first(roles: &[AppRole], ours: &AppRole, then: Vec<AppRole>) -> Vec<Vec<AppRole>> {
    if !ours.is_enabled {
        return vec![then];
    }
    let mut disabled = roles.to_vec();
    for role in disabled.iter_mut().filter(|role| role.id == ours.id) {
        role.is_enabled = false;
    }
    vec![disabled, then]
}

/// The assignments to remove and the principals to assign, so that exactly `wanted`
/// hold our app role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentWrites<'a, T> {
    /// Assignments of principals no longer wanted.
    pub remove: Vec<&'a T>,
    /// Principals (service principal ids) to assign.
    pub add: Vec<&'a str>,
}

/// The writes that make the holders of our app role — `held`, each assignment naming
/// its principal through `principal` — exactly `wanted`.
pub fn assignment_writes<'a, T>(
    held: &'a [T],
    principal: impl Fn(&T) -> &str,
    wanted: &'a [String],
) -> AssignmentWrites<'a, T> {
    AssignmentWrites {
        remove: held
            .iter()
            .filter(|a| !wanted.iter().any(|w| w == principal(a)))
            .collect(),
        add: wanted
            .iter()
            .filter(|w| !held.iter().any(|a| principal(a) == w.as_str()))
            .map(String::as_str)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    const NEW: &str = "7f6e5d4c-3b2a-4190-8a7b-6c5d4e3f2a10";

    fn role(id: &str, value: &str, enabled: bool, member: &str) -> AppRole {
        AppRole {
            id: id.to_owned(),
            allowed_member_types: vec![member.to_owned()],
            value: Some(value.to_owned()),
            display_name: None,
            description: None,
            is_enabled: enabled,
        }
    }

    fn theirs() -> AppRole {
        role("theirs", "Reader", true, "User")
    }

    #[test]
    fn a_required_role_is_added_beside_the_others_under_a_new_id() {
        let writes = app_role_writes(&[theirs()], true, NEW);
        assert_eq!(
            writes,
            AppRoleWrites::SetThenAssign {
                role_sets: vec![vec![theirs(), AppRole::wanted(NEW.to_owned())]],
                role_id: NEW.to_owned(),
            }
        );
    }

    #[test]
    fn ours_in_place_is_left_alone() {
        let ours = role("ours", APP_ROLE_VALUE, true, "Application");
        let writes = app_role_writes(&[theirs(), ours], true, NEW);
        assert_eq!(
            writes,
            AppRoleWrites::Assign {
                role_id: "ours".to_owned()
            }
        );
    }

    #[test]
    fn ours_disabled_is_repaired_under_its_id() {
        let broken = role("ours", APP_ROLE_VALUE, false, "Application");
        let writes = app_role_writes(&[broken, theirs()], true, NEW);
        assert_eq!(
            writes,
            AppRoleWrites::SetThenAssign {
                role_sets: vec![vec![theirs(), AppRole::wanted("ours".to_owned())]],
                role_id: "ours".to_owned(),
            }
        );
    }

    #[test]
    fn ours_enabled_for_users_only_is_disabled_before_its_repair() {
        let broken = role("ours", APP_ROLE_VALUE, true, "User");
        let writes = app_role_writes(&[broken.clone(), theirs()], true, NEW);
        let disabled = AppRole {
            is_enabled: false,
            ..broken
        };
        assert_eq!(
            writes,
            AppRoleWrites::SetThenAssign {
                role_sets: vec![
                    vec![disabled, theirs()],
                    vec![theirs(), AppRole::wanted("ours".to_owned())]
                ],
                role_id: "ours".to_owned(),
            }
        );
    }

    #[test]
    fn without_a_requirement_ours_is_disabled_then_removed_and_the_others_kept() {
        let ours = role("ours", APP_ROLE_VALUE, true, "Application");
        let writes = app_role_writes(&[ours.clone(), theirs()], false, NEW);
        let disabled = AppRole {
            is_enabled: false,
            ..ours
        };
        assert_eq!(
            writes,
            AppRoleWrites::Withdraw {
                role_id: "ours".to_owned(),
                role_sets: vec![vec![disabled.clone(), theirs()], vec![theirs()]],
            }
        );
        // Disabled already (a run that stopped between the two writes): removed at once.
        let writes = app_role_writes(&[disabled, theirs()], false, NEW);
        assert_eq!(
            writes,
            AppRoleWrites::Withdraw {
                role_id: "ours".to_owned(),
                role_sets: vec![vec![theirs()]],
            }
        );
    }

    #[test]
    fn without_a_requirement_or_a_role_of_ours_nothing_is_written() {
        assert_eq!(
            app_role_writes(&[theirs()], false, NEW),
            AppRoleWrites::Nothing
        );
        assert_eq!(app_role_writes(&[], false, NEW), AppRoleWrites::Nothing);
    }

    #[test]
    fn assignments_become_exactly_the_wanted_principals() {
        let held = [("a1", "sp-kept"), ("a2", "sp-stale")];
        let wanted = ["sp-kept".to_owned(), "sp-new".to_owned()];
        let writes = assignment_writes(&held, |(_, principal)| principal, &wanted);
        assert_eq!(writes.remove, [&("a2", "sp-stale")]);
        assert_eq!(writes.add, ["sp-new"]);

        let none = assignment_writes(&held, |(_, principal)| principal, &[]);
        assert_eq!(none.remove.len(), 2);
        assert!(none.add.is_empty());
    }
}
