/** The pipeline graph: React Flow nodes for components, edges parent -> child. */
import {
  applyNodeChanges,
  Background,
  BaseEdge,
  Connection,
  Controls,
  Edge,
  EdgeProps,
  Handle,
  MarkerType,
  MiniMap,
  Node,
  NodeChange,
  NodeProps,
  Position,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow
} from '@xyflow/react';
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { PipelineModel } from '../model';
import { NodeStatus } from '../tokens';
import { edgeId, IPoint, layoutGraph, NODE_HEIGHT, NODE_WIDTH, routedPath } from './layout';

/** What a node shows; plain values only, so an unchanged node keeps its object. */
export type ComponentNodeData = {
  name: string;
  status: NodeStatus;
  statusLabel: string;
  reason: string;
  worker: string;
  workerLabel: string;
  runLabel: string;
  vertical: boolean;
  /** Marks set by other views (e.g. `conflict` during a git merge). */
  mark: string;
  /** A colour the notebook gives the component (a Link notebook's header colour), or ''. */
  accent: string;
  /** Python's check warnings on this component, one per line, or ''. */
  warning: string;
  warningBadge: string;
  warningLabel: string;
};

type ComponentNode = Node<ComponentNodeData, 'component'>;

/** Callbacks of the nodes, outside their data so data stays comparable. */
const NodeActions = React.createContext<{
  onRun: (id: string) => void;
  onFix: (id: string) => void;
}>({
  onRun: () => undefined,
  onFix: () => undefined
});

function ComponentNodeView(props: NodeProps<ComponentNode>): JSX.Element {
  const { data, id } = props;
  const actions = React.useContext(NodeActions);
  const title = [
    data.name,
    data.statusLabel,
    data.worker && data.workerLabel,
    data.reason,
    data.warning
  ]
    .filter(Boolean)
    .join(' — ');
  return (
    <div
      className={`jp-cellpipe-node jp-cellpipe-status-${data.status}${
        data.mark ? ` jp-cellpipe-mark-${data.mark}` : ''
      }`}
      data-status={data.status}
      data-mark={data.mark || undefined}
      data-accent={data.accent || undefined}
      data-warning={data.warning ? 'true' : undefined}
      title={title}
    >
      {data.accent && (
        <span className="jp-cellpipe-node-accent" style={{ background: data.accent }} />
      )}
      <Handle
        type="target"
        position={data.vertical ? Position.Top : Position.Left}
        className="jp-cellpipe-handle"
      />
      <div className="jp-cellpipe-node-name">{data.name}</div>
      <div className="jp-cellpipe-node-badges">
        <span className="jp-cellpipe-badge jp-cellpipe-badge-status">{data.statusLabel}</span>
        {data.worker && (
          <span className="jp-cellpipe-badge jp-cellpipe-badge-remote">{data.workerLabel}</span>
        )}
        {data.warning && (
          <button
            className="jp-cellpipe-badge jp-cellpipe-badge-warning nodrag"
            title={`${data.warning}\n${data.warningLabel}`}
            aria-label={data.warningLabel}
            onClick={event => {
              event.stopPropagation();
              actions.onFix(id);
            }}
          >
            {`⚠ ${data.warningBadge}`}
          </button>
        )}
      </div>
      <button
        className="jp-cellpipe-node-run nodrag"
        title={data.runLabel}
        aria-label={data.runLabel}
        onClick={event => {
          event.stopPropagation();
          actions.onRun(id);
        }}
      >
        ▶
      </button>
      <Handle
        type="source"
        position={data.vertical ? Position.Bottom : Position.Right}
        className="jp-cellpipe-handle"
      />
    </div>
  );
}

const nodeTypes = { component: ComponentNodeView };

/** How far a routed edge runs straight out of its source and into its target. */
const LEAD = 14;

type RoutedEdge = Edge<{ via: IPoint[] }, 'routed'>;

/** An edge that skips a level: through the points the layout routed it along. */
function RoutedEdgeView(props: EdgeProps<RoutedEdge>): JSX.Element {
  const via = props.data?.via ?? [];
  const vertical = props.sourcePosition === Position.Bottom;
  const path = routedPath(
    { x: props.sourceX, y: props.sourceY },
    via,
    { x: props.targetX, y: props.targetY },
    vertical ? { x: 0, y: LEAD } : { x: LEAD, y: 0 }
  );
  const middle = via.length ? via[Math.floor(via.length / 2)] : undefined;
  return (
    <BaseEdge
      id={props.id}
      path={path}
      markerEnd={props.markerEnd}
      style={props.style}
      interactionWidth={props.interactionWidth}
      label={props.label}
      labelX={middle?.x ?? (props.sourceX + props.targetX) / 2}
      labelY={middle?.y ?? (props.sourceY + props.targetY) / 2}
      labelStyle={props.labelStyle}
      labelShowBg={props.labelShowBg}
      labelBgStyle={props.labelBgStyle}
      labelBgPadding={props.labelBgPadding}
      labelBgBorderRadius={props.labelBgBorderRadius}
    />
  );
}

