// The workflow canvas: @xyflow/react with AgentFlow's node card, history and shortcuts.
//
// The browser owns everything that happens per frame (dragging, panning, connecting,
// selecting, undo history, copy/paste, auto-layout). The Reflex state hears about a change
// once it is complete: `onMoved` when a drag stops, `onChanged` after a structural edit,
// `onSelect` when the single selected node changes, `onSave` on Ctrl+S. It pushes back
// `graph` (a whole document: load, import, restore) and `patch` (node data edited in the
// config panel), each stamped with a rising `rev`, so echoes are never re-applied.
import React, {
  createContext,
  memo,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
} from "react";
import {
  Background,
  ControlButton,
  Controls,
  Handle,
  MiniMap,
  Position,
  ReactFlow,
  ReactFlowProvider,
  useEdgesState,
  useNodesInitialized,
  useNodesState,
  useReactFlow,
} from "@xyflow/react";
import dagre from "@dagrejs/dagre";
import { DynamicIcon } from "lucide-react/dynamic.mjs";
import "./canvas.css";

const CatalogContext = createContext({});
const DecorationsContext = createContext({});

const CATEGORY_COLORS = {
  Triggers: "#16a34a",
  AI: "#7c3aed",
  Logic: "#d97706",
  Data: "#0891b2",
  Integrations: "#2563eb",
  Output: "#db2777",
  Flow: "#4f46e5",
};
const UNKNOWN = { label: "Unknown type", icon: "circle-help", category: "Other", inputs: ["in"], outputs: ["out"] };
const GRID = [16, 16];
const NODE_WIDTH = 232;
const NODE_HEIGHT = 64;
const HISTORY_LIMIT = 100;
// Keys React Flow adds to a node or edge for its own bookkeeping; never part of the document.
const VOLATILE_NODE_KEYS = ["selected", "dragging", "measured", "domAttributes", "resizing", "positionAbsolute", "internals"];
const VOLATILE_EDGE_KEYS = ["selected"];
const CLIPBOARD_KEY = "agentflow-clipboard";

const colorOf = (meta) => CATEGORY_COLORS[meta.category] || "#64748b";

// A node type whose handles come from its config (logic.switch: one per case, then its
// fixed ones) names the config list in `outputs_from`; each item's `name` is a handle.
function outputsOf(meta, data) {
  if (!meta.outputs_from) return meta.outputs;
  const items = (data && data.config && data.config[meta.outputs_from]) || [];
  const named = Array.isArray(items) ? items.map((item) => item && item.name).filter(Boolean) : [];
  return [...named, ...meta.outputs];
}

function cleanNode(node) {
  const out = { ...node };
  for (const key of VOLATILE_NODE_KEYS) delete out[key];
  out.position = { x: Math.round(node.position.x), y: Math.round(node.position.y) };
  return out;
}

function cleanEdge(edge) {
  const out = { ...edge };
  for (const key of VOLATILE_EDGE_KEYS) delete out[key];
  return out;
}

function isTyping(target) {
  if (!target) return false;
  const tag = target.tagName;
  return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
}

function handleTop(index, count) {
  return `${((index + 1) * 100) / (count + 1)}%`;
}

const FlowNode = memo(function FlowNode({ id, type, data, selected }) {
  const catalog = useContext(CatalogContext);
  const decorations = useContext(DecorationsContext);
  const meta = catalog[type] || UNKNOWN;
  const deco = decorations[id] || {};
  const problems = deco.problems || [];
  const status = deco.status || undefined;
  const outputs = outputsOf(meta, data);
  const labelled = outputs.length > 1;
  return (
    <div
      className={`af-node${selected ? " af-selected" : ""}${problems.length ? " af-invalid" : ""}`}
      style={{ "--af-accent": colorOf(meta) }}
      data-testid="flow-node"
      data-node-id={id}
      data-status={status}
      data-problems={problems.length}
    >
      {meta.inputs.map((handle, index) => (
        <Handle
          key={handle}
          type="target"
          id={handle}
          position={Position.Left}
          style={{ top: handleTop(index, meta.inputs.length) }}
          className="af-handle"
          data-handle={handle}
        />
      ))}
      <div className="af-node-icon">
        <DynamicIcon name={meta.icon || "box"} size={18} />
      </div>
      <div className="af-node-text">
        <div className="af-node-label">{(data && data.label) || meta.label}</div>
        <div className="af-node-type">{type}</div>
      </div>
      {status ? <span className={`af-status af-status-${status}`}>{status}</span> : null}
      {deco.badge ? (
        <span className="af-badge" data-testid="node-badge">
          {deco.badge}
        </span>
      ) : null}
      {problems.length ? (
        <span className="af-problem" title={problems.join("\n")} data-testid="node-problem">
          {problems.length}
        </span>
      ) : null}
      {outputs.map((handle, index) => (
        <Handle
          key={handle}
          type="source"
          id={handle}
          position={Position.Right}
          style={{ top: handleTop(index, outputs.length) }}
          className={`af-handle af-handle-${handle}`}
          data-handle={handle}
        >
          {labelled ? <span className="af-handle-label">{handle}</span> : null}
        </Handle>
      ))}
    </div>
  );
});

