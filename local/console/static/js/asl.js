// An ASL definition as a graph the AWS console would draw: one node per state, Choice rules and
// Catch handlers as labelled edges, Map and Parallel as containers (a Parallel's branches as
// containers inside it). A container is entered at its header node and left from its join node.

const START = "__start";
const END = "__end";

export function describeRule(rule) {
  if (rule.And) return rule.And.map(describeRule).join(" and ");
  if (rule.Or) return rule.Or.map(describeRule).join(" or ");
  if (rule.Not) return `not (${describeRule(rule.Not)})`;
  if (rule.Condition) return rule.Condition;
  const operator = Object.keys(rule).find((key) => key !== "Variable" && key !== "Next");
  if (!operator) return "";
  const words = operator.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
  const value = rule[operator];
  if (typeof value === "boolean" && /^is /.test(words)) {
    return `${rule.Variable} ${value ? words : words.replace(/^is /, "is not ")}`;
  }
  return `${rule.Variable} ${words} ${JSON.stringify(value)}`;
}

function shorten(text, length = 40) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

/** {nodes, clusters, edges} of a definition; node ids are paths, `name` is the state name. */
export function buildGraph(definition) {
  const nodes = [{ id: START, name: "Start", kind: "terminal", parent: null }];
  const clusters = [];
  const edges = [];
  addScope(definition, "", null, START, END, { nodes, clusters, edges });
  nodes.push({ id: END, name: "End", kind: "terminal", parent: null });
  return { nodes, clusters, edges };
}

function addScope(scope, prefix, parent, entryFrom, exitTo, graph) {
  const states = scope.States || {};
  const idOf = (name) => `${prefix}${name}`;
  const exitOf = (name) => (isContainer(states[name]) ? `${idOf(name)}#join` : idOf(name));
  graph.edges.push({ from: entryFrom, to: idOf(scope.StartAt), kind: "next" });
  for (const [name, state] of Object.entries(states)) {
    const id = idOf(name);
    if (isContainer(state)) addContainer(name, state, id, parent, graph);
    else graph.nodes.push({ id, name, kind: state.Type, parent });
    const from = exitOf(name);
    if (state.Type === "Choice") {
      for (const rule of state.Choices || []) {
        graph.edges.push({ from, to: idOf(rule.Next), kind: "choice", label: shorten(describeRule(rule)) });
      }
      if (state.Default) graph.edges.push({ from, to: idOf(state.Default), kind: "choice", label: "Default" });
    }
    if (state.Next) graph.edges.push({ from, to: idOf(state.Next), kind: "next" });
    if (state.End || state.Type === "Succeed" || state.Type === "Fail") {
      graph.edges.push({ from, to: exitTo, kind: "next" });
    }
    for (const handler of state.Catch || []) {
      const errors = (handler.ErrorEquals || []).join(", ");
      graph.edges.push({ from, to: idOf(handler.Next), kind: "catch", label: shorten(`Catch ${errors}`) });
    }
  }
}

function isContainer(state) {
  return state && (state.Type === "Map" || state.Type === "Parallel");
}

function addContainer(name, state, id, parent, graph) {
  const box = `${id}#box`;
  graph.clusters.push({ id: box, label: `${state.Type}: ${name}`, parent, kind: state.Type });
  graph.nodes.push({ id, name, kind: state.Type, parent: box, header: true });
  graph.nodes.push({ id: `${id}#join`, name, kind: "join", parent: box });
  if (state.Type === "Map") {
    const processor = state.ItemProcessor || state.Iterator;
    if (processor) addScope(processor, `${id}/`, box, id, `${id}#join`, graph);
    return;
  }
  (state.Branches || []).forEach((branch, index) => {
    const branchBox = `${id}#branch${index}`;
    graph.clusters.push({ id: branchBox, label: `Branch ${index + 1}`, parent: box, kind: "branch" });
    addScope(branch, `${id}/${index}/`, branchBox, id, `${id}#join`, graph);
  });
}
