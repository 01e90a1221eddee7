// The console's router: #/workflows, #/executions[?machine=&status=], #/executions/<arn>,
// #/pipeline. A page may return a function that stops what it keeps running (live updates).
import { clear, errorMessage, h } from "./dom.js";
import { executionPage } from "./pages/execution.js";
import { executionsPage } from "./pages/executions.js";
import { pipelinePage } from "./pages/pipeline.js";
import { workflowsPage } from "./pages/workflows.js";

const view = document.getElementById("view");
let leave = null;
let visit = 0;

async function route() {
  if (leave) leave();
  leave = null;
  const current = ++visit;
  const [path, query] = (location.hash.slice(1) || "/workflows").split("?");
  const parts = path.split("/").filter(Boolean);
  const page = parts[0] || "workflows";
  for (const link of document.querySelectorAll("nav a")) {
    link.toggleAttribute("aria-current", link.dataset.page === page);
  }
  clear(document.getElementById("messages"));
  clear(view, h("p", { class: "muted" }, "Loading…"));
  try {
    let cleanup;
    if (page === "executions" && parts[1]) cleanup = await executionPage(view, decodeURIComponent(parts.slice(1).join("/")));
    else if (page === "executions") cleanup = await executionsPage(view, new URLSearchParams(query || ""));
    else if (page === "pipeline") cleanup = await pipelinePage(view);
    else cleanup = await workflowsPage(view);
    if (current !== visit && cleanup) cleanup();
    else leave = cleanup || null;
  } catch (error) {
    if (current === visit) clear(view, errorMessage(error));
  }
  if (current === visit) document.title = `stepflow console · ${page}`;
}

window.addEventListener("hashchange", route);
route();