const edgeTypes = { routed: RoutedEdgeView };

/**
 * Fitting never shrinks the graph below its natural size: labels stay readable and a
 * graph larger than the view is panned (drag, scroll wheel) with the minimap's help.
 */
export const FIT_OPTIONS = { padding: 0.12, minZoom: 1, maxZoom: 1.2 };

export interface IGraphViewProps {
  model: PipelineModel;
  trans: TranslationBundle;
  direction: 'TB' | 'LR';
  /** A version number that changes whenever the model changed. */
  version: number;
  /** Marks per component id (e.g. git conflicts), shown as a node class and data-mark. */
  marks?: ReadonlyMap<string, string>;
  /** Check warnings per component id (one message per line): a badge that fixes them. */
  warnings?: ReadonlyMap<string, string>;
  /** The names each edge carries, by edgeId: shown while the pointer is on the edge. */
  edgeNames?: ReadonlyMap<string, string[]>;
  onFix?: (id: string) => void;
  onNodeClick: (id: string) => void;
  onNodeMenu: (id: string, x: number, y: number) => void;
  onRun: (id: string) => void;
}

export function statusLabel(trans: TranslationBundle, status: NodeStatus): string {
  switch (status) {
    case 'not-run':
      return trans.__('not run');
    case 'cached':
      return trans.__('cached');
    case 'stale':
      return trans.__('stale');
    case 'queued':
      return trans.__('queued');
    case 'running':
      return trans.__('running');
    case 'done':
      return trans.__('done');
    case 'error':
      return trans.__('error');
    case 'interrupted':
      return trans.__('interrupted');
    case 'invalid':
      return trans.__('invalid');
    case 'blocked':
      return trans.__('blocked');
  }
}

/** The status text of a component: "blocked by NAME" names what blocks it. */
export function statusText(trans: TranslationBundle, model: PipelineModel, id: string): string {
  const status = model.status(id);
  const blocker = status === 'blocked' ? model.blockedBy(id) : '';
  return blocker ? trans.__('blocked by %1', blocker) : statusLabel(trans, status);
}

function sameData(a: ComponentNodeData, b: ComponentNodeData): boolean {
  for (const key of Object.keys(a) as (keyof ComponentNodeData)[]) {
    if (a[key] !== b[key]) {
      return false;
    }
  }
  return true;
}

/**
 * The next nodes from the previous ones: a node whose data and position did not change
 * is the same object, so React Flow keeps its measured size and never hides it again.
 */
export function nextNodes(
  previous: ComponentNode[],
  wanted: { id: string; position: { x: number; y: number }; data: ComponentNodeData }[]
): ComponentNode[] {
  const byId = new Map(previous.map(n => [n.id, n]));
  let changed = previous.length !== wanted.length;
  const next = wanted.map((w, i) => {
    const old = byId.get(w.id);
    if (
      old &&
      old.position.x === w.position.x &&
      old.position.y === w.position.y &&
      sameData(old.data, w.data)
    ) {
      changed = changed || previous[i] !== old;
      return old;
    }
    changed = true;
    if (old) {
      return { ...old, position: w.position, data: w.data };
    }
    const node: ComponentNode = {
      id: w.id,
      type: 'component',
      position: w.position,
      deletable: false,
      draggable: false,
      width: NODE_WIDTH,
      height: NODE_HEIGHT,
      className: 'jp-cellpipe-flow-node',
      data: w.data
    };
    return node;
  });
  return changed ? next : previous;
}

