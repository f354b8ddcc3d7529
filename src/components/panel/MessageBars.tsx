/** What the panel tells above the graph: Link conversion, the banner, the kernel's problems. */
import { TranslationBundle } from '@jupyterlab/translation';
import * as React from 'react';

import { PipelineModel } from '../../model';

/** A Link notebook: convert it; after converting: undo. */
export function LinkBar(props: {
  model: PipelineModel;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { model, trans } = props;
  if (model.isLink) {
    return (
      <div className="jp-cellpipe-linkbar" role="status">
        <span>
          {trans.__(
            'A MakinaRocks Link notebook: the graph is read from its canvas metadata. Convert it to edit the graph; its parameters are kept.'
          )}
        </span>
        <button
          className="jp-Button jp-mod-styled jp-mod-accept jp-cellpipe-convert"
          onClick={() => void model.convertLink()}
        >
          {trans.__('Convert to cellpipe format')}
        </button>
      </div>
    );
  }
  if (model.canUndoConversion) {
    return (
      <div className="jp-cellpipe-linkbar">
        <span>{trans.__('Converted from Link format.')}</span>
        <button
          className="jp-Button jp-mod-styled jp-cellpipe-undo-convert"
          onClick={() => model.undoConversion()}
        >
          {trans.__('Undo conversion')}
        </button>
      </div>
    );
  }
  return null;
}

/** The model's one message (an error or a note), dismissable. */
export function Banner(props: {
  model: PipelineModel;
  trans: TranslationBundle;
}): JSX.Element | null {
  const { model, trans } = props;
  const banner = model.banner;
  if (!banner) {
    return null;
  }
  return (
    <div
      className={`jp-cellpipe-message jp-cellpipe-message-${banner.kind}`}
      role={banner.kind === 'error' ? 'alert' : 'status'}
    >
      <span className="jp-cellpipe-message-text">{banner.text}</span>
      <button
        className="jp-cellpipe-message-close"
        aria-label={trans.__('Dismiss')}
        onClick={() => model.setBanner(null)}
      >
        ×
      </button>
    </div>
  );
}

/** What the kernel says is wrong with the pipeline (e.g. a cycle). */
export function Problems(props: { model: PipelineModel }): JSX.Element | null {
  const problems = props.model.state?.problems ?? [];
  if (!problems.length) {
    return null;
  }
  return (
    <ul className="jp-cellpipe-problems">
      {problems.map(p => (
        <li key={p}>{p}</li>
      ))}
    </ul>
  );
}
