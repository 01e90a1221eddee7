// Executions: list with status filter, name search, time range and pages; the start form.
import { examples, sfn } from "../api.js";
import { h, clear, errorMessage, executionHref, formatDate, formatDuration, statusBadge, toDate, workflowName } from "../dom.js";

const PAGE_SIZE = 100;
const STATUSES = ["", "RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"];
const MAX_INPUT_BYTES = 262144;
export const REDRIVABLE = new Set(["FAILED", "TIMED_OUT", "ABORTED"]);

export async function executionsPage(root, params) {
  clear(root, h("h1", {}, "Executions"));
  const { stateMachines } = await sfn("ListStateMachines", { maxResults: 1000 });
  if (!stateMachines.length) {
    root.append(h("p", { class: "muted" }, "No state machines."));
    return;
  }
  const state = {
    machine: params.get("machine") || stateMachines[0].stateMachineArn,
    status: params.get("status") || "",
    tokens: [undefined],
    page: 0,
    executions: [],
  };
  const machineSelect = h("select", { id: "machine", onchange: () => reload({ machine: machineSelect.value }) },
    stateMachines.map((m) => h("option", { value: m.stateMachineArn, selected: m.stateMachineArn === state.machine }, m.name)));
  const statusSelect = h("select", { id: "status-filter", onchange: () => reload({ status: statusSelect.value }) },
    STATUSES.map((s) => h("option", { value: s, selected: s === state.status }, s || "Any status")));
  const search = h("input", { id: "name-search", type: "search", placeholder: "Name contains…", oninput: () => renderRows() });
  const from = h("input", { id: "from", type: "datetime-local", step: 1, oninput: () => renderRows() });
  const to = h("input", { id: "to", type: "datetime-local", step: 1, oninput: () => renderRows() });
  const previous = h("button", { type: "button", onclick: () => turn(-1) }, "← Previous");
  const next = h("button", { type: "button", onclick: () => turn(1) }, "Next →");
  const pageLabel = h("span", { class: "muted" });
  const status = h("div", { class: "list-status", "aria-live": "polite" });
  const body = h("tbody");

  root.append(h("div", { class: "executions-layout" },
    h("section", { class: "card", "aria-label": "execution list" },
      h("h2", {}, "Execution list"),
      h("div", { class: "filters" },
        h("label", {}, "State machine ", machineSelect),
        h("label", {}, "Status ", statusSelect),
        h("label", {}, "Name ", search),
        h("label", {}, "Started from ", from),
        h("label", {}, "to ", to)),
      status,
      h("div", { class: "table-scroll" },
        h("table", { id: "executions" },
          h("thead", {}, h("tr", {}, ["Name", "Status", "Started", "Ended", "Duration", "Actions"].map((c) => h("th", { scope: "col" }, c)))),
          body)),
      h("div", { class: "pager" }, previous, pageLabel, next)),
    startForm(() => state.machine, stateMachines)));

  function reload(change) {
    Object.assign(state, change, { tokens: [undefined], page: 0 });
    const query = new URLSearchParams({ machine: state.machine, ...(state.status ? { status: state.status } : {}) });
    history.replaceState(null, "", `#/executions?${query}`);
    return load();
  }

  function turn(step) {
    state.page += step;
    return load();
  }

  async function load() {
    clear(status, "Loading…");
    try {
      const request = { stateMachineArn: state.machine, maxResults: PAGE_SIZE };
      if (state.status) request.statusFilter = state.status;
      if (state.tokens[state.page]) request.nextToken = state.tokens[state.page];
      const page = await sfn("ListExecutions", request);
      state.tokens[state.page + 1] = page.nextToken;
      state.executions = page.executions;
      clear(status);
    } catch (error) {
      state.executions = [];
      clear(status, errorMessage(error));
    }
    previous.disabled = state.page === 0;
    next.disabled = !state.tokens[state.page + 1];
    pageLabel.textContent = ` page ${state.page + 1} `;
    renderRows();
  }

  function renderRows() {
    const needle = search.value.trim().toLowerCase();
    const after = from.value ? new Date(from.value) : null;
    const before = to.value ? new Date(to.value) : null;
    const shown = state.executions.filter((execution) => {
      const started = toDate(execution.startDate);
      return (!needle || execution.name.toLowerCase().includes(needle)) &&
        (!after || started >= after) && (!before || started <= before);
    });
    clear(body, shown.map((execution) => executionRow(execution, load)));
    if (!shown.length) body.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No executions match.")));
  }

  await load();
}