function Graph(props: IGraphViewProps): JSX.Element {
  const { model, trans, direction, marks } = props;
  const flow = useReactFlow();
  const components = model.components;
  const [selectedEdges, setSelectedEdges] = React.useState<Set<string>>(new Set());
  const [hoveredEdge, setHoveredEdge] = React.useState<string | null>(null);
  const known = new Set(components.map(c => c.id));
  const structureKey = JSON.stringify(components.map(c => [c.id, c.parents])) + direction;

  const layout = React.useMemo(() => {
    const edges = components.flatMap(c =>
      c.parents.filter(p => known.has(p)).map(p => ({ source: p, target: c.id }))
    );
    return layoutGraph(
      components.map(c => c.id),
      edges,
      direction
    );
  }, [structureKey]);

  const wanted = components.map(c => {
    const worker = model.worker(c.id);
    return {
      id: c.id,
      position: layout.positions.get(c.id) ?? { x: 0, y: 0 },
      data: {
        name: c.name,
        status: model.status(c.id),
        statusLabel: statusText(trans, model, c.id),
        reason: model.reason(c.id),
        worker,
        workerLabel: trans.__('remote: %1', worker),
        runLabel: trans.__('Run component %1', c.name),
        vertical: direction === 'TB',
        mark: marks?.get(c.id) ?? '',
        accent: c.accent ?? '',
        warning: props.warnings?.get(c.id) ?? '',
        warningBadge: trans.__('fix'),
        warningLabel: trans.__('Add the missing parents of %1', c.name)
      }
    };
  });
  // The nodes live in state: React Flow's own changes (measured sizes, selection) are
  // applied to them, and a model change replaces only the nodes that changed.
  const [nodes, setNodes] = React.useState<ComponentNode[]>(() => nextNodes([], wanted));
  const current = nextNodes(nodes, wanted);
  if (current !== nodes) {
    setNodes(current);
  }
  const onNodesChange = React.useCallback(
    (changes: NodeChange<ComponentNode>[]) => setNodes(ns => applyNodeChanges(changes, ns)),
    []
  );

  // Fit the graph when its structure changes and whenever the view is resized or shown;
  // a graph larger than the view stays readable and gets a minimap.
  const wrapper = React.useRef<HTMLDivElement>(null);
  const [overflows, setOverflows] = React.useState(false);
  React.useEffect(() => {
    let timer = 0;
    const fit = () => {
      window.clearTimeout(timer);
      timer = window.setTimeout(() => {
        const box = wrapper.current?.getBoundingClientRect();
        // A hidden or collapsing panel has no size to fit into; the next resize refits.
        if (box && box.width > 20 && box.height > 20) {
          void flow.fitView(FIT_OPTIONS).then(() => {
            const bounds = flow.getNodesBounds(flow.getNodes());
            const zoom = flow.getZoom();
            setOverflows(
              bounds.width * zoom > box.width - 16 || bounds.height * zoom > box.height - 16
            );
          });
        }
      }, 60);
    };
    fit();
    const observer = new ResizeObserver(fit);
    if (wrapper.current) {
      observer.observe(wrapper.current);
    }
    return () => {
      observer.disconnect();
      window.clearTimeout(timer);
    };
  }, [structureKey]);

  const edges: Edge[] = components.flatMap(c =>
    c.parents
      .filter(p => known.has(p))
      .map(p => {
        const id = edgeId(p, c.id);
        const via = layout.routes.get(id);
        const names = props.edgeNames?.get(id);
        return {
          id,
          source: p,
          target: c.id,
          selected: selectedEdges.has(id),
          className: 'jp-cellpipe-edge',
          markerEnd: { type: MarkerType.ArrowClosed },
          ...(names?.length ? { ariaLabel: trans.__('carries %1', names.join(', ')) } : {}),
          ...(names?.length && hoveredEdge === id
            ? {
                label: names.join(', '),
                labelShowBg: true,
                labelBgPadding: [4, 2] as [number, number],
                labelBgBorderRadius: 3
              }
            : {}),
          ...(via ? { type: 'routed', data: { via } } : {})
        };
      })
  );
  const actions = React.useMemo(
    () => ({ onRun: props.onRun, onFix: props.onFix ?? (() => undefined) }),
    [props.onRun, props.onFix]
  );

  return (
    <div className="jp-cellpipe-graph-canvas" ref={wrapper}>
      <NodeActions.Provider value={actions}>
        <ReactFlow
          nodes={current}
          onNodesChange={onNodesChange}
          fitView
          fitViewOptions={FIT_OPTIONS}
          edges={edges}
          nodeTypes={nodeTypes}
          edgeTypes={edgeTypes}
          nodesDraggable={false}
          nodesConnectable={true}
          elementsSelectable={true}
          deleteKeyCode={['Delete', 'Backspace']}
          minZoom={0.2}
          maxZoom={2}
          panOnScroll={true}
          proOptions={{ hideAttribution: true }}
          onConnect={(connection: Connection) => {
            if (connection.source && connection.target) {
              void model.connect(connection.source, connection.target);
            }
          }}
          onEdgesChange={changes => {
            const next = new Set(selectedEdges);
            for (const change of changes) {
              if (change.type === 'select') {
                if (change.selected) {
                  next.add(change.id);
                } else {
                  next.delete(change.id);
                }
              }
            }
            setSelectedEdges(next);
          }}
          onEdgesDelete={deleted => {
            for (const edge of deleted) {
              model.disconnect(edge.source, edge.target);
            }
          }}
          onEdgeMouseEnter={(_, edge) => setHoveredEdge(edge.id)}
          onEdgeMouseLeave={() => setHoveredEdge(null)}
          onNodeClick={(_, node) => props.onNodeClick(node.id)}
          onNodeContextMenu={(event, node) => {
            // Ours alone: JupyterLab's own context menu would close this one.
            event.preventDefault();
            event.stopPropagation();
            props.onNodeMenu(node.id, event.clientX, event.clientY);
          }}
        >
          <Background gap={16} size={1} />
          <Controls showInteractive={false} />
          {overflows && (
            <MiniMap
              className="jp-cellpipe-minimap"
              pannable
              zoomable
              nodeClassName={node =>
                `jp-cellpipe-status-${(node.data as ComponentNodeData).status}`
              }
            />
          )}
        </ReactFlow>
      </NodeActions.Provider>
    </div>
  );
}

export function GraphView(props: IGraphViewProps): JSX.Element {
  return (
    <div className="jp-cellpipe-graph">
      <ReactFlowProvider>
        <Graph {...props} />
      </ReactFlowProvider>
    </div>
  );
}
