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
    /// Reads the role, for [`Converging::OpenTrust`] to converge.
    ReadRole,
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
    /// Looks the live application up by its `uniqueName`.
    FindApplication,
    /// Soft-deletes the application (or finds it among deleted items).
    DeleteApplication,
    /// Removes the audience from the provider, and the provider when ours and unused.
    RemoveAudience,
    /// Purges the deleted service principal.
    PurgeServicePrincipal,
    /// Purges the deleted application.
    PurgeApplication,
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
            Self::Remove(R::FindApplication) => "find the application",
            Self::Remove(R::DeleteApplication) => "soft-delete the application",
            Self::Remove(R::RemoveAudience) => "remove the audience (and the provider when unused)",
            Self::Remove(R::PurgeServicePrincipal) => "purge the service principal",
            Self::Remove(R::PurgeApplication) => "purge the application",
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
    /// waits for the service principal; an existing one's role is read meanwhile.
    pub fn converge(generation: Generation, fresh: bool) -> Self {
        use Converging::*;
        let role = if fresh { CreateSealedRole } else { ReadRole };
        let steps: [(Converging, &[usize]); 6] = [
            (UpsertApplication { existing: !fresh }, &[]),
            (role, &[]),
            (RegisterApplication, &[0]),
            (AddAudience, &[0]),
            (OpenTrust, &[1, 2, 3]),
            (AssignAppRole, &[2]),
        ];
        Self::one(
            Intent::Converge,
            generation,
            steps.map(|(step, after)| (Operation::Converge(step), after)),
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

    /// Removes `generation`: the role first (so that nobody can assume it), then the
    /// application; then the audience and the service principal; the application's
    /// purge last, since its deleted item is where a repeated removal reads the appId
    /// that names the audience.
    /// A role made outside CloudFormation is never deleted: the factory's status tags
    /// come off it instead. (A removal stopped after that still finishes on the next
    /// event: the front door finds the application the role no longer asks for.)
    pub fn remove(generation: Generation) -> Self {
        use Removing::*;
        let role = match generation.role {
            RoleOwner::Factory(_) => DeleteRole,
            RoleOwner::Adopted { .. } => ReleaseRole,
        };
        let steps: [(Removing, &[usize]); 6] = [
            (role, &[]),
            (FindApplication, &[]),
            (DeleteApplication, &[0, 1]),
            (RemoveAudience, &[2]),
            (PurgeServicePrincipal, &[2]),
            (PurgeApplication, &[3, 4]),
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
    fn an_existing_generation_is_read_where_a_fresh_one_is_created() {
        let plan = Plan::converge(generation("ci-blue"), false);
        let operations: Vec<Operation> = plan.steps().iter().map(|s| s.operation).collect();
        assert_eq!(
            operations[..2],
            [
                Operation::Converge(Converging::UpsertApplication { existing: true }),
                Operation::Converge(Converging::ReadRole)
            ]
        );
        assert_eq!(plan.longest_chain(), 3);
    }

    #[test]
    fn a_removal_deletes_the_role_first_and_purges_the_application_last() {
        let plan = Plan::remove(generation("ci-blue"));
        let order: Vec<(Operation, Vec<usize>)> = plan
            .steps()
            .iter()
            .map(|s| (s.operation, s.after.clone()))
            .collect();
        use Removing::*;
        let expected: [(Removing, Vec<usize>); 6] = [
            (DeleteRole, vec![]),
            (FindApplication, vec![]),
            (DeleteApplication, vec![0, 1]),
            (RemoveAudience, vec![2]),
            (PurgeServicePrincipal, vec![2]),
            (PurgeApplication, vec![3, 4]),
        ];
        assert_eq!(
            order,
            expected.map(|(step, after)| (Operation::Remove(step), after))
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
        assert_eq!(both.steps().len(), 12);
        for step in &both.steps()[6..] {
            assert_eq!(step.target, 1);
            assert!(step.after.iter().all(|&i| i >= 6), "{step:?}");
        }
        assert_eq!(both.longest_chain(), 4);
        let text = both.to_string();
        assert!(text.starts_with(&converge.to_string()), "{text}");
        for line in [
            "  7. delete the role\n",
            "  9. soft-delete the application, after 7, 8\n",
            "  12. purge the application, after 10, 11\n",
        ] {
            assert!(text.contains(line), "{line:?} in\n{text}");
        }
    }
}
