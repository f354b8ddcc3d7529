import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

import { gitPlugins } from './git';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'cellpipe:plugin',
  description: 'Notebook cells as the components of a pipeline.',
  autoStart: true,
  activate: (app: JupyterFrontEnd) => {
    console.log('cellpipe: front end activated');
  }
};

export default [plugin, ...gitPlugins];
