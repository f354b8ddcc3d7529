/** The pipeline parameters (notebook metadata): name, type and value, editable. */
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { IParameter } from '../tokens';

const TYPES: IParameter['type'][] = ['int', 'float', 'str', 'bool', 'json'];

export interface IParametersFormProps {
  parameters: { [name: string]: IParameter };
  trans: TranslationBundle;
  onChange: (params: { [name: string]: IParameter }) => void;
  /** Shown, not edited (a Link notebook's parameters before conversion). */
  readOnly?: boolean;
}

/** The text a value is edited as. */
function asText(param: IParameter): string {
  return param.type === 'json' || typeof param.value !== 'string'
    ? JSON.stringify(param.value)
    : param.value;
}

/** The value of edited text for a type; throws a message when it does not fit. */
function parseValue(type: IParameter['type'], text: string): unknown {
  switch (type) {
    case 'int': {
      const n = Number(text);
      if (!Number.isInteger(n)) {
        throw new Error(`${text} is not a whole number`);
      }
      return n;
    }
    case 'float': {
      const n = Number(text);
      if (text.trim() === '' || Number.isNaN(n)) {
        throw new Error(`${text} is not a number`);
      }
      return n;
    }
    case 'bool':
      if (/^(true|1|yes|on)$/i.test(text)) {
        return true;
      }
      if (/^(false|0|no|off)$/i.test(text)) {
        return false;
      }
      throw new Error(`${text} is not true/false`);
    case 'json':
      return JSON.parse(text);
    default:
      return text;
  }
}

function ParameterRow(props: {
  name: string;
  param: IParameter;
  trans: TranslationBundle;
  onValue: (value: unknown) => void;
  onRemove: () => void;
  readOnly?: boolean;
}): JSX.Element {
  const { name, param, trans } = props;
  const [text, setText] = React.useState(asText(param));
  const [error, setError] = React.useState('');
  React.useEffect(() => setText(asText(param)), [JSON.stringify(param)]);
  const commit = () => {
    try {
      const value = parseValue(param.type, text);
      setError('');
      if (JSON.stringify(value) !== JSON.stringify(param.value)) {
        props.onValue(value);
      }
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <tr className="jp-cellpipe-param" data-name={name}>
      <td className="jp-cellpipe-param-name">{name}</td>
      <td className="jp-cellpipe-param-type">{param.type}</td>
      <td>
        <input
          className="jp-cellpipe-param-value jp-mod-styled"
          aria-label={trans.__('Value of %1', name)}
          value={text}
          readOnly={props.readOnly}
          title={error}
          aria-invalid={error ? true : undefined}
          onChange={e => setText(e.target.value)}
          onBlur={commit}
          onKeyDown={e => {
            if (e.key === 'Enter') {
              commit();
            }
          }}
        />
      </td>
      <td>
        {!props.readOnly && (
          <button
            className="jp-cellpipe-param-remove jp-mod-minimal jp-Button"
            title={trans.__('Remove parameter %1', name)}
            onClick={props.onRemove}
          >
            ×
          </button>
        )}
      </td>
    </tr>
  );
}

export function ParametersForm(props: IParametersFormProps): JSX.Element {
  const { parameters, trans } = props;
  const [name, setName] = React.useState('');
  const [type, setType] = React.useState<IParameter['type']>('float');
  const [value, setValue] = React.useState('');
  const [error, setError] = React.useState('');
  const add = () => {
    try {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new Error(trans.__('%1 is not a Python identifier', name || '""'));
      }
      props.onChange({ ...parameters, [name]: { type, value: parseValue(type, value) } });
      setName('');
      setValue('');
      setError('');
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <div className="jp-cellpipe-params">
      <table>
        <tbody>
          {Object.entries(parameters).map(([n, p]) => (
            <ParameterRow
              key={n}
              name={n}
              param={p}
              trans={trans}
              readOnly={props.readOnly}
              onValue={v => props.onChange({ ...parameters, [n]: { ...p, value: v } })}
              onRemove={() => {
                const next = { ...parameters };
                delete next[n];
                props.onChange(next);
              }}
            />
          ))}
        </tbody>
      </table>
      {props.readOnly ? null : (
        <div className="jp-cellpipe-param-add">
          <input
            className="jp-mod-styled"
            placeholder={trans.__('name')}
            aria-label={trans.__('New parameter name')}
            value={name}
            onChange={e => setName(e.target.value)}
          />
          <select
            className="jp-mod-styled"
            aria-label={trans.__('New parameter type')}
            value={type}
            onChange={e => setType(e.target.value as IParameter['type'])}
          >
            {TYPES.map(t => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
          <input
            className="jp-mod-styled"
            placeholder={trans.__('value')}
            aria-label={trans.__('New parameter value')}
            value={value}
            onChange={e => setValue(e.target.value)}
            onKeyDown={e => {
              if (e.key === 'Enter') {
                add();
              }
            }}
          />
          <button className="jp-Button jp-mod-styled jp-mod-accept" onClick={add}>
            {trans.__('Add')}
          </button>
        </div>
      )}
      {error && <div className="jp-cellpipe-param-error">{error}</div>}
    </div>
  );
}
