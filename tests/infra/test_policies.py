"""Every IAM document the program produces: least privilege, and parliament finds nothing."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from parliament import analyze_policy_string

from infra.stack import Deployment
from tests.infra.harness import Run, as_list, policy_documents, statements

# Actions that read or change data: never on "*".
DATA_ACTIONS = re.compile(
    r"^(dynamodb:.*|s3:(Get|Put|Delete).*|sqs:(Send|Receive|Delete|ChangeMessage).*"
    r"|secretsmanager:GetSecretValue|kms:(Decrypt|Encrypt|GenerateDataKey).*"
    r"|lambda:Invoke.*|states:(Start|Send|Stop|Redrive).*|\*|[a-z0-9-]+:\*)$"
)


def documents(*runs: Run[Deployment]) -> list[tuple[str, str, dict[str, Any]]]:
    found = [document for run in runs for document in policy_documents(run.mocks)]
    assert found, "the program produced no IAM documents"
    return found


@pytest.fixture(scope="module")
def all_documents(
    run: Run[Deployment], synthetic_run: Run[Deployment]
) -> list[tuple[str, str, dict[str, Any]]]:
    return documents(run, synthetic_run)


def test_no_data_action_is_granted_on_every_resource(
    all_documents: list[tuple[str, str, dict[str, Any]]],
) -> None:
    offending = []
    for kind, name, document in all_documents:
        for statement in statements(document):
            if kind == "trust" or statement["Effect"] != "Allow":
                continue
            data = [a for a in as_list(statement["Action"]) if DATA_ACTIONS.match(a)]
            if data and "*" in as_list(statement["Resource"]):
                offending.append((name, data))
    assert offending == []


def test_no_statement_allows_every_action(
    all_documents: list[tuple[str, str, dict[str, Any]]],
) -> None:
    for _, name, document in all_documents:
        for statement in statements(document):
            if statement["Effect"] == "Allow":
                assert not any(a.endswith("*") for a in as_list(statement["Action"])), name


def test_trust_policies_name_one_service_and_only_assume_role(
    all_documents: list[tuple[str, str, dict[str, Any]]],
) -> None:
    for kind, name, document in all_documents:
        if kind != "trust":
            continue
        [statement] = statements(document)
        assert statement["Action"] == "sts:AssumeRole", name
        assert list(statement["Principal"]) == ["Service"], name
        assert statement["Principal"]["Service"] in {
            "lambda.amazonaws.com",
            "states.amazonaws.com",
            "pipes.amazonaws.com",
        }


# The only permissions-management action any document may hold: AWS documents it as required
# for a state machine's vended log delivery (the service adds the log group's resource policy
# under /aws/vendedlogs/), with Resource "*" (see infra.policies.LOG_DELIVERY_ACTIONS).
ALLOWED_PERMISSIONS_MANAGEMENT = frozenset({"logs:PutResourcePolicy"})


def _without_allowed_permissions_management(document: dict[str, Any]) -> dict[str, Any]:
    kept = []
    for statement in statements(document):
        actions = [
            a for a in as_list(statement["Action"]) if a not in ALLOWED_PERMISSIONS_MANAGEMENT
        ]
        if actions:
            kept.append({**statement, "Action": actions})
    return {**document, "Statement": kept}


def _analyze(document: dict[str, Any]) -> list[Any]:
    # The community auditors too: they add the permissions-management and sensitive-access
    # checks to the default ones.
    return list(
        analyze_policy_string(json.dumps(document), include_community_auditors=True).findings
    )


def _findings(kind: str, document: dict[str, Any]) -> list[str]:
    findings = []
    for finding in _analyze(document):
        # Parliament reads every document as an identity policy; a role's trust policy has a
        # Principal and, by definition, no Resource. That one finding is not a defect.
        if (
            kind == "trust"
            and finding.issue == "MALFORMED"
            and "neither Resource nor NotResource" in str(finding.detail)
        ):
            continue
        # Whitelisted above, and only if the finding goes away without that one action.
        if finding.issue == "PERMISSIONS_MANAGEMENT_ACTIONS" and not [
            other
            for other in _analyze(_without_allowed_permissions_management(document))
            if other.issue == finding.issue
        ]:
            continue
        findings.append(f"{finding.issue}: {finding.detail}")
    return findings


def test_parliament_finds_nothing_in_any_document(
    all_documents: list[tuple[str, str, dict[str, Any]]],
) -> None:
    report = {
        f"{kind} {name}": found
        for kind, name, document in all_documents
        if (found := _findings(kind, document))
    }
    assert report == {}


def test_every_kind_of_document_is_checked(
    all_documents: list[tuple[str, str, dict[str, Any]]],
) -> None:
    names = {(kind, name) for kind, name, _ in all_documents}
    # Roles and policies of functions, state machines and pipes; bucket and queue policies.
    assert {kind for kind, _ in names} == {"trust", "identity", "resource"}
    assert [name for kind, name in names if kind == "identity" and name.endswith("-pipe-policy")]
    assert [name for kind, name in names if kind == "resource" and "notifications" in name]
    assert len(names) == len(all_documents)


def test_parliament_would_catch_a_permissions_management_grant() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["iam:CreatePolicyVersion", "logs:PutResourcePolicy"],
                "Resource": "*",
            }
        ],
    }
    # The whitelist covers logs:PutResourcePolicy alone, not a document that adds to it.
    assert [f for f in _findings("identity", document) if f.startswith("PERMISSIONS_MANAGEMENT")]


def test_parliament_would_catch_a_mistake() -> None:
    # A typo in an action is exactly what the test above exists to catch.
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "dynamodb:GetItems", "Resource": "*"}],
    }
    assert _findings("identity", document)
