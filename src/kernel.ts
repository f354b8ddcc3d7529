import { ISessionContext } from '@jupyterlab/apputils';
import { Kernel, KernelMessage as KM } from '@jupyterlab/services';
import { PromiseDelegate } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';
import { ISignal, Signal } from '@lumino/signaling';

import { COMM_TARGET, KernelMessage, Request } from './protocol';

/** Where the link to the kernel extension stands. */
export type LinkStatus = 'no-kernel' | 'loading' | 'ready' | 'unavailable';

/**
 * The comm to cellpipe's kernel extension for one notebook session: loads the
 * extension whenever a kernel (re)starts, sends requests and hands out replies.
 */
export class KernelLink implements IDisposable {
  constructor(private readonly _session: ISessionContext) {
    _session.statusChanged.connect(this._onKernelStatus, this);
    _session.kernelChanged.connect(this._onKernelChanged, this);
    void _session.ready.then(() => this._ensureLoaded());
  }

  /** Messages the kernel sends without being asked (state, run, event). */
  get received(): ISignal<this, KernelMessage> {
    return this._received;
  }

  get statusChanged(): ISignal<this, LinkStatus> {
    return this._statusChanged;
  }

  get status(): LinkStatus {
    return this._status;
  }

  /** Why the link is unavailable, when it is. */
  get problem(): string {
    return this._problem;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Send a request and resolve with the reply that echoes its request id. */
  async request(data: Request): Promise<KernelMessage> {
    const comm = await this._ready();
    const requestId = `fe-${++this._counter}`;
    const reply = new PromiseDelegate<KernelMessage>();
    this._pending.set(requestId, reply);
    comm.send({ ...data, request_id: requestId } as any);
    return reply.promise;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    Signal.clearData(this);
    this._closeComm();
  }

  private async _ready(): Promise<Kernel.IComm> {
    if (!this._comm) {
      this._attempted = false;
      await this._ensureLoaded();
    }
    if (!this._comm) {
      throw new Error(this._problem || 'the cellpipe kernel extension is not loaded');
    }
    return this._comm;
  }

  private _onKernelChanged(): void {
    // a new kernel is on its way: "connecting", not a flash of "no kernel"
    this._closeComm(this._session.session?.kernel ? 'loading' : 'no-kernel');
    this._attempted = false;
    void this._ensureLoaded();
  }

  private _onKernelStatus(_: ISessionContext, status: Kernel.Status): void {
    if (status === 'restarting' || status === 'autorestarting' || status === 'dead') {
      // a restarting kernel comes back: the link is reconnecting, not gone
      this._closeComm(status === 'dead' ? 'no-kernel' : 'loading');
      this._attempted = false;
    } else if (status === 'idle' && !this._attempted && !this._loading) {
      void this._ensureLoaded();
    }
  }

  private _ensureLoaded(): Promise<void> {
    if (this._comm) {
      return Promise.resolve();
    }
    if (!this._loading) {
      this._loading = this._load().finally(() => {
        this._loading = null;
      });
    }
    return this._loading;
  }

  private async _load(): Promise<void> {
    const kernel = this._session.session?.kernel;
    if (!kernel || this._disposed) {
      this._setStatus('no-kernel');
      return;
    }
    this._attempted = true;
    this._setStatus('loading');
    try {
      const reply = await kernel.requestExecute({
        code: '%load_ext cellpipe',
        silent: true,
        store_history: false
      }).done;
      if (reply.content.status !== 'ok') {
        const content = reply.content as KM.IExecuteReplyMsg['content'] & {
          ename?: string;
          evalue?: string;
        };
        throw new Error(`${content.ename ?? 'error'}: ${content.evalue ?? ''}`);
      }
      if (kernel !== this._session.session?.kernel || this._disposed) {
        return;
      }
      const comm = kernel.createComm(COMM_TARGET);
      comm.onMsg = msg => this._onMessage(msg.content.data as unknown as KernelMessage);
      comm.onClose = () => {
        if (this._comm === comm) {
          this._comm = null;
          this._setStatus('no-kernel');
        }
      };
      comm.open({});
      this._comm = comm;
      this._problem = '';
      this._setStatus('ready');
    } catch (error) {
      this._problem = `cellpipe could not be loaded in the kernel: ${(error as Error).message}`;
      this._setStatus('unavailable');
    }
  }

  private _onMessage(data: KernelMessage): void {
    console.debug('cellpipe: kernel says', JSON.stringify(data).slice(0, 300));
    const requestId = data.request_id;
    const pending = requestId ? this._pending.get(requestId) : undefined;
    if (pending && requestId) {
      this._pending.delete(requestId);
      pending.resolve(data);
    }
    // Replies are also broadcast: a `state` reply to a `sync` updates every view.
    this._received.emit(data);
  }

  private _closeComm(next: LinkStatus = 'no-kernel'): void {
    const comm = this._comm;
    this._comm = null;
    for (const pending of this._pending.values()) {
      pending.reject(new Error('the kernel went away'));
    }
    this._pending.clear();
    if (comm && !comm.isDisposed) {
      try {
        comm.close();
      } catch {
        // the kernel is gone already
      }
    }
    this._setStatus(next);
  }

  private _setStatus(status: LinkStatus): void {
    if (status !== this._status) {
      this._status = status;
      this._statusChanged.emit(status);
    }
  }

  private _attempted = false;
  private _comm: Kernel.IComm | null = null;
  private _counter = 0;
  private _disposed = false;
  private _loading: Promise<void> | null = null;
  private _pending = new Map<string, PromiseDelegate<KernelMessage>>();
  private _problem = '';
  private _received = new Signal<this, KernelMessage>(this);
  private _status: LinkStatus = 'loading';
  private _statusChanged = new Signal<this, LinkStatus>(this);
}
