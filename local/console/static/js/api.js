// The console's only ways out: Step Functions (JSON protocol) and the HTTP API's operator and
// status routes, both through the console server's same-origin proxy.

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function send(url, init) {
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new ApiError(`the console server is unreachable (${error.message})`, 0);
  }
  const text = await response.text();
  let document;
  try {
    document = text ? JSON.parse(text) : {};
  } catch {
    document = { message: text.slice(0, 200) };
  }
  return { status: response.status, ok: response.ok, document };
}

/** One Step Functions call, e.g. sfn("ListExecutions", {stateMachineArn, maxResults: 100}). */
export async function sfn(action, body = {}) {
  const { status, ok, document } = await send("/aws/states", {
    method: "POST",
    headers: {
      "Content-Type": "application/x-amz-json-1.0",
      "X-Amz-Target": `AWSStepFunctions.${action}`,
    },
    body: JSON.stringify(body),
  });
  if (!ok) {
    const type = String(document.__type || "").split("#").pop();
    const message = document.message || document.Message || "";
    throw new ApiError(
      `Step Functions ${action} failed (HTTP ${status})${type ? ` ${type}` : ""}: ${message}`,
      status,
    );
  }
  return document;
}

/** Every page of a paginated Step Functions call, concatenated under `key`. */
export async function sfnAll(action, body, key, limit = 10000) {
  const items = [];
  let nextToken;
  do {
    const page = await sfn(action, { ...body, ...(nextToken ? { nextToken } : {}) });
    items.push(...page[key]);
    nextToken = page.nextToken;
  } while (nextToken && items.length < limit);
  return items;
}

/** One call to the HTTP API, e.g. api("GET", "ops/queues"). */
export async function api(method, path, body) {
  const init = { method, headers: { "Content-Type": "application/json" } };
  if (body !== undefined) init.body = JSON.stringify(body);
  const { status, ok, document } = await send(`/api/${path}`, init);
  if (!ok) {
    const what = path.startsWith("ops/") ? "operations API unavailable" : `${method} /${path} failed`;
    const detail = document && document.message ? `: ${document.message}` : "";
    throw new ApiError(`${what} (HTTP ${status})${detail}`, status);
  }
  return document;
}

export async function examples() {
  const { ok, status, document } = await send("/console/examples", { method: "GET" });
  if (!ok) throw new ApiError(`the examples could not be loaded (HTTP ${status})`, status);
  return document.examples;
}
