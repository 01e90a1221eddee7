// One execution: its graph coloured by what happened, live while it runs; the event history;
// a timeline of state durations; the tracking ids it carried and their statuses.
import { api, sfn, sfnAll } from "../api.js";
import { buildGraph } from "../asl.js";
import { h, clear, errorMessage, formatDate, formatDuration, prettyJson, statusBadge, workflowName } from "../dom.js";
import { STATUS_LEGEND, drawGraph } from "../graph.js";
import { analyseHistory, eventDetails, eventOwners, trackingIds } from "../history.js";
import { executionActions } from "./executions.js";

const REFRESH_MS = 1000;

export async function executionPage(root, executionArn) {
  let timer = null;
  let stopped = false;
  const view = { typeFilter: "", expanded: new Set(), trackingShown: "" };
  clear(root, h("p", { class: "muted" }, "Loading…"));
  const described = await sfn("DescribeExecution", { executionArn });
  const machine = await sfn("DescribeStateMachine", { stateMachineArn: described.stateMachineArn });
  const model = buildGraph(JSON.parse(machine.definition));

  const header = h("div", { class: "execution-header" });
  const failure = h("div", { id: "execution-error" });
  const graphBox = h("div", { class: "graph-scroll", id: "execution-graph" });
  const timeline = h("div", { class: "timeline", id: "timeline" });
  const tracking = h("div", { id: "tracking" });
  const io = h("div", { class: "io" });
  const typeSelect = h("select", { id: "event-type-filter", onchange: () => { view.typeFilter = typeSelect.value; renderEvents(); } },
    h("option", { value: "" }, "All event types"));
  const eventsBody = h("tbody");
  let latest = { described, events: [] };

  clear(root,
    h("p", {}, h("a", { href: `#/executions?machine=${encodeURIComponent(described.stateMachineArn)}` }, `← ${workflowName(described.stateMachineArn)} executions`)),
    header, failure,
    h("section", { class: "card", "aria-label": "graph" }, h("h2", {}, "Graph"), legend(), graphBox),
    h("section", { class: "card", "aria-label": "input and output" }, h("h2", {}, "Input and output"), io),
    h("section", { class: "card", "aria-label": "tracking ids" }, h("h2", {}, "Tracking ids"), tracking),
    h("section", { class: "card", "aria-label": "timeline" }, h("h2", {}, "Timeline"), timeline),
    h("section", { class: "card", "aria-label": "event history" },
      h("h2", {}, "Event history"),
      h("label", {}, "Type ", typeSelect),
      h("div", { class: "table-scroll" },
        h("table", { id: "events" },
          h("thead", {}, h("tr", {}, ["", "ID", "Type", "Step", "Resource", "Started after", "Date and time"].map((c) => h("th", { scope: "col" }, c)))),
          eventsBody))),
  );

  async function refresh() {
    try {
      // The status first: a history read after it holds at least everything up to that status.
      const current = await sfn("DescribeExecution", { executionArn });
      const events = await sfnAll("GetExecutionHistory", { executionArn, maxResults: 1000 }, "events");
      latest = { described: current, events };
      render();
      if (current.status === "RUNNING" && !stopped) timer = setTimeout(refresh, REFRESH_MS);
    } catch (error) {
      clear(failure, errorMessage(error));
      if (!stopped) timer = setTimeout(refresh, REFRESH_MS * 3);
    }
  }

  function render() {
    const { described: current, events } = latest;
    const analysis = analyseHistory(events, current.status);
    const started = new Date(current.startDate * 1000);
    const ended = current.stopDate ? new Date(current.stopDate * 1000) : null;
    clear(header,
      h("h1", {}, current.name, " ", statusBadge(current.status)),
      h("p", { class: "meta" },
        `${workflowName(current.stateMachineArn)} · started ${formatDate(current.startDate)}`,
        ended ? ` · ended ${formatDate(current.stopDate)} · ${formatDuration(ended - started)}` : " · running",
        current.redriveCount ? ` · redriven ${current.redriveCount} time(s)` : ""),
      executionActions(current, refresh));
    clear(failure);
    if (current.error || current.cause) {
      failure.append(h("section", { class: "card failure", "aria-label": "error" },
        h("h2", {}, `Error: ${current.error || ""}`),
        h("pre", { class: "cause" }, prettyJson(current.cause || ""))));
    }
    clear(graphBox, drawGraph(model, analysis.statuses));
    clear(io,
      h("div", {}, h("h3", {}, "Input"), h("pre", { id: "execution-input" }, prettyJson(current.input || ""))),
      h("div", {}, h("h3", {}, "Output"), h("pre", { id: "execution-output" }, current.output ? prettyJson(current.output) : "—")));
    renderTimeline(timeline, analysis, started, ended);
    renderTracking(current);
    const types = [...new Set(events.map((event) => event.type))].sort();
    if (typeSelect.options.length - 1 !== types.length) {
      clear(typeSelect, h("option", { value: "" }, "All event types"),
        types.map((type) => h("option", { value: type, selected: type === view.typeFilter }, type)));
    }
    renderEvents();
  }

  function renderEvents() {
    const { events } = latest;
    const start = events.length ? events[0].timestamp : 0;
    const owners = eventOwners(events);
    const rows = [];
    for (const event of events) {
      if (view.typeFilter && event.type !== view.typeFilter) continue;
      rows.push(...eventRows(event, eventDetails(event), owners.get(event.id), start, view.expanded, renderEvents));
    }
    clear(eventsBody, rows);
  }

  async function renderTracking(current) {
    let ids = new Set();
    try {
      ids = trackingIds(JSON.parse(current.input || "null"));
    } catch {
      // An input that is not JSON carries no tracking ids.
    }
    const key = [...ids].join(",") + current.status;
    if (key === view.trackingShown) return;
    view.trackingShown = key;
    if (!ids.size) {
      clear(tracking, h("p", { class: "muted" }, "This execution's input carries no trackingId."));
      return;
    }
    const items = await Promise.all([...ids].map(async (id) => {
      try {
        const record = await api("GET", `events/${encodeURIComponent(id)}`);
        return h("li", {}, h("code", {}, id), " ", statusBadge(record.status || "UNKNOWN"),
          record.counts ? h("span", { class: "muted" }, ` ${Object.entries(record.counts).map(([k, v]) => `${k} ${v}`).join(", ")}`) : null);
      } catch (error) {
        return h("li", {}, h("code", {}, id), " ", errorMessage(error));
      }
    }));
    clear(tracking, h("ul", {}, items));
  }

  await refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function legend() {
  return h("ul", { class: "legend", "aria-label": "legend" },
    STATUS_LEGEND.map((status) => h("li", { class: `status-${status}` }, h("span", { class: "swatch" }), status.replace("-", " "))));
}

function eventRows(event, details, step, start, expanded, rerender) {
  const open = expanded.has(event.id);
  const toggle = h("button", {
    type: "button", class: "expand", "aria-expanded": String(open), "aria-label": `details of event ${event.id}`,
    onclick: () => { if (open) expanded.delete(event.id); else expanded.add(event.id); rerender(); },
  }, open ? "▾" : "▸");
  const resource = details.resource ? `${details.resourceType || ""}:${details.resource}` : "";
  const row = h("tr", { class: /Failed|TimedOut|Aborted/.test(event.type) ? "event-failed" : "", "data-type": event.type },
    h("td", {}, toggle), h("td", {}, event.id), h("td", {}, event.type), h("td", {}, step), h("td", {}, resource),
    h("td", {}, formatDuration((event.timestamp - start) * 1000)), h("td", {}, formatDate(event.timestamp)));
  if (!open) return [row];
  const shown = Object.fromEntries(Object.entries(details).map(([key, value]) => {
    if (typeof value !== "string") return [key, value];
    try {
      return [key, JSON.parse(value)];
    } catch {
      return [key, value];
    }
  }));
  return [row, h("tr", { class: "event-details" }, h("td", { colspan: 7 }, h("pre", {}, JSON.stringify(shown, null, 2))))];
}

function renderTimeline(container, analysis, started, ended) {
  const until = ended || new Date();
  const total = Math.max(1, until - started);
  const scale = (date) => `${(((date - started) / total) * 100).toFixed(2)}%`;
  clear(container,
    h("p", { class: "muted" }, `0 – ${formatDuration(total)}; ticks mark retries`),
    analysis.spans.map((span) => {
      const end = span.end || until;
      const bar = h("div", {
        class: `bar status-${span.status} type-${span.type.toLowerCase()}`,
        style: `left:${scale(span.start)};width:max(2px, ${scale(new Date(started.getTime() + (end - span.start)))})`,
        title: `${span.name}: ${formatDuration(end - span.start)} (${span.status})`,
      }, span.retries.map((when) => h("span", { class: "retry-tick", style: `left:${(((when - span.start) / Math.max(1, end - span.start)) * 100).toFixed(2)}%` })));
      return h("div", { class: "timeline-row" },
        h("span", { class: "timeline-label" }, span.name),
        h("span", { class: "timeline-track" }, bar),
        h("span", { class: "timeline-duration" }, formatDuration(end - span.start)));
    }));
}
