// Draws a buildGraph() model as SVG, laid out by dagre, each state coloured by its status.
import { Graph, layout } from "../vendor/dagre.esm.js";

const SVG = "http://www.w3.org/2000/svg";
const CHAR_WIDTH = 7.2;

function svg(tag, attributes = {}, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

function nodeSize(node) {
  if (node.kind === "terminal") return { width: 64, height: 28 };
  if (node.kind === "join") return { width: 24, height: 12 };
  return { width: Math.min(280, Math.max(110, node.name.length * CHAR_WIDTH + 28)), height: 38 };
}

function laidOut(model) {
  const graph = new Graph({ compound: true, multigraph: true });
  graph.setGraph({ rankdir: "TB", nodesep: 28, ranksep: 34, edgesep: 14, marginx: 12, marginy: 12 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const cluster of model.clusters) graph.setNode(cluster.id, { label: cluster.label });
  for (const cluster of model.clusters) if (cluster.parent) graph.setParent(cluster.id, cluster.parent);
  for (const node of model.nodes) {
    graph.setNode(node.id, nodeSize(node));
    if (node.parent) graph.setParent(node.id, node.parent);
  }
  model.edges.forEach((edge, index) => {
    const label = edge.label || "";
    graph.setEdge(
      edge.from,
      edge.to,
      { width: label.length * 6.2, height: label ? 14 : 0, labelpos: "c" },
      `e${index}`,
    );
  });
  layout(graph);
  return graph;
}

/**
 * An <svg> of the definition. `statuses` maps a state name to succeeded, failed, caught,
 * retried, in-progress (absent: not reached); null draws the plain definition.
 */
export function drawGraph(model, statuses = null) {
  const graph = laidOut(model);
  const { width, height } = graph.graph();
  const root = svg("svg", {
    viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`,
    width: Math.ceil(width),
    class: "workflow-graph",
    role: "img",
    "aria-label": "workflow graph",
  });
  const defs = svg("defs");
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
  marker.append(svg("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrow-head" }));
  defs.append(marker);
  root.append(defs);

  const clusterDepth = (cluster) => (cluster.parent ? 1 + clusterDepth(model.clusters.find((c) => c.id === cluster.parent)) : 0);
  for (const cluster of [...model.clusters].sort((a, b) => clusterDepth(a) - clusterDepth(b))) {
    const box = graph.node(cluster.id);
    const group = svg("g", { class: `cluster cluster-${cluster.kind.toLowerCase()}` });
    group.append(svg("rect", { x: box.x - box.width / 2, y: box.y - box.height / 2, width: box.width, height: box.height, rx: 6 }));
    group.append(svg("text", { x: box.x - box.width / 2 + 8, y: box.y - box.height / 2 + 13, class: "cluster-label" }, cluster.label));
    root.append(group);
  }
  model.edges.forEach((edge, index) => {
    const laid = graph.edge({ v: edge.from, w: edge.to, name: `e${index}` });
    if (!laid || !laid.points) return;
    const points = laid.points.map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
    root.append(svg("polyline", { points, class: `edge edge-${edge.kind}`, "marker-end": "url(#arrow)" }));
    if (edge.label) {
      root.append(svg("text", { x: laid.x, y: laid.y + 4, class: `edge-label edge-label-${edge.kind}`, "text-anchor": "middle" }, edge.label));
    }
  });
  for (const node of model.nodes) {
    const box = graph.node(node.id);
    const status = node.kind === "terminal" ? "terminal" : (statuses ? statuses.get(node.name) || "not-reached" : "plain");
    const group = svg("g", {
      class: `node node-${node.kind.toLowerCase()} status-${status}`,
      "data-state": node.kind === "join" || node.kind === "terminal" ? "" : node.name,
      "data-status": status,
    });
    if (node.kind !== "join" && node.kind !== "terminal") group.setAttribute("tabindex", "0");
    const rx = node.kind === "terminal" ? 14 : node.kind === "Choice" ? 18 : 5;
    group.append(svg("rect", { x: box.x - box.width / 2, y: box.y - box.height / 2, width: box.width, height: box.height, rx }));
    if (node.kind !== "join") {
      group.append(svg("text", { x: box.x, y: box.y + 4, "text-anchor": "middle" }, node.name));
      group.append(svg("title", {}, `${node.name} (${node.kind}) ${statuses ? status.replace("-", " ") : ""}`.trim()));
    }
    root.append(group);
  }
  return root;
}

export const STATUS_LEGEND = ["succeeded", "failed", "caught", "retried", "in-progress", "not-reached"];
