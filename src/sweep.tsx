/**
 * Sweeps from the panel (docs/sweeps.md): a *Sweep…* dialog beside the parameters (lists or
 * ranges per parameter, objective, trials, jobs), and the results table while it runs.
 * Python runs the sweep (POST cellpipe/sweeps); this view polls its rows, sorts them and
 * marks the best; choosing a row puts its parameters into the form and its outputs, read
 * from the cache, into the cells.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { CodeCell } from '@jupyterlab/cells';
import * as nbformat from '@jupyterlab/nbformat';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';
import * as React from 'react';

import { PipelineModel } from './model';
import * as nb from './notebookpipeline';
import { NotebookJSON } from './rest';
import { requestJSON, ServerError } from './server';

/** One combination, as GET cellpipe/sweeps/<id> shows it. */
export interface ISweepRow {
  index: number;
  params: { [name: string]: unknown };
  values: { [name: string]: unknown };
  status: 'running' | 'done' | 'cached' | 'error';
  error?: string;
  seconds: number;
  best: boolean;
}

export interface ISweep {
  id: string;
  state: 'running' | 'done' | 'stopped' | 'error';
  message: string;
  swept: string[];
  objective: string | null;
  direction: 'minimize' | 'maximize';
  rows: ISweepRow[];
}

export interface ISweepRequest {
  target: string;
  params: { [name: string]: string };
  jobs: number;
  objective: string | null;
  maximize: boolean;
  trials: number | null;
}

export const sweeps = {
  start: (notebook: NotebookJSON, path: string, request: ISweepRequest) =>
    requestJSON<ISweep>('sweeps', { body: { notebook, path, ...request } }),
  get: (id: string) => requestJSON<ISweep>(`sweeps/${id}`),
  stop: (id: string) => requestJSON<{ id: string }>(`sweeps/${id}`, { method: 'DELETE' }),
  row: (id: string, index: number) =>
    requestJSON<{
      parameters: { [name: string]: unknown };
      outputs: { [cellId: string]: nbformat.IOutput[] };
    }>(`sweeps/${id}/rows/${index}`)
};

/** The dialog's body: a text per parameter, the target, objective, trials and jobs. */
class SweepForm extends Widget {
  constructor(model: PipelineModel, trans: TranslationBundle) {
    super();
    this.addClass('jp-cellpipe-sweep-form');
    const params = nb.parameters(model.panel.context.model);
    const field = (label: string, input: HTMLElement) => {
      const row = document.createElement('label');
      row.className = 'jp-cellpipe-sweep-field';
      const text = document.createElement('span');
      text.textContent = label;
      row.append(text, input);
      this.node.append(row);
    };
    const input = (name: string, placeholder: string, value = '') => {
      const el = document.createElement('input');
      el.className = 'jp-mod-styled';
      el.name = name;
      el.placeholder = placeholder;
      el.value = value;
      return el;
    };
    this._target = document.createElement('select');
    this._target.className = 'jp-mod-styled';
    this._target.name = 'target';
    const components = model.components;
    for (const c of components) {
      const option = document.createElement('option');
      option.value = c.id;
      option.textContent = c.name;
      this._target.append(option);
    }
    const sinks = components.filter(c => !components.some(o => o.parents.includes(c.id)));
    this._target.value = (sinks[sinks.length - 1] ?? components[components.length - 1])?.id ?? '';
    field(trans.__('Target'), this._target);
    for (const [name, param] of Object.entries(params)) {
      const el = input(
        `param-${name}`,
        param.type === 'int' || param.type === 'float'
          ? trans.__('V1,V2,… or LOW..HIGH[:log]')
          : trans.__('V1,V2,…'),
        String(param.value)
      );
      this._params.set(name, el);
      field(`${name} (${param.type})`, el);
    }
    this._objective = input('objective', trans.__('a number the target binds'));
    field(trans.__('Objective'), this._objective);
    this._maximize = document.createElement('select');
    this._maximize.className = 'jp-mod-styled';
    this._maximize.name = 'direction';
    for (const [value, label] of [
      ['min', trans.__('minimize')],
      ['max', trans.__('maximize')]
    ]) {
      const option = document.createElement('option');
      option.value = value;
      option.textContent = label;
      this._maximize.append(option);
    }
    field(trans.__('Direction'), this._maximize);
    this._trials = input('trials', trans.__('empty: every combination of the lists'));
    field(trans.__('Trials (Optuna)'), this._trials);
    this._jobs = input('jobs', '1', '1');
    field(trans.__('Jobs at once'), this._jobs);
  }

  getValue(): ISweepRequest {
    const params: { [name: string]: string } = {};
    for (const [name, el] of this._params) {
      if (el.value.trim()) {
        params[name] = el.value.trim();
      }
    }
    const trials = parseInt(this._trials.value, 10);
    return {
      target: this._target.value,
      params,
      jobs: Math.max(1, parseInt(this._jobs.value, 10) || 1),
      objective: this._objective.value.trim() || null,
      maximize: this._maximize.value === 'max',
      trials: Number.isFinite(trials) && trials > 0 ? trials : null
    };
  }

  private _params = new Map<string, HTMLInputElement>();
  private _target: HTMLSelectElement;
  private _objective: HTMLInputElement;
  private _maximize: HTMLSelectElement;
  private _trials: HTMLInputElement;
  private _jobs: HTMLInputElement;
}

function show(value: unknown): string {
  if (value === null || value === undefined) {
    return '';
  }
  if (typeof value === 'number') {
    return Number.isInteger(value) ? String(value) : value.toPrecision(6).replace(/\.?0+$/, '');
  }
  return String(value);
}

function compare(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') {
    return a - b;
  }
  return show(a).localeCompare(show(b));
}