function uniqueId(base, taken) {
  const stem = base.replace(/[^A-Za-z0-9_]/g, "_").replace(/^(\d)/, "n_$1") || "node";
  let n = 1;
  while (taken.has(`${stem}_${n}`)) n += 1;
  return `${stem}_${n}`;
}

function layout(nodes, edges) {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({ rankdir: "LR", nodesep: 40, ranksep: 90 });
  graph.setDefaultEdgeLabel(() => ({}));
  for (const node of nodes) {
    graph.setNode(node.id, {
      width: (node.measured && node.measured.width) || NODE_WIDTH,
      height: (node.measured && node.measured.height) || NODE_HEIGHT,
    });
  }
  for (const edge of edges) graph.setEdge(edge.source, edge.target);
  dagre.layout(graph);
  return nodes.map((node) => {
    const box = graph.node(node.id);
    const x = Math.round((box.x - box.width / 2) / GRID[0]) * GRID[0];
    const y = Math.round((box.y - box.height / 2) / GRID[1]) * GRID[1];
    return { ...node, position: { x, y } };
  });
}

function reaches(edges, from, to) {
  const outgoing = new Map();
  for (const edge of edges) {
    if (!outgoing.has(edge.source)) outgoing.set(edge.source, []);
    outgoing.get(edge.source).push(edge.target);
  }
  const seen = new Set([from]);
  const stack = [from];
  while (stack.length) {
    const current = stack.pop();
    if (current === to) return true;
    for (const next of outgoing.get(current) || []) {
      if (!seen.has(next)) {
        seen.add(next);
        stack.push(next);
      }
    }
  }
  return false;
}

/** Why a connection is refused, or "" when it may be drawn. */
export function connectionProblem(connection, nodes, edges, catalog) {
  const { source, target } = connection;
  if (source === target) return "a node cannot connect to itself";
  const sourceHandle = connection.sourceHandle || null;
  const targetHandle = connection.targetHandle || null;
  if (
    edges.some(
      (e) =>
        e.source === source &&
        e.target === target &&
        (e.sourceHandle || null) === sourceHandle &&
        (e.targetHandle || null) === targetHandle,
    )
  )
    return "these handles are already connected";
  const targetNode = nodes.find((n) => n.id === target);
  const meta = (targetNode && catalog[targetNode.type]) || UNKNOWN;
  if (
    meta.single_input &&
    edges.some((e) => e.target === target && (e.targetHandle || null) === targetHandle)
  )
    return "this input takes one connection";
  if (reaches(edges, target, source)) return "that connection would make a cycle";
  return "";
}

