"""Run the Pulumi program under ``pulumi.runtime.set_mocks`` and keep what it asked for.

The mocks record every resource registration (type, Pulumi name, inputs as the engine would
receive them, Outputs resolved) and answer with the attributes AWS would compute: ARNs, URLs and
ids shaped like the real ones, so policies and definitions can be checked string for string.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import pulumi

from infra import dependency_layer
from stack.app import build_app
from stack.spec import App, StackConfig

PROJECT = "stepflow"
STACK = "test"
ACCOUNT = "123456789012"
REGION = "eu-west-1"
PREFIX = "stepflow-test"
LAYER_ARN = (
    f"arn:aws:lambda:{REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:42"
)

LAMBDA = "aws:lambda/function:Function"
LAYER_VERSION = "aws:lambda/layerVersion:LayerVersion"
STATE_MACHINE = "aws:sfn/stateMachine:StateMachine"
TABLE = "aws:dynamodb/table:Table"
QUEUE = "aws:sqs/queue:Queue"
BUCKET = "aws:s3/bucket:Bucket"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MANAGED_POLICY = "aws:iam/policy:Policy"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
SECRET = "aws:secretsmanager/secret:Secret"
PIPE = "aws:pipes/pipe:Pipe"
HTTP_API = "aws:apigatewayv2/api:Api"
INTEGRATION = "aws:apigatewayv2/integration:Integration"
ROUTE = "aws:apigatewayv2/route:Route"
AUTHORIZER = "aws:apigatewayv2/authorizer:Authorizer"
USER_POOL = "aws:cognito/userPool:UserPool"
USER_POOL_CLIENT = "aws:cognito/userPoolClient:UserPoolClient"
STAGE = "aws:apigatewayv2/stage:Stage"
PERMISSION = "aws:lambda/permission:Permission"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
EVENT_INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
BUCKET_NOTIFICATION = "aws:s3/bucketNotification:BucketNotification"

T = TypeVar("T")

with warnings.catch_warnings():
    # pulumi_aws warns about its own deprecated classes when a service module is first loaded;
    # loading them here, once, keeps that noise out of every test's report.
    warnings.simplefilter("ignore", DeprecationWarning)
    for _service in (
        "apigatewayv2",
        "cloudwatch",
        "dynamodb",
        "iam",
        "lambda_",
        "pipes",
        "s3",
        "secretsmanager",
        "sfn",
        "sns",
        "sqs",
        "ssm",
    ):
        # The provider's modules load lazily: looking up any attribute runs the module.
        hasattr(importlib.import_module(f"pulumi_aws.{_service}"), "Unused")


@dataclass(frozen=True)
class Recorded:
    type: str
    name: str
    inputs: dict[str, Any]
    state: dict[str, Any]
    custom: bool


@dataclass
class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks that remember every resource and invoke, and compute AWS-shaped attributes."""

    region: str = REGION
    account: str = ACCOUNT
    resources: list[Recorded] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        inputs = dict(args.inputs)
        name = inputs.get("name") or inputs.get("bucket") or _autoname(args.name)
        state = {"id": name, **inputs, **self._computed(args.typ, name, inputs)}
        self.resources.append(Recorded(args.typ, args.name, inputs, state, bool(args.custom)))
        return state["id"], state

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        self.calls.append((args.token, dict(args.args)))
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            arn = f"arn:aws:iam::{self.account}:user/deployer"
            return {
                "accountId": self.account,
                "arn": arn,
                "userId": "AIDATEST",
                "id": self.account,
            }, []
        if args.token == "aws:index/getPartition:getPartition":
            return {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "reverseDnsPrefix": "com.amazonaws",
                "id": "aws",
            }, []
        if args.token == "aws:ssm/getParameter:getParameter":
            return {
                "name": args.args["name"],
                "arn": f"arn:aws:ssm:{self.region}::parameter{args.args['name']}",
                "type": "String",
                "value": LAYER_ARN,
                "insecureValue": LAYER_ARN,
                "version": 1,
                "id": args.args["name"],
            }, []
        raise NotImplementedError(f"no mock for invoke {args.token}")

    def of_type(self, type_: str) -> list[Recorded]:
        return [resource for resource in self.resources if resource.type == type_]

    def named(self, type_: str, name: str) -> Recorded:
        matches = [resource for resource in self.of_type(type_) if resource.name == name]
        assert len(matches) == 1, f"{len(matches)} {type_} named {name!r}"
        return matches[0]

    def _computed(self, type_: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        compute = _COMPUTED.get(type_)
        return compute(self.region, self.account, name, inputs) if compute else {}


Computed = Callable[[str, str, str, Mapping[str, Any]], dict[str, Any]]


def _layer_version(region: str, account: str, _: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    layer_arn = f"arn:aws:lambda:{region}:{account}:layer:{inputs['layerName']}"
    return {"arn": f"{layer_arn}:1", "layerArn": layer_arn, "version": "1"}


def _queue(region: str, account: str, name: str, _: Mapping[str, Any]) -> dict[str, Any]:
    url = f"https://sqs.{region}.amazonaws.com/{account}/{name}"
    return {"arn": f"arn:aws:sqs:{region}:{account}:{name}", "url": url, "id": url}


def _state_machine(region: str, account: str, name: str, _: Mapping[str, Any]) -> dict[str, Any]:
    arn = f"arn:aws:states:{region}:{account}:stateMachine:{name}"
    return {"arn": arn, "id": arn}


def api_id(name: str) -> str:
    """The id the mocks give the HTTP API of that name (AWS: 10 random characters)."""
    return hashlib.sha256(name.encode()).hexdigest()[:10]


def _http_api(region: str, account: str, name: str, _: Mapping[str, Any]) -> dict[str, Any]:
    id_ = api_id(name)
    return {
        "id": id_,
        "apiEndpoint": f"https://{id_}.execute-api.{region}.amazonaws.com",
        "executionArn": f"arn:aws:execute-api:{region}:{account}:{id_}",
        "arn": f"arn:aws:apigateway:{region}::/apis/{id_}",
    }


def _stage(region: str, account: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    # The $default stage is served at the root; any other under its name.
    path = "" if name == "$default" else name
    base = f"https://{inputs['apiId']}.execute-api.{region}.amazonaws.com/"
    return {"invokeUrl": base + path, "id": name}


def _simple(arn: Callable[[str, str, str], str], **extra: str) -> Computed:
    return lambda r, a, n, _: {"arn": arn(r, a, n), **{k: v.format(n=n) for k, v in extra.items()}}


# The attributes AWS computes, shaped as AWS shapes them (region, account, name, inputs -> state).
_COMPUTED: dict[str, Computed] = {
    LAMBDA: _simple(lambda r, a, n: f"arn:aws:lambda:{r}:{a}:function:{n}"),
    LAYER_VERSION: _layer_version,
    STATE_MACHINE: _state_machine,
    TABLE: _simple(lambda r, a, n: f"arn:aws:dynamodb:{r}:{a}:table/{n}"),
    LOG_GROUP: _simple(lambda r, a, n: f"arn:aws:logs:{r}:{a}:log-group:{n}"),
    ROLE: _simple(lambda r, a, n: f"arn:aws:iam::{a}:role/{n}", name="{n}"),
    MANAGED_POLICY: _simple(lambda r, a, n: f"arn:aws:iam::{a}:policy/{n}"),
    QUEUE: _queue,
    BUCKET: _simple(lambda r, a, n: f"arn:aws:s3:::{n}", bucket="{n}"),
    # Secrets Manager appends six random characters to a secret's ARN.
    SECRET: _simple(lambda r, a, n: f"arn:aws:secretsmanager:{r}:{a}:secret:{n}-AbC123"),
    PIPE: _simple(lambda r, a, n: f"arn:aws:pipes:{r}:{a}:pipe/{n}"),
    TOPIC: _simple(lambda r, a, n: f"arn:aws:sns:{r}:{a}:{n}"),
    ALARM: _simple(lambda r, a, n: f"arn:aws:cloudwatch:{r}:{a}:alarm:{n}"),
    EVENT_RULE: _simple(lambda r, a, n: f"arn:aws:events:{r}:{a}:rule/{n}"),
    HTTP_API: _http_api,
    STAGE: _stage,
}


@dataclass(frozen=True)
class Run(Generic[T]):
    """What one program run produced: its return value, the resolved extra, the mocks."""

    result: T
    resolved: Any
    mocks: RecordingMocks


def run_program(
    program: Callable[[], T],
    resolve: Callable[[T], Any] | None = None,
    *,
    config: Mapping[str, str] | None = None,
    region: str | None = REGION,
    mocks: RecordingMocks | None = None,
) -> Run[T]:
    """Run ``program`` under fresh mocks and wait for every registration to finish.

    ``resolve`` picks Outputs (in any nesting of dicts and lists) out of the program's result;
    their plain values come back as ``Run.resolved``. ``config`` is the stack config
    (``"stepflow:prefix"``-style keys) on top of ``aws:region`` (unless ``region`` is None) and
    deletion protection off, as on a dev stack.
    """
    mocks = mocks or RecordingMocks()
    base = {f"{PROJECT}:deletionProtection": "false"}
    if region is not None:
        base["aws:region"] = region
    pulumi.runtime.set_all_config({**base, **(config or {})})
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=STACK, preview=False)
    results: list[T] = []
    resolved: list[Any] = []

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def execute() -> pulumi.Output[None]:
        result = program()
        results.append(result)
        picked = resolve(result) if resolve else None
        return pulumi.Output.from_input(picked).apply(resolved.append)

    execute()
    return Run(results[0], resolved[0], mocks)


def fake_lambda_deps(build_dir: Path) -> Path:
    """What ``make lambda-deps`` builds, without pip: per extra a module and its dist-info."""
    site = build_dir / dependency_layer.SITE_DIR
    for pin in dependency_layer.extras():
        module = site / pin.name.lower().replace("-", "_")
        module.mkdir(parents=True, exist_ok=True)
        (module / "__init__.py").write_text("")
        (site / pin.dist_info).mkdir(exist_ok=True)
    site.mkdir(parents=True, exist_ok=True)
    return build_dir


def default_app() -> App:
    return build_app(StackConfig(prefix=PREFIX, region=REGION))


def policy_documents(mocks: RecordingMocks) -> list[tuple[str, str, dict[str, Any]]]:
    """Every IAM document the program produced: (kind, resource name, parsed document)."""
    documents: list[tuple[str, str, dict[str, Any]]] = []
    for role in mocks.of_type(ROLE):
        documents.append(("trust", role.name, json.loads(role.inputs["assumeRolePolicy"])))
    for policy in [*mocks.of_type(ROLE_POLICY), *mocks.of_type(MANAGED_POLICY)]:
        documents.append(("identity", policy.name, json.loads(policy.inputs["policy"])))
    for policy in [*mocks.of_type(BUCKET_POLICY), *mocks.of_type(QUEUE_POLICY)]:
        documents.append(("resource", policy.name, json.loads(policy.inputs["policy"])))
    return documents


def statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = document["Statement"]
    return [found] if isinstance(found, dict) else list(found)


def as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _autoname(name: str) -> str:
    # Pulumi's autonaming appends a random suffix; a stable one keeps assertions readable.
    return f"{name}-{hashlib.sha256(name.encode()).hexdigest()[:7]}"
