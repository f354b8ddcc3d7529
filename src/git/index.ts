import { JupyterFrontEndPlugin } from '@jupyterlab/application';

// The git integration (issue 5) fills this list.
export const gitPlugins: JupyterFrontEndPlugin<any>[] = [];
