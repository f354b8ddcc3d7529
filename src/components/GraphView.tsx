/** The pipeline graph: React Flow nodes for components, edges parent -> child. */
import {
  Background,
  Connection,
  Controls,
  Edge,
  Handle,
  MarkerType,
  Node,
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
import { layoutGraph } from './layout';

type ComponentNodeData = {
  name: string;
  status: NodeStatus;
  statusLabel: string;
  reason: string;
  worker: string;
  workerLabel: string;
  runLabel: string;
  vertical: boolean;
  onRun: (id: string) => void;
};

type ComponentNode = Node<ComponentNodeData, 'component'>;

function ComponentNodeView(props: NodeProps<ComponentNode>): JSX.Element {
  const { data, id } = props;
  return (
    <div
      className={`jp-cellpipe-node jp-cellpipe-status-${data.status}`}
      data-status={data.status}
      title={data.reason ? `${data.name}: ${data.reason}` : data.name}
    >
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
      </div>
      <button
        className="jp-cellpipe-node-run nodrag"
        title={data.runLabel}
        aria-label={data.runLabel}
        onClick={event => {
          event.stopPropagation();
          data.onRun(id);
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

const FIT_OPTIONS = { padding: 0.15, maxZoom: 1.2 };

export interface IGraphViewProps {
  model: PipelineModel;
  trans: TranslationBundle;
  direction: 'TB' | 'LR';
  /** A version number that changes whenever the model changed. */
  version: number;
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

function Graph(props: IGraphViewProps): JSX.Element {
  const { model, trans, direction } = props;
  const flow = useReactFlow();
  const components = model.components;
  const [selectedEdges, setSelectedEdges] = React.useState<Set<string>>(new Set());
  const known = new Set(components.map(c => c.id));
  const structureKey = JSON.stringify(components.map(c => [c.id, c.parents])) + direction;

  const positions = React.useMemo(() => {
    const edges = components.flatMap(c =>
      c.parents.filter(p => known.has(p)).map(p => ({ source: p, target: c.id }))
    );
    return layoutGraph(
      components.map(c => c.id),
      edges,
      direction
    );
  }, [structureKey]);

  // Fit the graph when its structure changes and whenever the panel is resized or shown.
  const wrapper = React.useRef<HTMLDivElement>(null);
  React.useEffect(() => {
    let timer = 0;
    const fit = () => {
      window.clearTimeout(timer);
      timer = window.setTimeout(() => {
        const box = wrapper.current?.getBoundingClientRect();
        // A hidden or collapsing panel has no size to fit into; the next resize refits.
        if (box && box.width > 20 && box.height > 20) {
          void flow.fitView(FIT_OPTIONS);
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

  const nodes: ComponentNode[] = components.map(c => {
    const status = model.status(c.id);
    const worker = model.worker(c.id);
    return {
      id: c.id,
      type: 'component',
      position: positions.get(c.id) ?? { x: 0, y: 0 },
      deletable: false,
      draggable: false,
      className: `jp-cellpipe-flow-node jp-cellpipe-status-${status}`,
      data: {
        name: c.name,
        status,
        statusLabel: statusLabel(trans, status),
        reason: model.reason(c.id),
        worker,
        workerLabel: trans.__('remote: %1', worker),
        runLabel: trans.__('Run component %1', c.name),
        vertical: direction === 'TB',
        onRun: props.onRun
      }
    };
  });
  const edges: Edge[] = components.flatMap(c =>
    c.parents
      .filter(p => known.has(p))
      .map(p => {
        const id = `${p}->${c.id}`;
        return {
          id,
          source: p,
          target: c.id,
          selected: selectedEdges.has(id),
          className: 'jp-cellpipe-edge',
          markerEnd: { type: MarkerType.ArrowClosed }
        };
      })
  );

  return (
    <div className="jp-cellpipe-graph-canvas" ref={wrapper}>
    <ReactFlow
      nodes={nodes}
      fitView
      fitViewOptions={FIT_OPTIONS}
      edges={edges}
      nodeTypes={nodeTypes}
      nodesDraggable={false}
      nodesConnectable={true}
      elementsSelectable={true}
      deleteKeyCode={['Delete', 'Backspace']}
      minZoom={0.2}
      maxZoom={2}
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
    </ReactFlow>
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
