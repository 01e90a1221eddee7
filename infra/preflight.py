"""``python -m infra.preflight``: what to change before ``pulumi up`` creates anything.

A fresh account differs from the one the program was written against in ways that mocks cannot
see and ``pulumi up`` reports half way, after creating part of the stack. The preflight reads
them first, with the deploying credentials, and says in plain words what to change:

- the stack config (``Pulumi.<stack>.yaml``), with the very rules of ``read_config``, and the
  description it makes (names AWS would refuse);
- the account's Lambda concurrency (``GetAccountSettings``): new accounts often run at most 10
  executions at once, which one enrichment can take whole and which leaves no room for a
  reservation;
- the region's public SSM parameter of the pinned Powertools release, which the program reads
  for the layer ARN (missing in some regions and for some releases);
- whether each bucket name is free (``HeadBucket``: 404 free, 403 another account's);
- whether ``make lambda-deps`` has built the project's layer.

Example::

    $ python -m infra.preflight --stack dev
    CHANGE  Lambda concurrency: the account runs at most 10 Lambda executions at once ...

Exit status 1 when something must change, 0 otherwise (warnings included).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import boto3
import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs
from botocore.exceptions import ClientError

from infra import dependency_layer, packaging
from infra.config import ConfigError, DeployConfig, parse_config
from stack.app import build_app
from stack.checks import DescriptionError, check_app
from stack.spec import App, StackConfig

# Lambda keeps this many executions unreserved (or the whole limit, when it is lower).
UNRESERVED_MINIMUM: Final = 100
# What AWS grants an account that asks; new accounts may start far lower.
DEFAULT_CONCURRENCY_LIMIT: Final = 1000
CONCURRENCY_QUOTA_CODE: Final = "L-B99A9384"

ClientFactory = Callable[[str], Any]


class Level(StrEnum):
    OK = "OK"
    WARN = "WARN"
    CHANGE = "CHANGE"


@dataclass(frozen=True)
class Finding:
    """One thing the preflight looked at: how it stands and, unless OK, what to do."""

    subject: str
    level: Level
    message: str

    def line(self) -> str:
        return f"{self.level.value:<7} {self.subject}: {self.message}"


def check_concurrency(lambda_client: Any, stack: StackConfig) -> list[Finding]:
    """The account's concurrency against the enrichment's and an optional reservation."""
    limits = lambda_client.get_account_settings()["AccountLimit"]
    limit = int(limits["ConcurrentExecutions"])
    unreserved = int(limits["UnreservedConcurrentExecutions"])
    subject = "Lambda concurrency"
    findings = []
    reserved = stack.enrich_reserved_concurrency
    keep = min(UNRESERVED_MINIMUM, limit)
    if reserved is not None and unreserved - reserved < keep:
        findings.append(
            Finding(
                subject,
                Level.CHANGE,
                f"enrichReservedConcurrency is {reserved}, but the account has {unreserved} "
                f"unreserved executions and Lambda keeps at least {keep} of them: creating "
                "enrich_batch would fail, and everything after it. Remove the reservation "
                "(`pulumi config rm enrichReservedConcurrency`) or raise the account's limit "
                "first (see below).",
            )
        )
    quota = (
        f"request {DEFAULT_CONCURRENCY_LIMIT} 'Concurrent executions' in Service Quotas "
        f"(AWS Lambda, quota {CONCURRENCY_QUOTA_CODE})"
    )
    if stack.enrich_concurrency >= limit:
        findings.append(
            Finding(
                subject,
                Level.CHANGE,
                f"the account runs at most {limit} Lambda executions at once, and one enrichment "
                f"runs enrichConcurrency = {stack.enrich_concurrency} of them: while it runs, the "
                f"API and the ingest workflows would be throttled. {quota[0].upper()}{quota[1:]},"
                f" or lower enrichConcurrency (`pulumi config set enrichConcurrency "
                f"{max(1, limit // 2)}`).",
            )
        )
    elif limit < UNRESERVED_MINIMUM:
        findings.append(
            Finding(
                subject,
                Level.WARN,
                f"the account runs at most {limit} Lambda executions at once (AWS's usual limit "
                f"is {DEFAULT_CONCURRENCY_LIMIT}); bursts will be throttled and retried. To "
                f"lift it, {quota}.",
            )
        )
    if not findings:
        findings.append(Finding(subject, Level.OK, f"{limit} executions, {unreserved} unreserved"))
    return findings


def check_powertools_layer(ssm: Any, config: DeployConfig) -> Finding:
    """The public parameter the program reads for the Powertools layer, unless it is pinned."""
    subject = "Powertools layer"
    pinned = config.infra.powertools_layer_version
    region = config.stack.region
    if pinned is not None:
        arn = packaging.powertools_layer_arn(region, pinned)
        return Finding(subject, Level.OK, f"pinned to {arn}")
    release = packaging.pinned_powertools_version()
    parameter = packaging.powertools_layer_parameter(release)
    try:
        value = ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ParameterNotFound":
            return Finding(
                subject, Level.WARN, f"could not read {parameter}: {error}; preview will try again"
            )
        return Finding(
            subject,
            Level.CHANGE,
            f"{region} has no public parameter {parameter} (AWS has not published Powertools "
            f"{release} there, or not its parameter): `pulumi preview` would fail with "
            "ParameterNotFound. Pin the layer instead: `pulumi config set "
            "powertoolsLayerVersion <N>`, N being the version of "
            f"{packaging.POWERTOOLS_LAYER_NAME} in {region} that holds Powertools {release} "
            "(Powertools' documentation lists them, under 'Lambda Layer').",
        )
    return Finding(subject, Level.OK, value)


def check_bucket_names(s3: Any, app: App) -> list[Finding]:
    """Each bucket name: free, already this account's, or another account's."""
    account = app.config.account_id
    owned: set[str] | None = None
    findings = []
    for spec in app.buckets:
        name = app.bucket_name(spec.name)
        subject = f"bucket {name}"
        try:
            s3.head_bucket(Bucket=name, ExpectedBucketOwner=account)
        except ClientError as error:
            status = error.response["ResponseMetadata"]["HTTPStatusCode"]
            if status == 404:
                findings.append(Finding(subject, Level.OK, "free"))
            elif status == 403:
                findings.append(_taken(subject))
            else:
                findings.append(
                    Finding(subject, Level.WARN, f"could not tell whether it is free: {error}")
                )
            continue
        if owned is None:
            owned = {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}
        if name not in owned:
            # Readable, yet not in this account's list: another account's, shared with us.
            findings.append(_taken(subject))
        else:
            findings.append(
                Finding(
                    subject,
                    Level.WARN,
                    "already exists in this account: fine if this stack created it; otherwise "
                    "`pulumi up` fails on it: delete it, or choose another prefix.",
                )
            )
    return findings


def _taken(subject: str) -> Finding:
    return Finding(
        subject,
        Level.CHANGE,
        "belongs to another AWS account (S3 names are global): `pulumi up` would fail with "
        "BucketAlreadyExists. Choose another prefix: `pulumi config set prefix <prefix>`.",
    )


def check_dependency_layer() -> Finding:
    subject = "project layer"
    try:
        site = dependency_layer.checked_site()
    except dependency_layer.DependencyLayerMissingError as error:
        return Finding(subject, Level.CHANGE, str(error))
    return Finding(subject, Level.OK, str(site))


def run_preflight(
    values: Mapping[str, str], *, project: str, stack: str, clients: ClientFactory
) -> list[Finding]:
    """Every check, given the stack config ``values`` (``"stepflow:prefix"``-style keys)."""
    if not values.get("aws:region"):
        # Every client needs it, the account id included.
        return [Finding("stack config", Level.CHANGE, "no region: `pulumi config set aws:region`")]
    account_id = clients("sts").get_caller_identity()["Account"]
    try:
        config = parse_config(values.get, project=project, stack=stack, account_id=account_id)
        app = build_app(config.stack)
        check_app(app)
    except (ConfigError, DescriptionError) as error:
        # Nothing else can be judged without a valid config.
        return [Finding("stack config", Level.CHANGE, str(error))]
    return [
        Finding("stack config", Level.OK, f"account {account_id}, region {config.stack.region}"),
        *check_concurrency(clients("lambda"), config.stack),
        check_powertools_layer(clients("ssm"), config),
        *check_bucket_names(clients("s3"), app),
        check_dependency_layer(),
    ]


def stack_values(path: Path, region: str | None) -> dict[str, str]:
    """A ``Pulumi.<stack>.yaml``'s config as text, as Pulumi hands it to the program.

    ``region`` (the AWS CLI's) stands in for a missing ``aws:region``.
    """
    document = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    config = (document or {}).get("config") or {}
    values = {
        str(key): str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in config.items()
        if not isinstance(value, dict)  # secrets and structured values: none the checks read
    }
    if region and "aws:region" not in values:
        values["aws:region"] = region
    return values


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.preflight",
        description="Check the account and the stack config before `pulumi up`.",
    )
    parser.add_argument("--stack", default="dev", help="the Pulumi stack (default: dev)")
    args = parser.parse_args(argv)
    root = packaging.REPO_ROOT
    project = yaml.safe_load((root / "Pulumi.yaml").read_text(encoding="utf-8"))["name"]
    region = os.environ.get("AWS_REGION") or boto3.session.Session().region_name
    values = stack_values(root / f"Pulumi.{args.stack}.yaml", region)
    session = boto3.session.Session(region_name=values.get("aws:region") or region)
    findings = run_preflight(values, project=project, stack=args.stack, clients=session.client)
    for finding in findings:
        print(finding.line())
    changes = sum(finding.level is Level.CHANGE for finding in findings)
    print(
        f"{changes} thing(s) to change before `pulumi up`." if changes else "Ready for `pulumi up`."
    )
    return 1 if changes else 0


if __name__ == "__main__":
    sys.exit(main())
