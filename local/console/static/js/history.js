// What an execution history says about each state: its status for the graph, its spans for the
// timeline. An event belongs to the state its previousEventId chain leads back to.

const RANK = { "not-reached": 0, succeeded: 1, retried: 2, caught: 3, "in-progress": 4, failed: 5 };

export function eventDetails(event) {
  const key = Object.keys(event).find((name) => name.endsWith("EventDetails"));
  return key ? event[key] : {};
}

function worse(a, b) {
  return (RANK[a] || 0) >= (RANK[b] || 0) ? a : b;
}

const isFailure = (type) => /(Failed|TimedOut)$/.test(type) && !/^(Execution|MapIteration|ParallelState|MapState)/.test(type);
const isSuccess = (type) => /(Task|LambdaFunction|Activity)Succeeded$/.test(type);
const isAttempt = (type) => /(TaskScheduled|LambdaFunctionScheduled|ActivityScheduled)$/.test(type);

const CONTAINER_EVENT = /^(ParallelState|MapState|MapIteration)/;

/**
 * The state each event belongs to, by event id: a state's own Entered/Exited events name it; a
 * Parallel's or Map's events belong to the innermost one open; any other event belongs to the
 * state of the event before it (previousEventId).
 */
export function eventOwners(events) {
  const owners = new Map();
  const containers = [];
  for (const event of events) {
    const details = eventDetails(event);
    let owner;
    if (/State(Entered|Exited)$/.test(event.type)) owner = details.name;
    else if (CONTAINER_EVENT.test(event.type)) owner = containers[containers.length - 1];
    else owner = owners.get(event.previousEventId);
    if (/^(Parallel|Map)StateEntered$/.test(event.type)) containers.push(details.name);
    if (/^(Parallel|Map)StateExited$/.test(event.type)) containers.splice(containers.lastIndexOf(details.name), 1);
    owners.set(event.id, owner || "");
  }
  return owners;
}

/**
 * {statuses: Map name -> status, spans: [{name, type, start, end, status, retries: [Date]}],
 *  failedState, error, cause, start, end} for `events` (oldest first) of an execution whose
 * DescribeExecution status is `executionStatus`.
 */
export function analyseHistory(events, executionStatus) {
  const owners = eventOwners(events);
  const open = new Map();
  const spans = [];
  const statuses = new Map();
  const outcome = { failedState: null, error: null, cause: null };
  for (const event of events) {
    const type = event.type;
    const details = eventDetails(event);
    const when = new Date(event.timestamp * 1000);
    if (type.endsWith("StateEntered")) {
      const span = { name: details.name, type: type.replace("StateEntered", ""), start: when, end: null, status: "in-progress", retries: [], failures: 0, lastFailed: false, attempts: 0 };
      spans.push(span);
      open.set(details.name, [...(open.get(details.name) || []), span]);
      continue;
    }
    const name = owners.get(event.id);
    if (type === "ExecutionRedriven") {
      // What was open when the execution stopped failed then; its re-run is a span of its own.
      for (const stack of open.values()) {
        for (const span of stack) Object.assign(span, { end: when, status: "failed", superseded: true });
      }
      open.clear();
      Object.assign(outcome, { failedState: null, error: null, cause: null });
      continue;
    }
    if (type === "ExecutionFailed" || type === "ExecutionTimedOut" || type === "ExecutionAborted") {
      Object.assign(outcome, { failedState: name || null, error: details.error || type, cause: details.cause || "" });
      continue;
    }
    const stack = name ? open.get(name) || [] : [];
    const span = stack[stack.length - 1];
    if (!span) continue;
    if (isAttempt(type)) {
      if (span.attempts > 0) span.retries.push(when);
      span.attempts += 1;
    } else if (isFailure(type)) {
      span.failures += 1;
      span.lastFailed = true;
    } else if (isSuccess(type)) {
      span.lastFailed = false;
    } else if (type.endsWith("StateExited")) {
      span.end = when;
      span.status = span.failures === 0 ? "succeeded" : span.lastFailed ? "caught" : "retried";
      stack.pop();
    }
  }
  const running = executionStatus === "RUNNING";
  const rerun = new Set(spans.filter((span) => !span.superseded).map((span) => span.name));
  for (const span of spans) {
    if (span.end === null && !running) span.status = "failed";
    if (span.superseded && rerun.has(span.name)) continue;
    statuses.set(span.name, worse(statuses.get(span.name) || "not-reached", span.status));
  }
  if (outcome.failedState && !running) statuses.set(outcome.failedState, "failed");
  const start = events.length ? new Date(events[0].timestamp * 1000) : null;
  const end = !running && events.length ? new Date(events[events.length - 1].timestamp * 1000) : null;
  return { statuses, spans, ...outcome, start, end };
}

/** An SQS record's body as JSON (a queued request carries its trackingId there), else null. */
function parsedBody(text) {
  if (!text.startsWith("{")) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Every distinct trackingId value in a JSON document (the ids the execution carried). */
export function trackingIds(document, found = new Set(), depth = 0) {
  if (depth > 8 || document === null || typeof document !== "object") return found;
  for (const [key, value] of Object.entries(document)) {
    if (key === "trackingId" && typeof value === "string") found.add(value);
    else if (key === "body" && typeof value === "string") trackingIds(parsedBody(value), found, depth + 1);
    else trackingIds(value, found, depth + 1);
  }
  return found;
}