function executionRow(execution, reload) {
  const started = toDate(execution.startDate);
  const stopped = toDate(execution.stopDate);
  return h("tr", { "data-execution": execution.name },
    h("td", {}, h("a", { href: executionHref(execution.executionArn) }, execution.name)),
    h("td", {}, statusBadge(execution.status)),
    h("td", {}, formatDate(execution.startDate)),
    h("td", {}, formatDate(execution.stopDate)),
    h("td", {}, stopped ? formatDuration(stopped - started) : ""),
    h("td", {}, executionActions(execution, reload)));
}

/** Stop while running, redrive once failed, timed out or aborted: what AWS allows. */
export function executionActions(execution, after) {
  const message = h("span", { class: "action-message", "aria-live": "polite" });
  const act = (action, label) => h("button", {
    type: "button",
    class: `action-${action.toLowerCase()}`,
    "aria-label": `${label} ${execution.name}`,
    onclick: async (event) => {
      event.target.disabled = true;
      try {
        await sfn(action, { executionArn: execution.executionArn });
        clear(message, `${label} requested`);
        await after();
      } catch (error) {
        clear(message, errorMessage(error));
        event.target.disabled = false;
      }
    },
  }, label);
  return h("span", { class: "actions" },
    execution.status === "RUNNING" ? act("StopExecution", "Stop") : null,
    REDRIVABLE.has(execution.status) ? act("RedriveExecution", "Redrive") : null,
    message);
}

function startForm(currentMachine, stateMachines) {
  const editor = h("textarea", { id: "input-editor", rows: 14, spellcheck: "false", "aria-describedby": "input-check", oninput: () => validate() }, "{}");
  const check = h("p", { id: "input-check", "aria-live": "polite" });
  const name = h("input", { id: "execution-name", type: "text", maxlength: 80, placeholder: "optional: a name of your own" });
  const exampleSelect = h("select", { id: "example", onchange: () => useExample() }, h("option", { value: "" }, "Examples…"));
  const start = h("button", { type: "submit", id: "start-execution" }, "Start execution");
  const result = h("div", { "aria-live": "polite" });
  let loaded = {};

  function validate() {
    try {
      const compact = JSON.stringify(JSON.parse(editor.value));
      const size = new TextEncoder().encode(compact).length;
      if (size > MAX_INPUT_BYTES) throw new Error(`${size} bytes; Step Functions accepts at most ${MAX_INPUT_BYTES}`);
      clear(check, `Valid JSON (${size} bytes)`);
      check.className = "valid";
      editor.setAttribute("aria-invalid", "false");
      start.disabled = false;
      return compact;
    } catch (error) {
      clear(check, `Invalid input: ${error.message}`);
      check.className = "invalid";
      editor.setAttribute("aria-invalid", "true");
      start.disabled = true;
      return null;
    }
  }

  function useExample() {
    if (exampleSelect.value in loaded) editor.value = JSON.stringify(loaded[exampleSelect.value], null, 2);
    validate();
  }

  examples().then((found) => {
    loaded = found;
    for (const file of Object.keys(found)) exampleSelect.append(h("option", { value: file }, file));
    const machine = workflowName(currentMachine());
    const preferred = machine.endsWith("ingest") && found["envelope.json"] ? "envelope.json" : "";
    if (preferred) {
      exampleSelect.value = preferred;
      useExample();
    }
  }, (error) => result.append(errorMessage(error)));

  async function submit(event) {
    event.preventDefault();
    const input = validate();
    if (input === null) return;
    const request = { stateMachineArn: currentMachine(), input };
    if (name.value.trim()) request.name = name.value.trim();
    start.disabled = true;
    try {
      const started = await sfn("StartExecution", request);
      location.hash = executionHref(started.executionArn);
    } catch (error) {
      clear(result, errorMessage(error));
      start.disabled = false;
    }
  }

  validate();
  return h("details", { class: "card start", open: stateMachines.length > 0 },
    h("summary", {}, h("h2", {}, "Start an execution")),
    h("form", { onsubmit: submit },
      h("p", { class: "muted" }, "Starts the state machine selected in the list."),
      h("label", {}, "Example input ", exampleSelect),
      h("label", { class: "block", for: "input-editor" }, "Input (JSON)"),
      editor, check,
      h("label", {}, "Name ", name),
      start, result));
}
