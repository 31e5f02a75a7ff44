"""A small evaluator of IAM identity-based policies and permissions boundaries, enough to
show what the templates' policies allow and refuse. It follows the IAM User Guide:

- Policy evaluation logic (an explicit Deny in any policy wins; otherwise every policy
  type present, here the identity-based policies and the permissions boundary, must have
  an Allow; otherwise the request is implicitly denied):
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
- Condition operators, and what a condition on a key absent from the request means:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
- Single-valued and multivalued context keys, ForAnyValue and ForAllValues:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
- Wildcards in Resource (within each colon-separated ARN segment):
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html

Scope, on purpose: one principal's identity-based policies and its boundary, in one
account. Not modelled: resource-based policies, SCPs, session policies, policy variables,
Principal/NotPrincipal, and the Date, IP address and Binary operators. An operator it does
not know raises, so a policy it cannot judge never passes silently.

tests/deploy/test_policies.py pins every rule below to the documentation's own examples
before using the evaluator on the templates.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

Value = str | Sequence[str]


class Decision(enum.Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"

    @property
    def allowed(self) -> bool:
        return self is Decision.ALLOW


@dataclass(frozen=True)
class Request:
    """One authorisation: the action, the resource ARN ("*" for actions without resource
    types) and the request context (condition keys; a list for multivalued keys such as
    aws:TagKeys). A key that is not in `context` is absent from the request."""

    action: str
    resource: str
    context: Mapping[str, Value] = field(default_factory=dict)


# --- matching ------------------------------------------------------------------------------


def glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """`*` matches any run of characters (none included), `?` exactly one; everything else
    literally."""
    regex = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern
    )
    return re.fullmatch(regex, value, re.DOTALL | (re.IGNORECASE if ignore_case else 0)) is not None


def action_matches(pattern: str, action: str) -> bool:
    """Action names are case-insensitive, service prefix included ("iam:getrole" is
    iam:GetRole); wildcards may appear anywhere."""
    return glob(pattern, action, ignore_case=True)


def arn_matches(pattern: str, arn: str) -> bool:
    """ARN matching, for the Resource element and the Arn operators: each of the six
    colon-separated segments is matched on its own (a wildcard never spans a colon before
    the resource segment, but spans "/" within a segment), case-sensitively. "*" alone
    matches every resource."""
    if pattern == "*":
        return True
    wanted = pattern.split(":", 5)
    given = arn.split(":", 5)
    if len(wanted) != 6 or len(given) != 6:
        return False
    return all(glob(w, g) for w, g in zip(wanted, given))


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


# --- conditions ------------------------------------------------------------------------------


def _string_equals(policy: str, request: str) -> bool:
    return policy == request


def _string_equals_ignore_case(policy: str, request: str) -> bool:
    return policy.lower() == request.lower()


def _string_like(policy: str, request: str) -> bool:
    return glob(policy, request)


def _bool(policy: str, request: str) -> bool:
    return policy.lower() == request.lower()


def _numeric(compare):
    return lambda policy, request: compare(float(request), float(policy))


# Each operator: (how one request value compares with one policy value, negated?).
OPERATORS = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ignore_case, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ignore_case, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (arn_matches, False),
    "ArnLike": (arn_matches, False),
    "ArnNotEquals": (arn_matches, True),
    "ArnNotLike": (arn_matches, True),
    "Bool": (_bool, False),
    "NumericEquals": (_numeric(lambda r, p: r == p), False),
    "NumericNotEquals": (_numeric(lambda r, p: r == p), True),
    "NumericLessThan": (_numeric(lambda r, p: r < p), False),
    "NumericLessThanEquals": (_numeric(lambda r, p: r <= p), False),
    "NumericGreaterThan": (_numeric(lambda r, p: r > p), False),
    "NumericGreaterThanEquals": (_numeric(lambda r, p: r >= p), False),
}


def _lookup(context: Mapping[str, Value], key: str) -> list[str] | None:
    """The request's values for `key` (condition key names are case-insensitive), or None
    when the key is absent."""
    for name, value in context.items():
        if name.lower() == key.lower():
            return [str(v) for v in _as_list(value)]
    return None


def condition_holds(operator: str, key: str, policy_values: Any, context: Mapping[str, Value]) -> bool:
    """One operator on one key. Several policy values for the key are ORed (for a negated
    operator: the request value matches none of them)."""
    values = [str(v) for v in _as_list(policy_values)]
    request = _lookup(context, key)

    # Null: "true" means the key must be absent, "false" that it must be present. It is the
    # one operator that looks at presence only.
    if operator == "Null":
        (expected,) = values
        return (request is None) == (expected.lower() == "true")

    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    name = name.removesuffix("IfExists")
    if name not in OPERATORS or qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise NotImplementedError(f"condition operator {operator} is not modelled")
    compare, negated = OPERATORS[name]

    def one(value: str) -> bool:
        matched = any(compare(p, value) for p in values)
        return not matched if negated else matched

    if request is None:
        # The key is absent. ...IfExists: the condition holds. ForAllValues: the empty set
        # is a subset of anything, so it holds; ForAnyValue: no member can match, so it
        # does not. Otherwise the values "do not match": false, except that a negated
        # operator (the key must NOT match) is true.
        if if_exists:
            return True
        if qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return negated
    if qualifier == "ForAllValues":
        return all(one(v) for v in request)
    if qualifier == "ForAnyValue":
        return any(one(v) for v in request)
    # A single-valued key: compare its one value. (A set operator is what the User Guide
    # requires for multivalued keys; one without it would be a policy bug.)
    if len(request) != 1:
        raise ValueError(f"{key} has several values in the request: {operator} needs ForAnyValue: or ForAllValues:")
    return one(request[0])


def conditions_hold(condition: Mapping[str, Mapping[str, Any]] | None, context: Mapping[str, Value]) -> bool:
    """A Condition block: every operator, and within it every key, must hold (AND)."""
    return all(
        condition_holds(operator, key, policy_values, context)
        for operator, keys in (condition or {}).items()
        for key, policy_values in keys.items()
    )


# --- statements and policies -----------------------------------------------------------------


def statement_applies(statement: Mapping[str, Any], request: Request) -> bool:
    """Whether a statement matches the request: its Action (or NotAction), its Resource (or
    NotResource) and its Condition."""
    if "Action" in statement:
        action = any(action_matches(p, request.action) for p in _as_list(statement["Action"]))
    else:
        action = not any(action_matches(p, request.action) for p in _as_list(statement["NotAction"]))
    if not action:
        return False
    if "Resource" in statement:
        resource = any(arn_matches(p, request.resource) for p in _as_list(statement["Resource"]))
    else:
        resource = not any(arn_matches(p, request.resource) for p in _as_list(statement["NotResource"]))
    if not resource:
        return False
    return conditions_hold(statement.get("Condition"), request.context)


def applying(statements: Sequence[Mapping[str, Any]], request: Request, effect: str) -> list[str]:
    """The Sids (or positions) of the statements with `effect` that match the request."""
    return [
        str(s.get("Sid", f"#{i}"))
        for i, s in enumerate(statements)
        if s["Effect"] == effect and statement_applies(s, request)
    ]


def evaluate(
    request: Request,
    identity: Sequence[Mapping[str, Any]],
    boundary: Sequence[Mapping[str, Any]] | None = None,
) -> Decision:
    """The decision for a principal whose identity-based policies hold `identity` (all
    statements together) and whose permissions boundary, if any, holds `boundary`."""
    policies = [identity] if boundary is None else [identity, boundary]
    # 1. An explicit Deny in any applicable policy decides.
    if any(applying(p, request, "Deny") for p in policies):
        return Decision.EXPLICIT_DENY
    # 2. The identity-based policies must allow it, and so must the boundary when there is
    #    one: the result is the intersection of the two.
    if all(applying(p, request, "Allow") for p in policies):
        return Decision.ALLOW
    # 3. Otherwise nothing allowed it everywhere it had to be allowed.
    return Decision.IMPLICIT_DENY
