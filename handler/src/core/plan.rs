//! The plan: which generations an event converges or removes, and the operations that
//! do it, in order, with what each must wait for. A value: the front doors build it, log
//! it and hand it to the applier ([`super::Lifecycle::apply`]); the tests compare it.
//!
//! Each operation observes its own object as part of its write (an upsert by
//! `uniqueName`, a create that finds the role taken, a delete of what is absent), and
//! derives its writes from what it read with the pure diffs of [`crate::domain::role`]
//! and [`crate::domain::credentials`]. Observing every object before the first write
//! would cost a round trip that no Create needs, since everything is absent then.

use std::fmt;

use super::{Generation, RoleOwner};

/// One operation on one generation's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// A step of a convergence.
    Converge(Converging),
    /// A step of a removal.
    Remove(Removing),
    /// Seals a role made outside CloudFormation whose request is refused: the factory's
    /// statement out of its trust, the reason on it.
    Seal,
}

/// The steps of a convergence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Converging {
    /// Creates or updates the application by its `uniqueName`; `existing` when it most
    /// likely exists, so that it is read at the same time.
    UpsertApplication {
        /// Whether the application most likely exists.
        existing: bool,
    },
    /// Creates the role with a trust that admits nobody, and its policies.
    CreateSealedRole,
    /// Reads the role, for [`Converging::ShapeRole`] and [`Converging::OpenTrust`] to
    /// converge.
    ReadRole,
    /// Converges everything of the role read but its trust: its description, session
    /// length, boundary, tags and policies need nothing from Entra.
    ShapeRole,
    /// The application's identifier URI, service principal and federated credentials.
    RegisterApplication,
    /// Ensures the tenant's OIDC provider, with the application's audience on it.
    AddAudience,
    /// Sets the role's trust to the audience and the service principals (creating or
    /// converging the role where it was not made sealed).
    OpenTrust,
    /// `RequireAppRoleAssignment`: the app role and exactly the principals assigned.
    AssignAppRole,
    /// Sets the factory's statement — the audience and the service principals — in the
    /// trust of a role made outside CloudFormation, and its status tags, while the role
    /// still asks.
    OpenAdoptedTrust,
}

/// The steps of a removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removing {
    /// Deletes the role when it is the generation's own.
    DeleteRole,
    /// Takes the factory's status tags off a role made outside CloudFormation (never
    /// deletes it).
    ReleaseRole,
    /// Looks the application up by its `uniqueName` (among deleted items when it is not
    /// live), and its service principal by the generation's tag.
    FindApplication,
    /// Soft-deletes the live application.
    DeleteApplication,
    /// Removes the audience from the provider.
    RemoveAudience,
    /// Purges the deleted service principal.
    PurgeServicePrincipal,
    /// Purges the deleted application.
    PurgeApplication,
    /// Deletes the provider when it is ours, has no audience left and no role trusts it.
    DeleteProvider,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use {Converging as C, Removing as R};
        f.write_str(match self {
            Self::Converge(C::UpsertApplication { existing: false }) => "upsert the application",
            Self::Converge(C::UpsertApplication { existing: true }) => {
                "read and upsert the application"
            }
            Self::Converge(C::CreateSealedRole) => "create the role sealed, with its policies",
            Self::Converge(C::ReadRole) => "read the role",
            Self::Converge(C::ShapeRole) => "converge the role but its trust",
            Self::Converge(C::RegisterApplication) => {
                "register the identifier URI, service principal and federated credentials"
            }
            Self::Converge(C::AddAudience) => "add the audience to the OIDC provider",
            Self::Converge(C::OpenTrust) => {
                "set the role's trust to the audience and service principals"
            }
            Self::Converge(C::AssignAppRole) => "converge the app-role assignments",
            Self::Converge(C::OpenAdoptedTrust) => {
                "set the factory's statement in the role's trust, and its status tags"
            }
            Self::Seal => "take the factory's statement out of the role's trust, and say why",
            Self::Remove(R::DeleteRole) => "delete the role",
            Self::Remove(R::ReleaseRole) => "take the factory's status tags off the role",
            Self::Remove(R::FindApplication) => "find the application and its service principal",
            Self::Remove(R::DeleteApplication) => "soft-delete the application",
            Self::Remove(R::RemoveAudience) => "remove the audience from the OIDC provider",
            Self::Remove(R::PurgeServicePrincipal) => "purge the service principal",
            Self::Remove(R::PurgeApplication) => "purge the application",
            Self::Remove(R::DeleteProvider) => "delete the OIDC provider when ours and unused",
        })
    }
}

