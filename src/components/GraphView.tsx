/** The pipeline graph: React Flow nodes for components, edges parent -> child. */
import {
  applyNodeChanges,
  Background,
  BaseEdge,
  Connection,
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
import {
  edgeId,
  ILayout,
  IPoint,
  layoutGraph,
  NODE_HEIGHT,
  NODE_WIDTH,
  roundedPath,
  snapEnds
} from './layout';

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

type RoutedEdge = Edge<{ via: IPoint[]; vertical: boolean }, 'routed'>;

/** An edge along the points the layout routed it through (around the nodes it passes). */
function RoutedEdgeView(props: EdgeProps<RoutedEdge>): JSX.Element {
  const via = props.data?.via ?? [];
  const points = snapEnds(
    via,
    { x: props.sourceX, y: props.sourceY },
    { x: props.targetX, y: props.targetY },
    props.data?.vertical ?? true
  );
  const middle = via.length ? via[Math.floor(via.length / 2)] : undefined;
  return (
    <BaseEdge
      id={props.id}
      path={roundedPath(points)}
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

/** The zoom at which a node's name (13 px) reads at 11 px or more on screen. */
export const READABLE_ZOOM = 0.87;

/**
 * Fitting on open and on change never shrinks names below 11 px: a graph larger than the
 * view is panned (drag, scroll wheel) with the minimap's help.
 */
export const FIT_OPTIONS = { padding: 0.08, minZoom: READABLE_ZOOM, maxZoom: 1.2 };

/** The width of the graph's area from which a large graph gets its minimap by default. */
const MINIMAP_ROOM = 560;

/** *Fit View*: every node in the view, however small that makes it. */
export const FIT_ALL_OPTIONS = { padding: 0.04, minZoom: 0.02, maxZoom: 1.2 };

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
 * The next nodes from the previous ones: a node whose data, position and selection did
 * not change is the same object, so React Flow keeps its measured size and never hides it
 * again.
 */
export function nextNodes(
  previous: ComponentNode[],
  wanted: {
    id: string;
    position: { x: number; y: number };
    data: ComponentNodeData;
    selected?: boolean;
  }[]
): ComponentNode[] {
  const byId = new Map(previous.map(n => [n.id, n]));
  let changed = previous.length !== wanted.length;
  const next = wanted.map((w, i) => {
    const old = byId.get(w.id);
    const selected = w.selected ?? false;
    if (
      old &&
      old.position.x === w.position.x &&
      old.position.y === w.position.y &&
      (old.selected ?? false) === selected &&
      sameData(old.data, w.data)
    ) {
      changed = changed || previous[i] !== old;
      return old;
    }
    changed = true;
    if (old) {
      return { ...old, position: w.position, data: w.data, selected };
    }
    const node: ComponentNode = {
      id: w.id,
      type: 'component',
      position: w.position,
      deletable: false,
      draggable: false,
      selected,
      width: NODE_WIDTH,
      height: NODE_HEIGHT,
      className: 'jp-cellpipe-flow-node',
      data: w.data
    };
    return node;
  });
  return changed ? next : previous;
}

/** Components whose name matches `query`: exact names first, then prefixes, then the rest. */
export function searchComponents(
  components: ReadonlyArray<{ id: string; name: string }>,
  query: string
): string[] {
  const q = query.trim().toLowerCase();
  if (!q) {
    return [];
  }
  const rank = (name: string) => {
    const n = name.toLowerCase();
    return n === q ? 0 : n.startsWith(q) ? 1 : n.includes(q) ? 2 : 3;
  };
  return components
    .map((c, index) => ({ id: c.id, rank: rank(c.name), index }))
    .filter(m => m.rank < 3)
    .sort((a, b) => a.rank - b.rank || a.index - b.index)
    .map(m => m.id);
}

/** The id of the notebook's active cell, following it. */
function useActiveCellId(model: PipelineModel): string {
  const notebook = model.panel.content;
  const read = () => notebook.activeCell?.model.sharedModel.getId() ?? '';
  const [active, setActive] = React.useState(read);
  React.useEffect(() => {
    const update = () => setActive(read());
    update();
    notebook.activeCellChanged.connect(update);
    return () => {
      notebook.activeCellChanged.disconnect(update);
    };
  }, [notebook]);
  return active;
}

function Graph(props: IGraphViewProps): JSX.Element {
  const { model, trans, direction, marks } = props;
  const flow = useReactFlow();
  const focus = model.focus;
  const components = focus
    ? model.components.filter(c => focus.ids.includes(c.id))
    : model.components;
  const [selectedEdges, setSelectedEdges] = React.useState<Set<string>>(new Set());
  const [hoveredEdge, setHoveredEdge] = React.useState<string | null>(null);
  const known = new Set(components.map(c => c.id));
  const structureKey = JSON.stringify(components.map(c => [c.id, c.parents])) + direction;
  const activeId = useActiveCellId(model);

  // The layout is computed off the render (ELK answers asynchronously); until the layout
  // of the current structure is in, the previous one stays on screen.
  const [layout, setLayout] = React.useState<(ILayout & { key: string; ms: number }) | null>(null);
  React.useEffect(() => {
    let cancelled = false;
    const started = performance.now();
    const edges = components.flatMap(c =>
      c.parents.filter(p => known.has(p)).map(p => ({ source: p, target: c.id }))
    );
    void layoutGraph(
      components.map(c => c.id),
      edges,
      direction
    ).then(result => {
      if (!cancelled) {
        setLayout({ ...result, key: structureKey, ms: performance.now() - started });
      }
    });
    return () => {
      cancelled = true;
    };
  }, [structureKey]);
  const positions = layout?.positions ?? new Map<string, IPoint>();

  const wanted = components
    .filter(c => positions.has(c.id))
    .map(c => {
      const worker = model.worker(c.id);
      return {
        id: c.id,
        position: positions.get(c.id)!,
        selected: c.id === activeId,
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
  // The nodes live in state: React Flow's own changes (measured sizes) are applied to
  // them, and a model change replaces only the nodes that changed.
  const [nodes, setNodes] = React.useState<ComponentNode[]>(() => nextNodes([], wanted));
  const current = nextNodes(nodes, wanted);
  if (current !== nodes) {
    setNodes(current);
  }
  const onNodesChange = React.useCallback(
    // selection is the notebook's active cell: React Flow's own select changes are dropped
    (changes: NodeChange<ComponentNode>[]) =>
      setNodes(ns =>
        applyNodeChanges(
          changes.filter(c => c.type !== 'select'),
          ns
        )
      ),
    []
  );

  const wrapper = React.useRef<HTMLDivElement>(null);
  const area = React.useRef<HTMLDivElement>(null);
  // The minimap shows, beside the canvas, for a graph larger than the view at a readable
  // size when there is room for it, or when the user asks for it. It depends on the whole
  // area, not on the canvas it narrows, so showing it never re-decides it.
  const [large, setLarge] = React.useState(false);
  const [mapChoice, setMapChoice] = React.useState<boolean | null>(null);
  const measureLarge = React.useCallback(() => {
    const box = area.current?.getBoundingClientRect();
    if (!box || !layout || box.width < 20) {
      return;
    }
    const big =
      layout.width * READABLE_ZOOM > box.width - 16 ||
      layout.height * READABLE_ZOOM > box.height - 16;
    setLarge(big && box.width >= MINIMAP_ROOM);
  }, [layout]);
  const showMap = mapChoice ?? large;
  const hasSize = () => {
    const box = wrapper.current?.getBoundingClientRect();
    return !!box && box.width > 20 && box.height > 20;
  };

  /**
   * The whole graph when it fits with names at 11 px or more; else at that size, centred
   * across the flow and from its start (the sources) along it.
   */
  const fitReadable = React.useCallback(async () => {
    const box = wrapper.current?.getBoundingClientRect();
    const nodes = flow.getNodes();
    if (!box || !nodes.length) {
      return;
    }
    const bounds = flow.getNodesBounds(nodes);
    const pad = 12;
    const zoom = Math.max(
      READABLE_ZOOM,
      Math.min(
        FIT_OPTIONS.maxZoom,
        (box.width - 2 * pad) / bounds.width,
        (box.height - 2 * pad) / bounds.height
      )
    );
    const centre = (size: number, start: number, length: number) =>
      (size - length * zoom) / 2 - start * zoom;
    const x =
      bounds.width * zoom <= box.width - 2 * pad || direction === 'TB'
        ? centre(box.width, bounds.x, bounds.width)
        : pad - bounds.x * zoom;
    const y =
      bounds.height * zoom <= box.height - 2 * pad || direction === 'LR'
        ? centre(box.height, bounds.y, bounds.height)
        : pad - bounds.y * zoom;
    await flow.setViewport({ x, y, zoom });
  }, [flow, direction]);

  // Fit the graph when a new layout is in and whenever the view is resized or shown.
  const layoutKey = layout?.key ?? '';
  React.useEffect(() => {
    if (!layout) {
      return;
    }
    let timer = 0;
    let first = true;
    const fit = () => {
      window.clearTimeout(timer);
      timer = window.setTimeout(
        () => {
          // A hidden or collapsing panel has no size to fit into; the next resize refits.
          if (hasSize()) {
            void fitReadable();
          }
        },
        first ? 0 : 60
      );
      first = false;
    };
    fit();
    measureLarge();
    const observer = new ResizeObserver(fit);
    if (wrapper.current) {
      observer.observe(wrapper.current);
    }
    const areaObserver = new ResizeObserver(measureLarge);
    if (area.current) {
      areaObserver.observe(area.current);
    }
    return () => {
      observer.disconnect();
      areaObserver.disconnect();
      window.clearTimeout(timer);
    };
  }, [layoutKey]);

  /** Centre a node, zoomed so its name reads at 11 px or more. */
  const centreOn = React.useCallback(
    (id: string, readable: boolean) => {
      const node = flow.getNode(id);
      if (!node) {
        return false;
      }
      const zoom = readable ? Math.max(flow.getZoom(), READABLE_ZOOM) : flow.getZoom();
      void flow.setCenter(node.position.x + NODE_WIDTH / 2, node.position.y + NODE_HEIGHT / 2, {
        zoom
      });
      return true;
    },
    [flow]
  );

  // The active cell's node comes into view when it is outside it (selection follows the
  // notebook); a search result waits for the layout that shows it.
  const pending = React.useRef<string | null>(null);
  React.useEffect(() => {
    if (pending.current && centreOn(pending.current, true)) {
      pending.current = null;
      return;
    }
    const node = activeId ? flow.getNode(activeId) : undefined;
    const box = wrapper.current?.getBoundingClientRect();
    if (!node || !box || !hasSize()) {
      return;
    }
    const { x, y, zoom } = flow.getViewport();
    const left = node.position.x * zoom + x;
    const top = node.position.y * zoom + y;
    const outside =
      left < 0 ||
      top < 0 ||
      left + NODE_WIDTH * zoom > box.width ||
      top + NODE_HEIGHT * zoom > box.height;
    if (outside) {
      centreOn(activeId, false);
    }
  }, [activeId, layoutKey]);

  const pick = (id: string) => {
    if (model.focus && !model.focus.ids.includes(id)) {
      pending.current = id;
      void model.focusOn(null);
    } else if (!centreOn(id, true)) {
      pending.current = id;
    }
    props.onNodeClick(id);
  };

  const edges: Edge[] = components.flatMap(c =>
    c.parents
      .filter(p => known.has(p) && positions.has(p) && positions.has(c.id))
      .map(p => {
        const id = edgeId(p, c.id);
        const via = layout?.routes.get(id);
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
          ...(via ? { type: 'routed', data: { via, vertical: direction === 'TB' } } : {})
        };
      })
  );
  const actions = React.useMemo(
    () => ({ onRun: props.onRun, onFix: props.onFix ?? (() => undefined) }),
    [props.onRun, props.onFix]
  );
  const ready = !!layout && layout.key === structureKey;

  return (
    <>
      <GraphBar
        model={model}
        trans={trans}
        onPick={pick}
        onFit={() => void flow.fitView(FIT_ALL_OPTIONS)}
        onZoom={factor => void flow.zoomTo(flow.getZoom() * factor)}
        showMap={showMap}
        onToggleMap={() => setMapChoice(!showMap)}
      />
      <div className="jp-cellpipe-graph-area" ref={area}>
        <div
          className="jp-cellpipe-graph-canvas"
          ref={wrapper}
          data-layout={ready ? 'ready' : 'pending'}
          data-layout-ms={layout ? Math.round(layout.ms) : undefined}
          data-focus={focus?.id}
        >
          <NodeActions.Provider value={actions}>
            <ReactFlow
              nodes={current}
              onNodesChange={onNodesChange}
              edges={edges}
              nodeTypes={nodeTypes}
              edgeTypes={edgeTypes}
              nodesDraggable={false}
              nodesConnectable={true}
              elementsSelectable={true}
              deleteKeyCode={['Delete', 'Backspace']}
              minZoom={0.02}
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
            </ReactFlow>
          </NodeActions.Provider>
        </div>
        {showMap && (
          // beside the canvas, never over it: it hides no node and takes no node's click
          <div className="jp-cellpipe-minimap-strip">
            <MiniMap
              className="jp-cellpipe-minimap"
              pannable
              zoomable
              nodeClassName={node =>
                `jp-cellpipe-status-${(node.data as ComponentNodeData).status}`
              }
            />
          </div>
        )}
      </div>
    </>
  );
}

/** Above the graph: search, the focus in force, zoom and *Fit View*. */
function GraphBar(props: {
  model: PipelineModel;
  trans: TranslationBundle;
  onPick: (id: string) => void;
  onFit: () => void;
  onZoom: (factor: number) => void;
  showMap: boolean;
  onToggleMap: () => void;
}): JSX.Element {
  const { model, trans } = props;
  const [query, setQuery] = React.useState('');
  const [hint, setHint] = React.useState('');
  const turn = React.useRef({ query: '', index: 0 });
  const focused = model.focus
    ? (model.components.find(c => c.id === model.focus!.id)?.name ?? '')
    : '';
  const search = () => {
    const matches = searchComponents(model.components, query);
    if (!matches.length) {
      setHint(query.trim() ? trans.__('no match') : '');
      return;
    }
    // Enter again: the next match
    const index = turn.current.query === query ? (turn.current.index + 1) % matches.length : 0;
    turn.current = { query, index };
    setHint(matches.length > 1 ? trans.__('%1 of %2', index + 1, matches.length) : '');
    props.onPick(matches[index]);
  };
  return (
    <div className="jp-cellpipe-graph-bar">
      <input
        type="search"
        className="jp-cellpipe-search jp-mod-styled"
        aria-label={trans.__('Search components')}
        placeholder={trans.__('Search components')}
        value={query}
        list={`jp-cellpipe-names-${model.panel.id}`}
        onChange={event => {
          setQuery(event.target.value);
          setHint('');
        }}
        onKeyDown={event => {
          // the notebook's shortcuts must not see what is typed here
          event.stopPropagation();
          if (event.key === 'Enter') {
            event.preventDefault();
            search();
          } else if (event.key === 'Escape') {
            setQuery('');
            setHint('');
          }
        }}
      />
      <datalist id={`jp-cellpipe-names-${model.panel.id}`}>
        {model.components.map(c => (
          <option key={c.id} value={c.name} />
        ))}
      </datalist>
      <span className="jp-cellpipe-search-hint" aria-live="polite">
        {hint}
      </span>
      {model.focus && (
        <span
          className="jp-cellpipe-focus-chip"
          title={trans.__('Showing %1, its ancestors and its descendants', focused)}
        >
          {trans.__('Focus: %1', focused)}
          <button className="jp-cellpipe-show-all" onClick={() => void model.focusOn(null)}>
            {trans.__('Show all')}
          </button>
        </span>
      )}
      <span className="jp-cellpipe-graph-bar-spacer" />
      <button
        className="jp-cellpipe-zoom-out"
        aria-label={trans.__('Zoom Out')}
        title={trans.__('Zoom Out')}
        onClick={() => props.onZoom(1 / 1.25)}
      >
        −
      </button>
      <button
        className="jp-cellpipe-zoom-in"
        aria-label={trans.__('Zoom In')}
        title={trans.__('Zoom In')}
        onClick={() => props.onZoom(1.25)}
      >
        +
      </button>
      <button
        className="jp-cellpipe-minimap-toggle"
        aria-pressed={props.showMap}
        title={trans.__('Show or hide the minimap beside the graph')}
        onClick={props.onToggleMap}
      >
        {trans.__('Map')}
      </button>
      <button
        className="jp-cellpipe-fit-view"
        aria-label={trans.__('Fit View')}
        title={trans.__('Fit View: every node in the view')}
        onClick={props.onFit}
      >
        {trans.__('Fit')}
      </button>
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