/** The rows of a sweep: sortable by any column (click its header), best row marked. */
export function SweepTable(props: {
  sweep: ISweep;
  chosen: number | null;
  onChoose: (row: ISweepRow) => void;
  trans: TranslationBundle;
}): JSX.Element {
  const { sweep, trans } = props;
  const [sort, setSort] = React.useState<{ key: string; up: boolean } | null>(null);
  const valueNames = [...new Set(sweep.rows.flatMap(r => Object.keys(r.values)))];
  const columns: [string, (r: ISweepRow) => unknown][] = [
    ...sweep.swept.map(n => [n, (r: ISweepRow) => r.params[n]] as [string, typeof show]),
    ...valueNames.map(n => [n, (r: ISweepRow) => r.values[n]] as [string, typeof show]),
    ['status', (r: ISweepRow) => r.status],
    ['seconds', (r: ISweepRow) => r.seconds]
  ];
  const rows = [...sweep.rows];
  if (sort) {
    const get = columns.find(c => c[0] === sort.key)?.[1];
    if (get) {
      rows.sort((a, b) => compare(get(a), get(b)) * (sort.up ? 1 : -1));
    }
  }
  return (
    <table className="jp-cellpipe-sweep-table">
      <thead>
        <tr>
          {columns.map(([name]) => (
            <th
              key={name}
              data-column={name}
              title={trans.__('Sort by %1', name)}
              onClick={() => setSort({ key: name, up: sort?.key === name ? !sort.up : true })}
            >
              {name}
              {sort?.key === name ? (sort.up ? ' ▲' : ' ▼') : ''}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map(r => (
          <tr
            key={r.index}
            data-index={r.index}
            data-status={r.status}
            className={
              'jp-cellpipe-sweep-row' +
              (r.best ? ' jp-mod-best' : '') +
              (props.chosen === r.index ? ' jp-mod-selected' : '')
            }
            title={r.error || trans.__('Show this combination')}
            onClick={() => r.status !== 'running' && props.onChoose(r)}
          >
            {columns.map(([name, get]) => (
              <td key={name}>{name === 'seconds' ? r.seconds.toFixed(2) : show(get(r))}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The latest sweep of each notebook (by path): the table comes back when the panel does. */
const latest = new Map<string, string>();

/** "Sweep": the Sweep… button and the table of the latest sweep of this notebook. */
export function SweepSection(props: {
  model: PipelineModel;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { model, trans } = props;
  const [sweep, setSweep] = React.useState<ISweep | null>(null);
  const [chosen, setChosen] = React.useState<number | null>(null);
  const [message, setMessage] = React.useState('');
  const running = sweep?.state === 'running';
  React.useEffect(() => {
    const id = latest.get(model.panel.context.path);
    if (id && !sweep) {
      sweeps.get(id).then(setSweep, () => latest.delete(model.panel.context.path));
    }
  }, [model]);
  React.useEffect(() => {
    if (!sweep || !running) {
      return;
    }
    const timer = setInterval(() => {
      sweeps.get(sweep.id).then(setSweep, error => setMessage((error as Error).message));
    }, 500);
    return () => clearInterval(timer);
  }, [sweep?.id, running]);

  if (model.isLink || model.components.length === 0) {
    return null;
  }
  const start = async () => {
    const result = await showDialog({
      title: trans.__('Sweep'),
      body: new SweepForm(model, trans),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: trans.__('Start') })]
    });
    if (!result.button.accept || !result.value) {
      return;
    }
    try {
      setMessage('');
      setChosen(null);
      const context = model.panel.context;
      const started = await sweeps.start(nb.syncPayload(context.model), context.path, result.value);
      latest.set(context.path, started.id);
      setSweep(started);
    } catch (error) {
      setMessage(error instanceof ServerError ? error.message : String(error));
    }
  };
  const choose = async (row: ISweepRow) => {
    if (!sweep) {
      return;
    }
    try {
      const reply = await sweeps.row(sweep.id, row.index);
      const params = nb.parameters(model.panel.context.model);
      for (const name of Object.keys(row.params)) {
        if (params[name]) {
          params[name] = { ...params[name], value: reply.parameters[name] };
        }
      }
      model.setParameters(params);
      for (const cell of model.panel.content.widgets) {
        const outputs = reply.outputs[cell.model.sharedModel.getId()];
        if (cell instanceof CodeCell && outputs) {
          cell.model.outputs.clear();
          outputs.forEach(o => cell.model.outputs.add(o));
        }
      }
      setChosen(row.index);
    } catch (error) {
      setMessage((error as Error).message);
    }
  };
  return (
    <details className="jp-cellpipe-sweep-section" open>
      <summary>{trans.__('Sweep')}</summary>
      <div className="jp-cellpipe-sweep-bar">
        <button className="jp-mod-styled jp-cellpipe-sweep-start" onClick={() => void start()}>
          {trans.__('Sweep…')}
        </button>
        {running && (
          <button
            className="jp-mod-styled jp-cellpipe-sweep-stop"
            onClick={() => void sweeps.stop(sweep.id)}
          >
            {trans.__('Stop')}
          </button>
        )}
        {sweep && (
          <span className="jp-cellpipe-sweep-state" data-state={sweep.state}>
            {sweep.state === 'error' ? sweep.message : trans.__(sweep.state)}
          </span>
        )}
      </div>
      {message && <div className="jp-cellpipe-sweep-message jp-mod-error">{message}</div>}
      {sweep && sweep.rows.length > 0 && (
        <SweepTable sweep={sweep} chosen={chosen} onChoose={r => void choose(r)} trans={trans} />
      )}
    </details>
  );
}