/// What the plan does with a generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Make its objects agree with what is wanted.
    Converge,
    /// Remove its objects.
    Remove,
    /// Refuse a role made outside CloudFormation, for this reason.
    Refuse(String),
}

/// A generation the plan acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// What is done with it.
    pub intent: Intent,
    /// The generation.
    pub generation: Generation,
}

/// One operation on one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The index of its target in [`Plan::targets`].
    pub target: usize,
    /// What it does.
    pub operation: Operation,
    /// The steps (indices in [`Plan::steps`], all earlier) it waits for. Steps that do
    /// not wait for one another are independent and run at once.
    pub after: Vec<usize>,
}

/// The plan of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    targets: Vec<Target>,
    steps: Vec<Step>,
}

impl Plan {
    /// Converges `generation`. A `fresh` one (a Create, a replacement) gets its role
    /// created sealed while the application is upserted, so that only opening its trust
    /// waits for the service principal. An existing one's role is read meanwhile and
    /// converged at once but for its trust, which is then written only if it differs.
    pub fn converge(generation: Generation, fresh: bool) -> Self {
        use Converging::*;
        let steps: &[(Converging, &[usize])] = if fresh {
            &[
                (UpsertApplication { existing: false }, &[]),
                (CreateSealedRole, &[]),
                (RegisterApplication, &[0]),
                (AddAudience, &[0]),
                (OpenTrust, &[1, 2, 3]),
                (AssignAppRole, &[2]),
            ]
        } else {
            &[
                (UpsertApplication { existing: true }, &[]),
                (ReadRole, &[]),
                (RegisterApplication, &[0]),
                (AddAudience, &[0]),
                (ShapeRole, &[1]),
                (OpenTrust, &[2, 3, 4]),
                (AssignAppRole, &[2]),
            ]
        };
        Self::one(
            Intent::Converge,
            generation,
            steps
                .iter()
                .map(|&(step, after)| (Operation::Converge(step), after)),
        )
    }

    /// Converges `generation`, of a role made outside CloudFormation (DESIGN §9): the
    /// application is upserted, registered and its audience added; then the factory's
    /// statement is set in the role's trust. The role is neither created nor changed
    /// otherwise.
    pub fn adopt(generation: Generation) -> Self {
        use Converging::*;
        let steps: [(Converging, &[usize]); 5] = [
            (UpsertApplication { existing: true }, &[]),
            (RegisterApplication, &[0]),
            (AddAudience, &[0]),
            (OpenAdoptedTrust, &[1, 2]),
            (AssignAppRole, &[1]),
        ];
        Self::one(
            Intent::Converge,
            generation,
            steps.map(|(step, after)| (Operation::Converge(step), after)),
        )
    }

    /// Refuses `generation`, of a role made outside CloudFormation, for `reason`: its
    /// trust is sealed; its application, if any, stays for when the request is mended.
    pub fn refuse(generation: Generation, reason: String) -> Self {
        let after: &[usize] = &[];
        Self::one(
            Intent::Refuse(reason),
            generation,
            [(Operation::Seal, after)],
        )
    }

    /// Removes `generation`: its role and its application at once (either gone, nobody
    /// can assume the role any more), then the audience and the service principal; the
    /// application's purge after both, since its deleted item is where a repeated removal
    /// reads the appId that names them; and the provider once neither the role nor the
    /// audience holds it.
    /// A role made outside CloudFormation is never deleted: the factory's status tags
    /// come off it instead. (A removal stopped after that still finishes on the next
    /// event: the front door finds the application the role no longer asks for.)
    pub fn remove(generation: Generation) -> Self {
        use Removing::*;
        let role = match generation.role {
            RoleOwner::Factory(_) => DeleteRole,
            RoleOwner::Adopted { .. } => ReleaseRole,
        };
        let steps: [(Removing, &[usize]); 7] = [
            (role, &[]),
            (FindApplication, &[]),
            (DeleteApplication, &[1]),
            (RemoveAudience, &[2]),
            (PurgeServicePrincipal, &[2]),
            (PurgeApplication, &[3, 4]),
            (DeleteProvider, &[0, 3]),
        ];
        Self::one(
            Intent::Remove,
            generation,
            steps.map(|(step, after)| (Operation::Remove(step), after)),
        )
    }

