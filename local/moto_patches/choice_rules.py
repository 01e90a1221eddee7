"""Patch 19: a ``Choice`` state's own ``Assign`` and ``Output`` apply only when no rule matched.

moto decided that the ``Default`` had been taken by comparing the next state's name with the
``Default``'s, so a matching rule that names the same state as the ``Default`` had its
``Assign`` overwritten by the state's own. A rule's ``Assign`` and ``Output`` apply when it
matches; the state's apply when the ``Default`` is taken.
(https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html)
"""

from __future__ import annotations

from typing import Any

from local.moto_patches.patch_context import moto_module


def patch_choice_rules() -> None:
    StateChoice = moto_module(
        "moto.stepfunctions.parser.asl.component.state.choice.state_choice"
    ).StateChoice

    def eval_state(self: Any, env: Any) -> None:
        for rule in self.choices_decl.rules:
            rule.eval(env)
            if env.stack.pop() is True:
                if not rule.next_stmt:
                    raise RuntimeError(f"Choice rule {rule} of {self.name!r} has no Next")
                env.stack.append((rule.next_stmt.name, False))
                return
        if self.default_state is None:
            raise RuntimeError(f"No Choice rule of {self.name!r} matched, and it has no Default")
        env.stack.append((self.default_state.state_name, True))

    def eval_state_output(self: Any, env: Any) -> None:
        next_state_name, took_default = env.stack.pop()
        if took_default:
            if self.assign_decl:
                self.assign_decl.eval(env=env)
            if self.output:
                self.output.eval(env=env)
        if self._is_language_query_jsonpath():
            if self.output_path:
                self.output_path.eval(env=env)
            else:
                env.states.reset(input_value=env.stack.pop())
        env.next_state_name = next_state_name

    StateChoice._eval_state = eval_state
    StateChoice._eval_state_output = eval_state_output
