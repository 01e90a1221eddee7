"""The ``Table`` component: one DynamoDB table from a :class:`~stack.spec.TableSpec`."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from stack.spec import IndexSpec, TableSpec

TYPE: str = "stepflow:dynamodb:Table"


@dataclass(frozen=True)
class TableArgs:
    spec: TableSpec
    physical_name: str
    deletion_protection: bool = True


class Table(pulumi.ComponentResource):
    """A DynamoDB table billed on demand, with string keys and encryption at rest.

    Server-side encryption uses the AWS managed KMS key (``aws/dynamodb``), so CloudTrail records
    each use of the key; point-in-time recovery, the TTL attribute and the global secondary indexes
    come from the spec. Every index projects all attributes, because the functions read whole items.

    Example::

        table = Table("dedupe", TableArgs(app.table("dedupe"), app.physical_name("dedupe")))
        table.arn, table.name
    """

    arn: pulumi.Output[str]
    name: pulumi.Output[str]

    def __init__(
        self, resource_name: str, args: TableArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, resource_name, None, opts)
        spec = args.spec
        key_names = [spec.partition_key, spec.sort_key]
        for index in spec.indexes:
            key_names += [index.partition_key, index.sort_key]
        # DynamoDB rejects an attribute defined twice and one that no key uses.
        attributes = list(dict.fromkeys(name for name in key_names if name is not None))

        table = aws.dynamodb.Table(
            resource_name,
            aws.dynamodb.TableArgs(
                name=args.physical_name,
                billing_mode="PAY_PER_REQUEST",
                hash_key=spec.partition_key,
                range_key=spec.sort_key,
                attributes=[
                    aws.dynamodb.TableAttributeArgs(name=name, type="S") for name in attributes
                ],
                global_secondary_indexes=[_index(index) for index in spec.indexes] or None,
                server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
                point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(
                    enabled=spec.point_in_time_recovery
                ),
                ttl=(
                    aws.dynamodb.TableTtlArgs(attribute_name=spec.ttl_attribute, enabled=True)
                    if spec.ttl_attribute
                    else None
                ),
                deletion_protection_enabled=args.deletion_protection,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn = table.arn
        self.name = table.name
        self.register_outputs({"arn": self.arn, "name": self.name})


def _index(index: IndexSpec) -> aws.dynamodb.TableGlobalSecondaryIndexArgs:
    keys = [(index.partition_key, "HASH"), (index.sort_key, "RANGE")]
    return aws.dynamodb.TableGlobalSecondaryIndexArgs(
        name=index.name,
        projection_type="ALL",
        key_schemas=[
            aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(attribute_name=name, key_type=kind)
            for name, kind in keys
            if name is not None
        ],
    )
