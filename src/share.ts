/**
 * Export and import from the pipeline panel: the pipeline as JSON and the cache as a
 * .tar.gz archive, through the server's share endpoints (docs/rest-api.md). Python does
 * the work; this only moves files and asks the user.
 */
import { Dialog, InputDialog, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { element } from './git/dom';
import { PipelineModel } from './model';
import * as nb from './notebookpipeline';
import { IExportFormat, share } from './rest';
import { ServerError } from './server';

function notebookContent(model: PipelineModel): any {
  return model.panel.context.model.toJSON();
}

function fail(model: PipelineModel, trans: TranslationBundle, what: string, error: unknown) {
  model.setBanner({ kind: 'error', text: trans.__('%1: %2', what, (error as Error).message) });
}

export async function exportPipeline(model: PipelineModel, trans: TranslationBundle) {
  try {
    const reply = await share.exportPipeline(notebookContent(model));
    // the live notebook (unsaved edits included) has no name on the server: use its own
    const stem = model.panel.context.path
      .split('/')
      .pop()!
      .replace(/\.ipynb$/, '');
    const filename = stem ? `${stem}.pipeline.json` : reply.filename;
    download(filename, new Blob([reply.text], { type: 'application/json' }));
    model.setBanner({
      kind: 'info',
      text: trans.__('Exported %1 components to %2.', reply.components, filename)
    });
  } catch (error) {
    fail(model, trans, trans.__('Export failed'), error);
  }
}

/** The pipeline as a Python program (py) or for Kubeflow (kfp), as `cellpipe export
 * --format` writes it; kfp asks for the data store and the image first. */
export async function exportProduction(
  model: PipelineModel,
  trans: TranslationBundle,
  format: 'py' | 'kfp'
) {
  try {
    const as: IExportFormat & { path: string } = { format, path: model.panel.context.path };
    if (format === 'kfp') {
      const title = trans.__('Export for Kubeflow');
      const store = await InputDialog.getText({
        title,
        label: trans.__('Data store every step reads and writes (fsspec URL)'),
        placeholder: 's3://bucket/prefix'
      });
      if (!store.button.accept || !store.value) {
        return;
      }
      const image = await InputDialog.getText({
        title,
        label: trans.__(
          'Image of the steps, with cellpipe[kfp] and your libraries (empty: plain Python, installs them)'
        )
      });
      if (!image.button.accept) {
        return;
      }
      as.store = store.value;
      as.image = image.value || undefined;
    }
    const reply = await share.exportPipeline(notebookContent(model), as);
    download(reply.filename, new Blob([reply.text], { type: 'text/plain' }));
    if (reply.dsl && reply.dsl_filename) {
      download(reply.dsl_filename, new Blob([reply.dsl], { type: 'text/x-python' }));
    }
    const files = [reply.filename, reply.dsl_filename].filter(Boolean).join(', ');
    model.setBanner({
      kind: 'info',
      text: [
        trans.__('Exported %1 components to %2.', reply.components, files),
        ...(reply.notes ?? [])
      ].join(' ')
    });
  } catch (error) {
    fail(model, trans, trans.__('Export failed'), error);
  }
}

export async function importPipeline(
  model: PipelineModel,
  trans: TranslationBundle,
  file?: File | null
) {
  file = file ?? (await pickFile('.json,application/json'));
  if (!file) {
    return;
  }
  const text = await file.text();
  const send = (overwrite: boolean) =>
    share.importPipeline({
      text,
      source: file!.name,
      notebook: notebookContent(model),
      overwrite_params: overwrite
    });
  let reply;
  try {
    try {
      reply = await send(false);
    } catch (error) {
      if (!(error instanceof ServerError) || error.kind !== 'ParameterError') {
        throw error;
      }
      const answer = await showDialog({
        title: trans.__('Parameters differ'),
        body: error.message,
        buttons: [
          Dialog.cancelButton(),
          Dialog.warnButton({ label: trans.__("Use the file's values") })
        ]
      });
      if (!answer.button.accept) {
        return;
      }
      reply = await send(true);
    }
  } catch (error) {
    fail(model, trans, trans.__('Import failed'), error);
    return;
  }
  nb.appendCells(model.panel.context.model, reply.cells, reply.metadata);
  model.setBanner({
    kind: 'info',
    text: [
      trans.__('Imported %1 components from %2.', reply.cells.length, file.name),
      ...reply.messages
    ].join('\n')
  });
}

export async function exportCache(model: PipelineModel, trans: TranslationBundle) {
  const path = model.panel.context.path;
  try {
    await model.panel.context.save(); // the archive is of the notebook on disk
    const plan = await share.cacheExportPlan(path);
    download(plan.filename, await share.cacheExport(path));
    const missing = plan.missing.map(m => m.name).join(', ');
    model.setBanner({
      kind: 'info',
      text: missing
        ? trans.__(
            'Exported %1 results to %2; without a current result (run them first): %3',
            plan.entries.length,
            plan.filename,
            missing
          )
        : trans.__('Exported %1 results to %2.', plan.entries.length, plan.filename)
    });
  } catch (error) {
    fail(model, trans, trans.__('Cache export failed'), error);
  }
}

export async function importCache(
  model: PipelineModel,
  trans: TranslationBundle,
  file?: File | null
) {
  file = file ?? (await pickFile('.gz,.tgz,application/gzip'));
  if (!file) {
    return;
  }
  const path = model.panel.context.path;
  let upload = '';
  try {
    upload = await share.upload(file);
    const send = (trust: boolean) => share.importCache(upload, path, trust);
    let reply;
    try {
      reply = await send(false);
    } catch (error) {
      if (!(error instanceof ServerError) || error.kind !== 'ConfirmationRequired') {
        throw error;
      }
      const summary = (error.body?.summary ?? {}) as { entries?: unknown[]; hits?: string[] };
      const body = new Widget();
      body.node.append(
        element('p', '', error.message),
        element(
          'p',
          '',
          trans.__(
            '%1 results; from the cache afterwards: %2',
            (summary.entries ?? []).length,
            (summary.hits ?? []).join(', ') || trans.__('none')
          )
        )
      );
      const answer = await showDialog({
        title: trans.__('Import results from %1?', file.name),
        body,
        buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: trans.__('Import') })]
      });
      if (!answer.button.accept) {
        await share.discardUpload(upload);
        return;
      }
      reply = await send(true);
    }
    await model.syncNow(true); // the statuses of what is now in the cache
    model.setBanner({
      kind: 'info',
      text: trans.__(
        'Imported %1 results (%2 already present); from the cache: %3',
        reply.imported,
        reply.skipped,
        (reply.hits ?? []).join(', ') || trans.__('none')
      )
    });
  } catch (error) {
    fail(model, trans, trans.__('Cache import failed'), error);
  }
}

/** Offer data to the user as a file download. */
function download(filename: string, data: Blob): void {
  const url = URL.createObjectURL(data);
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Ask the user for one file (an <input type=file> click). */
function pickFile(accept: string): Promise<File | null> {
  return new Promise(resolve => {
    const input = document.createElement('input');
    input.type = 'file';
    input.accept = accept;
    input.className = 'jp-cellpipe-file-input';
    input.style.display = 'none';
    input.onchange = () => {
      resolve(input.files?.[0] ?? null);
      input.remove();
    };
    input.oncancel = () => {
      resolve(null);
      input.remove();
    };
    document.body.appendChild(input);
    input.click();
  });
}
