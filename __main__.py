"""The Pulumi program: read the stack config, describe the stack, deploy the description."""

import pulumi

from infra.config import read_config
from infra.stack import deploy
from stack.app import build_app

config = read_config()
deployment = deploy(build_app(config.stack), config.infra)
for key, value in deployment.outputs.items():
    pulumi.export(key, value)
