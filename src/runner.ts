/**
 * Running a component through a cell's own output area, the way JupyterLab runs
 * a cell: outputs, errors and the execution count land in that cell.
 */
import { ISessionContext } from '@jupyterlab/apputils';
import { CodeCell } from '@jupyterlab/cells';
import { OutputArea } from '@jupyterlab/outputarea';
import { KernelMessage } from '@jupyterlab/services';

import { runCode } from './protocol';

/** The code that runs component `id`: the protocol's run request (docs/protocol.md, "Running"). */
export function runRequestCode(id: string, force: boolean): string {
  return runCode({ op: 'run', target: id, ...(force ? { force: true } : {}) });
}

/** Execute `code` in `cell`'s output area; resolve with the reply's status. */
export async function executeInCell(
  cell: CodeCell,
  code: string,
  sessionContext: ISessionContext
): Promise<'ok' | 'error' | 'abort'> {
  const model = cell.model;
  model.sharedModel.transact(
    () => {
      model.clearExecution();
      cell.outputHidden = false;
    },
    false,
    'silent-change'
  );
  model.executionState = 'running';
  model.trusted = true;
  try {
    const reply = (await OutputArea.execute(code, cell.outputArea, sessionContext, {
      cellId: model.sharedModel.getId()
    })) as KernelMessage.IExecuteReplyMsg | undefined;
    if (!reply) {
      return 'abort';
    }
    model.executionCount = reply.content.execution_count;
    return reply.content.status === 'ok' || reply.content.status === 'error'
      ? reply.content.status
      : 'abort';
  } finally {
    if (!cell.isDisposed) {
      model.executionState = 'idle';
    }
  }
}