function Canvas(props) {
  const {
    graph,
    patch,
    decorations,
    catalog,
    focusRequest,
    dirty,
    readOnly,
    onMoved,
    onChanged,
    onSelect,
    onSave,
  } = props;
  const [nodes, setNodes, onNodesChange] = useNodesState([]);
  const [edges, setEdges, onEdgesChange] = useEdgesState([]);
  const flow = useReactFlow();
  const wrapper = useRef(null);
  const latest = useRef({ nodes, edges });
  latest.current = { nodes, edges };
  const rev = useRef(-1);
  const history = useRef({ past: [], future: [] });
  const pending = useRef(null);
  const selectedId = useRef("");
  const loaded = useRef(false);
  const fitPending = useRef(false);
  const initialized = useNodesInitialized();
  const callbacks = useRef({});
  callbacks.current = { onMoved, onChanged, onSelect, onSave, catalog, dirty, readOnly };

  const snapshot = useCallback(() => {
    const { nodes: ns, edges: es } = latest.current;
    return { nodes: ns.map(cleanNode), edges: es.map(cleanEdge) };
  }, []);

  const remember = useCallback(() => {
    const h = history.current;
    h.past.push(snapshot());
    if (h.past.length > HISTORY_LIMIT) h.past.shift();
    h.future = [];
  }, [snapshot]);

  // A structural change is reported once React has applied it (see the effect below).
  const changed = useCallback((reason) => {
    pending.current = reason;
  }, []);

  useEffect(() => {
    if (pending.current === null) return;
    const reason = pending.current;
    pending.current = null;
    const { onChanged: report } = callbacks.current;
    if (report) {
      report({
        reason,
        base_rev: rev.current,
        nodes: nodes.map(cleanNode),
        edges: edges.map(cleanEdge),
      });
    }
  }, [nodes, edges]);

  // -- documents and patches pushed by the server ------------------------------------------
  useEffect(() => {
    if (!graph || typeof graph.rev !== "number" || graph.rev <= rev.current) return;
    const first = !loaded.current;
    if (!first) remember();
    rev.current = graph.rev;
    loaded.current = true;
    const keep = new Set(latest.current.nodes.filter((n) => n.selected).map((n) => n.id));
    setNodes((graph.nodes || []).map((n) => ({ ...n, selected: keep.has(n.id) })));
    setEdges(graph.edges || []);
    if (first) {
      history.current = { past: [], future: [] };
      fitPending.current = true;
    }
  }, [graph, remember, setNodes, setEdges]);

  // Fit the first document once React Flow has measured its nodes.
  useEffect(() => {
    if (!initialized || !fitPending.current) return;
    fitPending.current = false;
    flow.fitView({ padding: 0.2, maxZoom: 1 });
  }, [initialized, flow]);

  useEffect(() => {
    if (!patch || typeof patch.rev !== "number" || patch.rev <= rev.current) return;
    rev.current = patch.rev;
    const data = patch.nodes || {};
    if (!Object.keys(data).length) return;
    remember();
    setNodes((ns) => ns.map((n) => (data[n.id] ? { ...n, data: data[n.id] } : n)));
  }, [patch, remember, setNodes]);

  // The run status goes on React Flow's own node element too (SPEC §10), changed nodes only.
  useEffect(() => {
    setNodes((ns) => {
      let touched = false;
      const next = ns.map((n) => {
        const status = (decorations && decorations[n.id] && decorations[n.id].status) || undefined;
        const current = n.domAttributes && n.domAttributes["data-status"];
        if (current === status) return n;
        touched = true;
        return { ...n, domAttributes: status ? { "data-status": status } : undefined };
      });
      return touched ? next : ns;
    });
  }, [decorations, nodes.length, setNodes]);

  useEffect(() => {
    if (!focusRequest || !focusRequest.id) return;
    const node = latest.current.nodes.find((n) => n.id === focusRequest.id);
    if (!node) return;
    setNodes((ns) => ns.map((n) => ({ ...n, selected: n.id === node.id })));
    const width = (node.measured && node.measured.width) || NODE_WIDTH;
    const height = (node.measured && node.measured.height) || NODE_HEIGHT;
    flow.setCenter(node.position.x + width / 2, node.position.y + height / 2, {
      zoom: Math.max(flow.getZoom(), 1),
      duration: 250,
    });
  }, [focusRequest, flow, setNodes]);

  // -- editing -----------------------------------------------------------------------------
  const addNode = useCallback(
    (type, position) => {
      const meta = callbacks.current.catalog[type];
      if (!meta) return;
      remember();
      const taken = new Set(latest.current.nodes.map((n) => n.id));
      const id = uniqueId(type.split(".").pop(), taken);
      const node = {
        id,
        type,
        position: {
          x: Math.round(position.x / GRID[0]) * GRID[0],
          y: Math.round(position.y / GRID[1]) * GRID[1],
        },
        data: { label: meta.label, config: {} },
        selected: true,
      };
      setNodes((ns) => [...ns.map((n) => (n.selected ? { ...n, selected: false } : n)), node]);
      changed("add");
    },
    [remember, changed, setNodes],
  );

  // Where a clicked palette item lands: right of the selected (or last) node, on a free
  // spot; the view follows when that is off screen.
  const nextSpot = useCallback(() => {
    const ns = latest.current.nodes;
    const box = wrapper.current.getBoundingClientRect();
    const anchor = ns.find((n) => n.selected) || ns[ns.length - 1];
    if (!anchor) {
      const center = flow.screenToFlowPosition({
        x: box.left + box.width / 2,
        y: box.top + box.height / 2,
      });
      return { x: center.x - NODE_WIDTH / 2, y: center.y - NODE_HEIGHT / 2 };
    }
    const x = anchor.position.x + NODE_WIDTH + 72;
    let y = anchor.position.y;
    const busy = (top) =>
      ns.some((n) => Math.abs(n.position.x - x) < NODE_WIDTH && Math.abs(n.position.y - top) < NODE_HEIGHT + 16);
    while (busy(y)) y += NODE_HEIGHT + 32;
    const screen = flow.flowToScreenPosition({ x: x + NODE_WIDTH, y: y + NODE_HEIGHT });
    const corner = flow.flowToScreenPosition({ x, y });
    if (corner.x < box.left || corner.y < box.top || screen.x > box.right || screen.y > box.bottom) {
      flow.setCenter(x + NODE_WIDTH / 2, y + NODE_HEIGHT / 2, { zoom: flow.getZoom(), duration: 200 });
    }
    return { x, y };
  }, [flow]);

  const undo = useCallback(() => {
    const h = history.current;
    if (!h.past.length) return;
    h.future.push(snapshot());
    const previous = h.past.pop();
    setNodes(previous.nodes);
    setEdges(previous.edges);
    changed("undo");
  }, [snapshot, changed, setNodes, setEdges]);

  const redo = useCallback(() => {
    const h = history.current;
    if (!h.future.length) return;
    h.past.push(snapshot());
    const next = h.future.pop();
    setNodes(next.nodes);
    setEdges(next.edges);
    changed("redo");
  }, [snapshot, changed, setNodes, setEdges]);

  const copy = useCallback(() => {
    const { nodes: ns, edges: es } = latest.current;
    const picked = ns.filter((n) => n.selected);
    if (!picked.length) return;
    const ids = new Set(picked.map((n) => n.id));
    const clip = {
      nodes: picked.map(cleanNode),
      edges: es.filter((e) => ids.has(e.source) && ids.has(e.target)).map(cleanEdge),
    };
    window.localStorage.setItem(CLIPBOARD_KEY, JSON.stringify(clip));
  }, []);

  const paste = useCallback(() => {
    let clip;
    try {
      clip = JSON.parse(window.localStorage.getItem(CLIPBOARD_KEY) || "null");
    } catch {
      clip = null;
    }
    if (!clip || !Array.isArray(clip.nodes) || !clip.nodes.length) return;
    remember();
    const taken = new Set(latest.current.nodes.map((n) => n.id));
    const renamed = {};
    const added = clip.nodes.map((n) => {
      const id = uniqueId(n.id.replace(/_\d+$/, ""), taken);
      taken.add(id);
      renamed[n.id] = id;
      return {
        ...n,
        id,
        position: { x: n.position.x + GRID[0] * 3, y: n.position.y + GRID[1] * 3 },
        selected: true,
      };
    });
    const edgeIds = new Set(latest.current.edges.map((e) => e.id));
    const addedEdges = clip.edges.map((e) => {
      const id = uniqueId("e", edgeIds);
      edgeIds.add(id);
      return { ...e, id, source: renamed[e.source], target: renamed[e.target] };
    });
    setNodes((ns) => [...ns.map((n) => (n.selected ? { ...n, selected: false } : n)), ...added]);
    setEdges((es) => [...es, ...addedEdges]);
    changed("paste");
  }, [remember, changed, setNodes, setEdges]);

  const autoLayout = useCallback(() => {
    remember();
    setNodes((ns) => layout(ns, latest.current.edges));
    changed("layout");
    window.setTimeout(() => flow.fitView({ padding: 0.25, maxZoom: 1.1, duration: 250 }), 30);
  }, [remember, changed, flow, setNodes]);

  const onConnect = useCallback(
    (connection) => {
      const { nodes: ns, edges: es } = latest.current;
      if (connectionProblem(connection, ns, es, callbacks.current.catalog)) return;
      remember();
      const id = uniqueId("e", new Set(es.map((e) => e.id)));
      setEdges((current) => [
        ...current,
        {
          id,
          source: connection.source,
          target: connection.target,
          sourceHandle: connection.sourceHandle || null,
          targetHandle: connection.targetHandle || null,
        },
      ]);
      changed("connect");
    },
    [remember, changed, setEdges],
  );

  const isValidConnection = useCallback((connection) => {
    const { nodes: ns, edges: es } = latest.current;
    return connectionProblem(connection, ns, es, callbacks.current.catalog) === "";
  }, []);

  const onBeforeDelete = useCallback(async () => {
    remember();
    return true;
  }, [remember]);

  const onDelete = useCallback(() => changed("delete"), [changed]);

  const onDragStart = useCallback(() => remember(), [remember]);

  const reportMoves = useCallback((moved) => {
    const { onMoved: report } = callbacks.current;
    if (!report || !moved.length) return;
    report(
      moved.map((n) => ({ id: n.id, x: Math.round(n.position.x), y: Math.round(n.position.y) })),
    );
  }, []);

  const onNodeDragStop = useCallback((_event, _node, moved) => reportMoves(moved), [reportMoves]);
  const onSelectionDragStop = useCallback((_event, moved) => reportMoves(moved), [reportMoves]);

  const onSelectionChange = useCallback(({ nodes: picked }) => {
    const id = picked.length === 1 ? picked[0].id : "";
    if (id === selectedId.current) return;
    selectedId.current = id;
    const { onSelect: report } = callbacks.current;
    if (report) report(id);
  }, []);

  const onDragOver = useCallback((event) => {
    if (event.dataTransfer.types.includes("application/agentflow-node")) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    }
  }, []);

  const onDrop = useCallback(
    (event) => {
      const type = event.dataTransfer.getData("application/agentflow-node");
      if (!type) return;
      event.preventDefault();
      const point = flow.screenToFlowPosition({ x: event.clientX, y: event.clientY });
      addNode(type, { x: point.x - NODE_WIDTH / 2, y: point.y - NODE_HEIGHT / 2 });
    },
    [flow, addNode],
  );

  // -- page-wide listeners: the palette, shortcuts, the leave guard -----------------------
  useEffect(() => {
    const paletteItem = (event) =>
      event.target && event.target.closest ? event.target.closest("[data-palette-type]") : null;
    const onClick = (event) => {
      const item = paletteItem(event);
      if (item) addNode(item.getAttribute("data-palette-type"), nextSpot());
    };
    const onPaletteDrag = (event) => {
      const item = paletteItem(event);
      if (!item) return;
      event.dataTransfer.setData("application/agentflow-node", item.getAttribute("data-palette-type"));
      event.dataTransfer.effectAllowed = "copy";
    };
    const onKey = (event) => {
      // A read-only canvas (the live view) has no editing shortcuts at all.
      if (callbacks.current.readOnly) return;
      const item = paletteItem(event);
      if (item && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        addNode(item.getAttribute("data-palette-type"), nextSpot());
        return;
      }
      const mod = event.ctrlKey || event.metaKey;
      if (!mod) return;
      const key = event.key.toLowerCase();
      if (key === "s") {
        event.preventDefault();
        // Blur first: a field being typed in commits on blur, before the save arrives.
        if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
        window.setTimeout(() => callbacks.current.onSave && callbacks.current.onSave(), 0);
        return;
      }
      if (isTyping(event.target)) return;
      if (key === "z" && !event.shiftKey) {
        event.preventDefault();
        undo();
      } else if ((key === "z" && event.shiftKey) || key === "y") {
        event.preventDefault();
        redo();
      } else if (key === "c") {
        copy();
      } else if (key === "v") {
        event.preventDefault();
        paste();
      }
    };
    const onLeave = (event) => {
      if (!callbacks.current.dirty) return;
      event.preventDefault();
      event.returnValue = "";
    };
    const onLink = (event) => {
      if (!callbacks.current.dirty) return;
      const link = event.target && event.target.closest ? event.target.closest("a[href]") : null;
      if (!link || link.target === "_blank" || link.hasAttribute("download")) return;
      if (!window.confirm("This workflow has unsaved changes. Leave without saving?")) {
        event.preventDefault();
        event.stopPropagation();
      }
    };
    document.addEventListener("click", onClick);
    document.addEventListener("click", onLink, true);
    document.addEventListener("dragstart", onPaletteDrag);
    document.addEventListener("keydown", onKey);
    window.addEventListener("beforeunload", onLeave);
    return () => {
      document.removeEventListener("click", onClick);
      document.removeEventListener("click", onLink, true);
      document.removeEventListener("dragstart", onPaletteDrag);
      document.removeEventListener("keydown", onKey);
      window.removeEventListener("beforeunload", onLeave);
    };
  }, [addNode, nextSpot, undo, redo, copy, paste]);

  const nodeTypesKey = Object.keys(catalog || {}).sort().join("|");
  // One card component for every type; rebuilt only if the catalog itself changes.
  // biome-ignore lint/correctness/useExhaustiveDependencies: keyed on the type ids
  const nodeTypes = useMemo(
    () => Object.fromEntries(Object.keys(catalog || {}).map((type) => [type, FlowNode])),
    [nodeTypesKey],
  );
  const minimapColor = useCallback(
    (node) => colorOf((callbacks.current.catalog || {})[node.type] || UNKNOWN),
    [],
  );

  return (
    <CatalogContext.Provider value={catalog || {}}>
      <DecorationsContext.Provider value={decorations || {}}>
        <div ref={wrapper} className="af-canvas" data-testid="canvas" onDragOver={onDragOver} onDrop={onDrop}>
          <ReactFlow
            nodes={nodes}
            edges={edges}
            nodeTypes={nodeTypes}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onConnect={onConnect}
            isValidConnection={isValidConnection}
            onBeforeDelete={onBeforeDelete}
            onDelete={onDelete}
            onNodeDragStart={onDragStart}
            onSelectionDragStart={onDragStart}
            onNodeDragStop={onNodeDragStop}
            onSelectionDragStop={onSelectionDragStop}
            onSelectionChange={onSelectionChange}
            snapToGrid
            snapGrid={GRID}
            nodesDraggable={!readOnly}
            nodesConnectable={!readOnly}
            edgesReconnectable={!readOnly}
            deleteKeyCode={readOnly ? null : ["Delete", "Backspace"]}
            multiSelectionKeyCode={["Shift", "Meta", "Control"]}
            selectionKeyCode="Shift"
            defaultEdgeOptions={{ type: "smoothstep" }}
            minZoom={0.1}
            maxZoom={2}
            proOptions={{ hideAttribution: true }}
          >
            <Background gap={GRID[0]} size={1} color="var(--gray-6, #d4d4d8)" />
            <MiniMap pannable zoomable nodeColor={minimapColor} nodeStrokeWidth={0} className="af-minimap" />
            <Controls showInteractive={false} className="af-controls">
              {!readOnly && (
              <>
              <ControlButton onClick={undo} title="Undo (Ctrl+Z)" aria-label="Undo" data-testid="canvas-undo">
                <DynamicIcon name="undo-2" size={14} />
              </ControlButton>
              <ControlButton onClick={redo} title="Redo (Ctrl+Shift+Z)" aria-label="Redo" data-testid="canvas-redo">
                <DynamicIcon name="redo-2" size={14} />
              </ControlButton>
              <ControlButton onClick={autoLayout} title="Tidy up (auto-layout)" aria-label="Auto-layout" data-testid="canvas-layout">
                <DynamicIcon name="network" size={14} />
              </ControlButton>
              </>
              )}
            </Controls>
          </ReactFlow>
        </div>
      </DecorationsContext.Provider>
    </CatalogContext.Provider>
  );
}

export function WorkflowCanvas(props) {
  return (
    <ReactFlowProvider>
      <Canvas {...props} />
    </ReactFlowProvider>
  );
}
