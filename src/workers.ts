/** The Workers panel: the registered remote workers; add, test and remove them. */
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { element } from './git/dom';
import { IWorker, workers } from './rest';

export class WorkersPanel extends Widget {
  constructor(private readonly trans: TranslationBundle) {
    super();
    this.addClass('jp-cellpipe-workers');
    this.title.caption = trans.__('Workers (cellpipe)');
    this._list = element('div', 'jp-cellpipe-workers-list');
    this._message = element('div', 'jp-cellpipe-workers-message');
    const form = element('form', 'jp-cellpipe-workers-add');
    const field = (name: string, placeholder: string) => {
      const input = element('input', 'jp-mod-styled');
      input.name = name;
      input.placeholder = placeholder;
      input.setAttribute('aria-label', placeholder);
      return input;
    };
    const alias = field('alias', trans.__('alias, e.g. gpu-box'));
    const queue = field('queue', trans.__('queue, e.g. redis://host:6379/0'));
    const store = field('store', trans.__('store, e.g. s3://bucket/cellpipe'));
    const add = element('button', 'jp-mod-styled jp-mod-accept', trans.__('Add worker'));
    add.type = 'submit';
    form.append(element('strong', '', trans.__('Add a worker')), alias, queue, store, add);
    form.onsubmit = event => {
      event.preventDefault();
      void this.add(alias.value.trim(), queue.value.trim(), store.value.trim()).then(ok => {
        if (ok) {
          form.reset();
        }
      });
    };
    this.node.append(element('h3', '', trans.__('Workers')), this._list, this._message, form);
  }

  protected onAfterShow(): void {
    void this.refresh();
  }

  protected onAfterAttach(): void {
    void this.refresh();
  }

  async refresh(): Promise<void> {
    let list: IWorker[];
    try {
      list = await workers.list();
    } catch (error) {
      this.say((error as Error).message, true);
      return;
    }
    this._list.replaceChildren(...list.map(w => this.row(w)));
  }

  private row(worker: IWorker): HTMLElement {
    const trans = this.trans;
    const row = element('div', 'jp-cellpipe-worker');
    row.dataset.alias = worker.alias;
    const where = [worker.queue, worker.store].filter(Boolean).join(' · ');
    row.append(
      element('div', 'jp-cellpipe-worker-alias', worker.alias),
      element('div', 'jp-cellpipe-worker-kind', `${worker.kind}${where ? ' · ' + where : ''}`)
    );
    const status = element('div', 'jp-cellpipe-worker-status');
    const buttons = element('div', 'jp-cellpipe-worker-buttons');
    const test = element('button', 'jp-mod-styled jp-cellpipe-worker-test', trans.__('Test'));
    test.onclick = async () => {
      status.textContent = trans.__('testing…');
      status.dataset.ok = '';
      try {
        const ping = await workers.ping(worker.alias);
        status.textContent = `${ping.ok ? '✓' : '✗'} ${ping.message} (${ping.elapsed_ms.toFixed(0)} ms)`;
        status.dataset.ok = String(ping.ok);
      } catch (error) {
        status.textContent = `✗ ${(error as Error).message}`;
        status.dataset.ok = 'false';
      }
    };
    buttons.append(test);
    if (!worker.builtin) {
      const remove = element(
        'button',
        'jp-mod-styled jp-mod-warn jp-cellpipe-worker-remove',
        trans.__('Remove')
      );
      remove.onclick = async () => {
        try {
          await workers.remove(worker.alias);
          this.say(trans.__('Removed %1.', worker.alias));
        } catch (error) {
          this.say((error as Error).message, true);
        }
        await this.refresh();
      };
      buttons.append(remove);
    }
    row.append(buttons, status);
    return row;
  }

  private async add(alias: string, queue: string, store: string): Promise<boolean> {
    try {
      await workers.add(alias, queue, store);
    } catch (error) {
      this.say((error as Error).message, true);
      return false;
    }
    this.say(this.trans.__('Added %1. Test it before running components there.', alias));
    await this.refresh();
    return true;
  }

  private say(text: string, error = false): void {
    this._message.textContent = text;
    this._message.classList.toggle('jp-mod-error', error);
  }

  private _list: HTMLDivElement;
  private _message: HTMLDivElement;
}
