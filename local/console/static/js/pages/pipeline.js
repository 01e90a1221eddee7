// Pipeline: queues and their DLQs (with redrive), the breaker, parked executions ("redrive
// all"), and executions started per minute. Each panel shows its own errors.
import { api, sfn } from "../api.js";
import { h, clear, errorMessage, executionHref, formatDate, workflowName } from "../dom.js";

const CHART_MINUTES = 30;

export async function pipelinePage(root) {
  const panel = (id, title) => h("section", { class: "card", id, "aria-label": title }, h("h2", {}, title), h("div", { class: "panel-body" }, "Loading…"));
  const queues = panel("queues", "Queues");
  const breaker = panel("breaker", "Circuit breaker");
  const parked = panel("parked", "Parked executions");
  const chart = panel("rate", `Executions started per minute (last ${CHART_MINUTES} min)`);
  clear(root, h("h1", {}, "Pipeline"), queues, breaker, parked, chart);
  const body = (section) => section.querySelector(".panel-body");
  await Promise.all([
    guarded(body(queues), renderQueues),
    guarded(body(breaker), renderBreaker),
    guarded(body(parked), renderParked),
    guarded(body(chart), renderRate),
  ]);
}

async function guarded(container, render) {
  try {
    await render(container);
  } catch (error) {
    clear(container, errorMessage(error));
  }
}

const depth = (queue) => (queue ? `${queue.visible} / ${queue.inFlight} / ${queue.delayed}` : "—");
const age = (queue) => (queue && queue.oldestMessageAgeSeconds != null ? `${queue.oldestMessageAgeSeconds} s` : "—");

async function renderQueues(container) {
  const { queues } = await api("GET", "ops/queues");
  const message = h("div", { "aria-live": "polite" });
  clear(container,
    h("div", { class: "table-scroll" }, h("table", {},
      h("thead", {}, h("tr", {}, ["Queue", "Visible / in flight / delayed", "Oldest", "DLQ depth", "DLQ oldest", ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, queues.map((queue) => h("tr", { "data-queue": queue.name },
        h("td", {}, queue.name), h("td", {}, depth(queue)), h("td", {}, age(queue)),
        h("td", {}, depth(queue.deadLetter)), h("td", {}, age(queue.deadLetter)),
        h("td", {}, queue.deadLetter ? h("button", {
          type: "button", class: "redrive-dlq", "aria-label": `redrive the dead letters of ${queue.name}`,
          onclick: () => redriveQueue(queue.name, message, container),
        }, "Redrive DLQ") : null)))))),
    message);
}

async function redriveQueue(name, message, container) {
  try {
    const task = await api("POST", `ops/queues/${encodeURIComponent(name)}/redrive`);
    const { tasks } = await api("GET", `ops/queues/${encodeURIComponent(name)}/redrive`);
    clear(message, h("p", {}, `Redrive of ${name} started (${task.taskHandle}); ${tasks.length} redrive task(s) known.`));
    await guarded(container, renderQueues);
    container.append(message);
  } catch (error) {
    clear(message, errorMessage(error));
  }
}

async function renderBreaker(container) {
  const state = await api("GET", "ops/breaker");
  clear(container,
    h("p", {}, h("span", { class: `badge breaker-${String(state.state).toLowerCase()}` }, state.state),
      ` ${state.failureCount} consecutive failure(s)`,
      state.lastFailureAt ? ` · last ${state.lastFailureAt}` : "",
      state.nextProbeAt ? ` · next probe ${state.nextProbeAt}` : ""),
    (state.history || []).length
      ? h("ol", { class: "breaker-history" }, state.history.slice(-20).map((entry) => h("li", {}, typeof entry === "string" ? entry : JSON.stringify(entry))))
      : h("p", { class: "muted" }, "No transitions recorded."));
}

async function renderParked(container) {
  const { executions } = await api("GET", "ops/executions?status=PARKED");
  const message = h("div", { "aria-live": "polite" });
  const redriveAll = h("button", {
    type: "button", id: "redrive-parked", disabled: !executions.length,
    onclick: async () => {
      redriveAll.disabled = true;
      try {
        const outcome = await api("POST", "ops/executions/redrive", { executionArns: executions.map((e) => e.executionArn) });
        clear(message, h("p", {}, `Redriven ${outcome.redriven.length}, skipped ${outcome.skipped.length}, failed ${outcome.failed.length}.`));
      } catch (error) {
        clear(message, errorMessage(error));
        redriveAll.disabled = false;
      }
    },
  }, "Redrive all");
  clear(container,
    executions.length
      ? h("ul", {}, executions.map((e) => h("li", {},
        h("a", { href: executionHref(e.executionArn) }, workflowName(e.executionArn)), ` ${e.workflow} · ${e.reason || ""} · ${formatDate(e.stopDate)}`)))
      : h("p", { class: "muted" }, "Nothing parked."),
    redriveAll, message);
}

async function renderRate(container) {
  const { stateMachines } = await sfn("ListStateMachines", { maxResults: 1000 });
  const now = Date.now();
  const buckets = new Array(CHART_MINUTES).fill(0);
  await Promise.all(stateMachines.map(async (machine) => {
    const { executions } = await sfn("ListExecutions", { stateMachineArn: machine.stateMachineArn, maxResults: 1000 });
    for (const execution of executions) {
      const minutesAgo = Math.floor((now - execution.startDate * 1000) / 60000);
      if (minutesAgo >= 0 && minutesAgo < CHART_MINUTES) buckets[CHART_MINUTES - 1 - minutesAgo] += 1;
    }
  }));
  const highest = Math.max(1, ...buckets);
  const width = 12;
  const height = 80;
  const chart = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  chart.setAttribute("viewBox", `0 0 ${CHART_MINUTES * width} ${height}`);
  chart.setAttribute("class", "rate-chart");
  chart.setAttribute("role", "img");
  chart.setAttribute("aria-label", `executions per minute, highest ${highest}`);
  buckets.forEach((count, index) => {
    const bar = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    const barHeight = (count / highest) * (height - 4);
    bar.setAttribute("x", index * width + 1);
    bar.setAttribute("y", height - barHeight);
    bar.setAttribute("width", width - 2);
    bar.setAttribute("height", barHeight);
    const title = document.createElementNS("http://www.w3.org/2000/svg", "title");
    title.textContent = `${CHART_MINUTES - 1 - index} min ago: ${count}`;
    bar.append(title);
    chart.append(bar);
  });
  clear(container, chart, h("p", { class: "muted" }, `highest ${highest} a minute; total ${buckets.reduce((a, b) => a + b, 0)}`));
}
