"""RBAC authorization over the objects in an ObjectStore, as the real RBAC authorizer does:
ClusterRoleBindings grant everywhere, RoleBindings grant in their namespace; a rule matches
by apiGroups, resources (incl. `resource/subresource`, `*`, `*/subresource`), resourceNames
and verbs; non-resource URLs match exactly or by a trailing `*` prefix.

Nothing is denied explicitly (RBAC is allow-only): no matching rule means Forbidden.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from stackcheck.sim.store import ObjectStore, parse_label_selector

Obj = dict[str, Any]
RBAC = "rbac.authorization.k8s.io/v1"

# What the default `system:discovery` / `system:public-info-viewer` roles grant to every
# authenticated user.
DISCOVERY_PATHS = (
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/version",
    "/version/",
    "/healthz",
    "/readyz",
    "/livez",
    "/openapi",
    "/openapi/*",
)


# What the default `system:basic-user` ClusterRole grants to every authenticated user.
SELF_REVIEWS = (
    ("authentication.k8s.io", "selfsubjectreviews"),
    ("authorization.k8s.io", "selfsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectrulesreviews"),
)
DEFAULT_RULES: tuple[Obj, ...] = (
    *(
        {"verbs": ["create"], "apiGroups": [group], "resources": [resource]}
        for group, resource in SELF_REVIEWS
    ),
    {"verbs": ["get"], "nonResourceURLs": list(DISCOVERY_PATHS)},
)
ADMIN_RULES: tuple[Obj, ...] = (
    {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
    {"verbs": ["*"], "nonResourceURLs": ["*"]},
)


@dataclass(frozen=True)
class ServiceAccountUser:
    namespace: str
    name: str

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"

    @property
    def uid(self) -> str:
        """Stable per ServiceAccount (the real one is the ServiceAccount object's uid)."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, self.username))

    @property
    def groups(self) -> tuple[str, ...]:
        return (
            "system:serviceaccounts",
            f"system:serviceaccounts:{self.namespace}",
            "system:authenticated",
        )


@dataclass(frozen=True)
class Attributes:
    """One request as the authorizer sees it."""

    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""  # non-resource requests only

    @property
    def is_resource(self) -> bool:
        return bool(self.resource)

    def forbidden_reason(self, username: str) -> str:
        """The sentence after `... is forbidden: `, worded as upstream."""
        if not self.is_resource:
            return f'User "{username}" cannot {self.verb} path "{self.path}"'
        resource = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        where = f'in the namespace "{self.namespace}"' if self.namespace else "at the cluster scope"
        return (
            f'User "{username}" cannot {self.verb} resource "{resource}" '
            f'in API group "{self.group}" {where}'
        )


def allowed(store: ObjectStore, user: ServiceAccountUser, request: Attributes) -> bool:
    if any(_rule_allows(rule, request) for rule in DEFAULT_RULES):
        return True
    return any(_rule_allows(rule, request) for rule in _rules_for(store, user, request))


def rules(store: ObjectStore, user: ServiceAccountUser | None, namespace: str) -> list[Obj]:
    """Every rule that applies to `user` in `namespace` (a SelfSubjectRulesReview's answer);
    None is the admin (system:masters: everything)."""
    if user is None:
        return list(ADMIN_RULES)
    found = list(DEFAULT_RULES)
    for rule in _rules_for(store, user, Attributes(verb="", namespace=namespace)):
        if rule not in found:
            found.append(rule)
    return found


def _rules_for(store: ObjectStore, user: ServiceAccountUser, request: Attributes) -> Iterator[Obj]:
    for binding in store.list_objects(RBAC, "ClusterRoleBinding"):
        if _binds(binding, user):
            yield from _role_rules(store, binding["roleRef"], None)
    if request.namespace:
        for binding in store.list_objects(RBAC, "RoleBinding", request.namespace):
            if _binds(binding, user):
                yield from _role_rules(store, binding["roleRef"], request.namespace)


def _binds(binding: Obj, user: ServiceAccountUser) -> bool:
    for subject in binding.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name")
        if kind == "ServiceAccount" and (name, subject.get("namespace")) == (
            user.name,
            user.namespace,
        ):
            return True
        if (kind == "User" and name == user.username) or (kind == "Group" and name in user.groups):
            return True
    return False


def _role_rules(store: ObjectStore, ref: Obj, namespace: str | None) -> list[Obj]:
    if ref.get("kind") == "Role":
        role = store.get_object(RBAC, "Role", namespace, ref.get("name", "")) if namespace else None
    else:
        role = store.get_object(RBAC, "ClusterRole", None, ref.get("name", ""))
    if role is None:
        return []
    return list(role.get("rules") or []) + _aggregated_rules(store, role)


def _aggregated_rules(store: ObjectStore, role: Obj) -> list[Obj]:
    """A ClusterRole with an aggregationRule holds the rules of the roles it selects (the
    real aggregation controller copies them; we compute them on the fly)."""
    selectors = (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
    rules: list[Obj] = []
    for selector in selectors:
        terms = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
        if not terms:
            continue
        matches = parse_label_selector(",".join(terms))
        for other in store.list_objects(RBAC, "ClusterRole"):
            if other["metadata"]["name"] != role["metadata"]["name"] and matches(
                other["metadata"].get("labels") or {}
            ):
                rules.extend(other.get("rules") or [])
    return rules


def _rule_allows(rule: Obj, request: Attributes) -> bool:
    if not _has(rule.get("verbs"), request.verb):
        return False
    if not request.is_resource:
        return _path_matches(rule.get("nonResourceURLs") or [], request.path)
    if not _has(rule.get("apiGroups"), request.group):
        return False
    if not _resource_matches(rule.get("resources") or [], request):
        return False
    names = rule.get("resourceNames") or []
    return not names or request.name in names


def _has(values: list[str] | None, wanted: str) -> bool:
    return bool(values) and ("*" in values or wanted in values)  # type: ignore[operator]


def _resource_matches(resources: list[str], request: Attributes) -> bool:
    combined = (
        f"{request.resource}/{request.subresource}" if request.subresource else request.resource
    )
    for resource in resources:
        if resource in ("*", combined):
            return True
        if request.subresource and resource == f"*/{request.subresource}":
            return True
    return False


def _path_matches(patterns: tuple[str, ...] | list[str], path: str) -> bool:
    for pattern in patterns:
        if pattern == path or (pattern.endswith("*") and path.startswith(pattern[:-1])):
            return True
    return False
