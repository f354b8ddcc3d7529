/** "Last run": cellpipe's notices and what happened to each component. */
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { PipelineModel } from '../../model';
import { statusLabel } from '../GraphView';

function Notices(props: { model: PipelineModel; trans: TranslationBundle }): JSX.Element {
  const { model, trans } = props;
  return (
    <div className="jp-cellpipe-notices" role="status">
      <div className="jp-cellpipe-notices-header">
        <span>{trans.__('Notices')}</span>
        {model.notices.length > 1 && (
          <button className="jp-cellpipe-notices-clear" onClick={() => model.dismissNotice()}>
            {trans.__('Dismiss all')}
          </button>
        )}
      </div>
      <ul className="jp-cellpipe-notice-list">
        {model.notices.map(text => (
          <li key={text} className="jp-cellpipe-notice">
            <span className="jp-cellpipe-notice-text">{text}</span>
            <button
              className="jp-cellpipe-message-close jp-cellpipe-notice-dismiss"
              aria-label={trans.__('Dismiss')}
              title={trans.__('Dismiss')}
              onClick={() => model.dismissNotice(text)}
            >
              ×
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}

export function RunLogSection(props: {
  model: PipelineModel;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { model, trans } = props;
  if (model.runLog.length === 0 && model.notices.length === 0) {
    return null;
  }
  return (
    <details className="jp-cellpipe-runlog-section" open>
      <summary>{trans.__('Last run')}</summary>
      {model.notices.length > 0 && <Notices model={model} trans={trans} />}
      <ol className="jp-cellpipe-runlog">
        {model.runLog.map(entry => (
          <li
            key={entry.id}
            className={`jp-cellpipe-runlog-entry jp-cellpipe-status-${entry.status}`}
            data-name={entry.name}
            data-status={entry.status}
            title={entry.reason}
          >
            <span className="jp-cellpipe-runlog-name">{entry.name}</span>
            <span className="jp-cellpipe-badge jp-cellpipe-badge-status">
              {statusLabel(trans, entry.status)}
            </span>
            {entry.worker && (
              <span className="jp-cellpipe-badge jp-cellpipe-badge-remote">
                {trans.__('remote: %1', entry.worker)}
              </span>
            )}
            {entry.elapsed !== null && (
              <span className="jp-cellpipe-runlog-time">
                {trans.__('%1 s', entry.elapsed.toFixed(2))}
              </span>
            )}
          </li>
        ))}
      </ol>
    </details>
  );
}