    fn one<'a>(
        intent: Intent,
        generation: Generation,
        steps: impl IntoIterator<Item = (Operation, &'a [usize])>,
    ) -> Self {
        Self {
            targets: vec![Target { intent, generation }],
            steps: steps
                .into_iter()
                .map(|(operation, after)| Step {
                    target: 0,
                    operation,
                    after: after.to_vec(),
                })
                .collect(),
        }
    }

    /// This plan and `other` at once: no step of one waits for a step of the other.
    /// Their generations share only the account's OIDC provider, which a removal deletes
    /// only when no role trusts it, and which a convergence puts back should it go.
    pub fn alongside(mut self, other: Self) -> Self {
        let (targets, steps) = (self.targets.len(), self.steps.len());
        self.targets.extend(other.targets);
        self.steps.extend(other.steps.into_iter().map(|step| Step {
            target: step.target + targets,
            operation: step.operation,
            after: step.after.iter().map(|i| i + steps).collect(),
        }));
        self
    }

    /// The generations acted on.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// The steps, each after those it waits for.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The number of steps in its longest chain: how many operations run one after
    /// another, at least (logged with the plan: the floor of the event's wait).
    pub fn longest_chain(&self) -> usize {
        let mut depth = Vec::with_capacity(self.steps.len());
        for step in &self.steps {
            let before = step.after.iter().map(|&i| depth[i]).max().unwrap_or(0);
            depth.push(before + 1);
        }
        depth.into_iter().max().unwrap_or(0)
    }
}

