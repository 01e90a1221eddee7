// Workflows: every state machine with its graph, type, status counts and recent executions.
import { sfn } from "../api.js";
import { buildGraph } from "../asl.js";
import { h, clear, errorMessage, executionHref, formatDate, statusBadge } from "../dom.js";
import { drawGraph } from "../graph.js";

const STATUSES = ["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"];
const COUNTED = 1000;

export async function workflowsPage(root) {
  clear(root, h("h1", {}, "Workflows"));
  const { stateMachines } = await sfn("ListStateMachines", { maxResults: 1000 });
  if (!stateMachines.length) root.append(h("p", { class: "muted" }, "No state machines."));
  await Promise.all(stateMachines.map((machine) => {
    const card = h("section", { class: "card workflow", "aria-label": machine.name }, h("h2", {}, machine.name));
    root.append(card);
    return fillCard(card, machine);
  }));
}

async function fillCard(card, machine) {
  const arn = machine.stateMachineArn;
  // The definition first: the graph shows while the executions (the slow call) are counted.
  const counts = h("div", { class: "counts-box" }, h("p", { class: "muted" }, "Counting executions…"));
  const recent = h("div", { class: "recent" }, h("h3", {}, "Recent executions"));
  try {
    const described = await sfn("DescribeStateMachine", { stateMachineArn: arn });
    card.append(
      h("p", { class: "meta" }, `Type ${described.type} · created ${formatDate(described.creationDate)}`),
      counts,
      h("div", { class: "workflow-body" },
        h("div", { class: "graph-scroll" }, drawGraph(buildGraph(JSON.parse(described.definition)))),
        recent),
    );
  } catch (error) {
    card.append(errorMessage(error));
    return;
  }
  try {
    const listed = await sfn("ListExecutions", { stateMachineArn: arn, maxResults: COUNTED });
    const executions = listed.executions;
    const tally = Object.fromEntries(STATUSES.map((status) => [status, 0]));
    for (const execution of executions) tally[execution.status] = (tally[execution.status] || 0) + 1;
    const more = listed.nextToken ? ` (the latest ${COUNTED})` : "";
    clear(counts, h("ul", { class: "counts", "aria-label": `status counts${more}` },
      STATUSES.map((status) => h("li", {},
        h("a", { href: `#/executions?machine=${encodeURIComponent(arn)}&status=${status}` }, statusBadge(status), ` ${tally[status]}`)))));
    recent.append(
      executions.length
        ? h("ol", {}, executions.slice(0, 5).map((execution) => h("li", {},
          h("a", { href: executionHref(execution.executionArn) }, execution.name), " ", statusBadge(execution.status),
          h("span", { class: "muted" }, ` ${formatDate(execution.startDate)}`))))
        : h("p", { class: "muted" }, "None yet."),
      h("a", { href: `#/executions?machine=${encodeURIComponent(arn)}` }, "All executions →"));
  } catch (error) {
    clear(counts, errorMessage(error));
  }
}