impl fmt::Display for Plan {
    /// One line per target and per step, steps numbered from 1; a step names the
    /// steps it waits for, and starts as soon as they are done.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, target) in self.targets.iter().enumerate() {
            let generation = &target.generation;
            let intent = match target.intent {
                Intent::Converge => "converge",
                Intent::Remove => "remove",
                Intent::Refuse(_) => "refuse",
            };
            writeln!(
                f,
                "{intent} generation {} (role {}, application {}):",
                generation.key(),
                generation.name.role_name,
                generation.unique_name
            )?;
            let steps = self.steps.iter().enumerate();
            for (number, step) in steps.filter(|(_, step)| step.target == index) {
                write!(f, "  {}. {}", number + 1, step.operation)?;
                if let Some((first, rest)) = step.after.split_first() {
                    write!(f, ", after {}", first + 1)?;
                    for i in rest {
                        write!(f, ", {}", i + 1)?;
                    }
                }
                writeln!(f)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;
    use crate::{
        config::{self, Config},
        domain::{Properties, ownership::StackArn, plan::GenerationName},
    };

    const STACK: &str = "arn:aws:cloudformation:eu-west-1:222222222222:stack/ci/0e5b8c10-86e3-11ef-a6a3-0affd3b5c7a1";

    fn config() -> Config {
        config::for_tests()
    }

    fn generation(role_name: &str) -> Generation {
        let config = config();
        let stack = StackArn::parse(STACK).unwrap();
        let properties = Properties::parse(&serde_json::json!({ "RoleName": role_name })).unwrap();
        let name = GenerationName::new(&stack, "CiRole", &properties.replacement_key());
        Generation::new(&config, &stack, "CiRole", name)
    }

    #[test]
    fn a_create_waits_only_for_the_application_and_then_the_trust() {
        let plan = Plan::converge(generation("ci-blue"), true);
        let key = plan.targets()[0].generation.key().to_owned();
        let unique = plan.targets()[0].generation.unique_name.to_string();
        assert_eq!(
            plan.to_string(),
            format!(
                "converge generation {key} (role ci-blue, application {unique}):\n\
                 \x20 1. upsert the application\n\
                 \x20 2. create the role sealed, with its policies\n\
                 \x20 3. register the identifier URI, service principal and federated credentials, after 1\n\
                 \x20 4. add the audience to the OIDC provider, after 1\n\
                 \x20 5. set the role's trust to the audience and service principals, after 2, 3, 4\n\
                 \x20 6. converge the app-role assignments, after 3\n"
            )
        );
        assert_eq!(plan.longest_chain(), 3);
    }

    #[test]
    fn an_existing_generation_is_read_and_shaped_while_its_application_is_upserted() {
        let plan = Plan::converge(generation("ci-blue"), false);
        let key = plan.targets()[0].generation.key().to_owned();
        let unique = plan.targets()[0].generation.unique_name.to_string();
        assert_eq!(
            plan.to_string(),
            format!(
                "converge generation {key} (role ci-blue, application {unique}):\n\
                 \x20 1. read and upsert the application\n\
                 \x20 2. read the role\n\
                 \x20 3. register the identifier URI, service principal and federated credentials, after 1\n\
                 \x20 4. add the audience to the OIDC provider, after 1\n\
                 \x20 5. converge the role but its trust, after 2\n\
                 \x20 6. set the role's trust to the audience and service principals, after 3, 4, 5\n\
                 \x20 7. converge the app-role assignments, after 3\n"
            )
        );
        assert_eq!(plan.longest_chain(), 3);
    }

    #[test]
    fn a_removal_deletes_role_and_application_at_once_and_purges_the_application_last() {
        let plan = Plan::remove(generation("ci-blue"));
        let key = plan.targets()[0].generation.key().to_owned();
        let unique = plan.targets()[0].generation.unique_name.to_string();
        assert_eq!(
            plan.to_string(),
            format!(
                "remove generation {key} (role ci-blue, application {unique}):\n\
                 \x20 1. delete the role\n\
                 \x20 2. find the application and its service principal\n\
                 \x20 3. soft-delete the application, after 2\n\
                 \x20 4. remove the audience from the OIDC provider, after 3\n\
                 \x20 5. purge the service principal, after 3\n\
                 \x20 6. purge the application, after 4, 5\n\
                 \x20 7. delete the OIDC provider when ours and unused, after 1, 4\n"
            )
        );
        assert_eq!(plan.longest_chain(), 4);
    }

    fn adopted() -> Generation {
        let config = config();
        let name = crate::domain::RoleName::parse("deploy-web").unwrap();
        Generation::adopted(&config, "222222222222", &name, "AROAEXAMPLEROLEID1234")
    }

    #[test]
    fn a_role_made_outside_cloudformation_is_federated_without_being_made_or_deleted() {
        let plan = Plan::adopt(adopted());
        let key = plan.targets()[0].generation.key().to_owned();
        let unique = plan.targets()[0].generation.unique_name.to_string();
        assert_eq!(
            plan.to_string(),
            format!(
                "converge generation {key} (role deploy-web, application {unique}):\n\
                 \x20 1. read and upsert the application\n\
                 \x20 2. register the identifier URI, service principal and federated credentials, after 1\n\
                 \x20 3. add the audience to the OIDC provider, after 1\n\
                 \x20 4. set the factory's statement in the role's trust, and its status tags, after 2, 3\n\
                 \x20 5. converge the app-role assignments, after 2\n"
            )
        );
        assert_eq!(plan.longest_chain(), 3);
        let removal = Plan::remove(adopted());
        assert_eq!(
            removal.steps()[0].operation,
            Operation::Remove(Removing::ReleaseRole)
        );
        assert!(
            removal
                .steps()
                .iter()
                .all(|s| s.operation != Operation::Remove(Removing::DeleteRole))
        );
        let refusal = Plan::refuse(adopted(), "why".to_owned());
        assert_eq!(
            refusal.targets()[0].intent,
            Intent::Refuse("why".to_owned())
        );
        assert!(
            refusal.to_string().contains(
                "  1. take the factory's statement out of the role's trust, and say why\n"
            )
        );
    }

    #[test]
    fn plans_alongside_each_other_share_no_wait() {
        let converge = Plan::converge(generation("ci-blue"), false);
        let remove = Plan::remove(generation("ci-green"));
        let both = converge.clone().alongside(remove.clone());
        assert_eq!(both.targets().len(), 2);
        assert_eq!(both.steps().len(), 14);
        for step in &both.steps()[7..] {
            assert_eq!(step.target, 1);
            assert!(step.after.iter().all(|&i| i >= 7), "{step:?}");
        }
        assert_eq!(both.longest_chain(), 4);
        let text = both.to_string();
        assert!(text.starts_with(&converge.to_string()), "{text}");
        for line in [
            "  8. delete the role\n",
            "  10. soft-delete the application, after 9\n",
            "  13. purge the application, after 11, 12\n",
            "  14. delete the OIDC provider when ours and unused, after 8, 11\n",
        ] {
            assert!(text.contains(line), "{line:?} in\n{text}");
        }
    }
}
