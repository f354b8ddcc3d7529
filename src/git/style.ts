/** The CSS of the git views, added once (scoped under .jp-cellpipe-git-* and theme variables). */
const CSS = `
.jp-cellpipe-git-history { display: flex; height: 100%; font-size: var(--jp-ui-font-size1);
  color: var(--jp-ui-font-color1); background: var(--jp-layout-color1); }
.jp-cellpipe-git-commits { width: 26%; min-width: 200px; max-width: 360px; overflow: auto;
  border-right: 1px solid var(--jp-border-color2); }
.jp-cellpipe-git-commit { padding: 6px 10px; cursor: pointer;
  border-bottom: 1px solid var(--jp-border-color3); }
.jp-cellpipe-git-commit:hover { background: var(--jp-layout-color2); }
.jp-cellpipe-git-commit.jp-mod-selected { background: var(--jp-layout-color3);
  color: var(--jp-ui-font-color0); box-shadow: inset 4px 0 0 var(--jp-brand-color1); }
.jp-cellpipe-git-commit.jp-mod-selected .jp-cellpipe-git-commit-meta,
.jp-cellpipe-git-commit.jp-mod-selected .jp-cellpipe-git-commit-summary {
  color: var(--jp-ui-font-color1); }
.jp-cellpipe-git-commit-subject { font-weight: 600; }
.jp-cellpipe-git-commit-meta, .jp-cellpipe-git-commit-summary { color: var(--jp-ui-font-color2);
  font-size: var(--jp-ui-font-size0); }
.jp-cellpipe-git-detail { flex: 1; overflow: auto; padding: 10px 14px; }
.jp-cellpipe-git-actions { display: flex; flex-wrap: wrap; gap: 8px; margin: 6px 0 10px; }
.jp-cellpipe-git-actions button { width: auto; padding: 0 12px; white-space: nowrap; }
.jp-cellpipe-git-svg { overflow: auto; border: 1px solid var(--jp-border-color2);
  background: var(--jp-layout-color0); margin-bottom: 10px; }
/* At its own size (names at 13 px): a wide DAG scrolls rather than shrinking its labels. */
.jp-cellpipe-git-svg svg { display: block; }
/* The DAG diff is drawn by Python in light colours: the theme's win (CSS beats attributes). */
.jp-cellpipe-git-svg svg > rect[width="100%"] { fill: var(--jp-layout-color0); }
.jp-cellpipe-git-svg svg text { fill: var(--jp-ui-font-color1); }
.jp-cellpipe-git-svg g.node-same rect { fill: var(--jp-layout-color2); stroke: var(--jp-border-color1); }
.jp-cellpipe-git-svg g.node-added rect { fill: rgb(46 160 67 / 22%); stroke: var(--jp-success-color1); }
.jp-cellpipe-git-svg g.node-removed rect { fill: rgb(207 34 46 / 20%); stroke: var(--jp-error-color1); }
.jp-cellpipe-git-svg g.node-changed rect { fill: rgb(212 167 44 / 25%); stroke: var(--jp-warn-color1); }
.jp-cellpipe-git-summary summary { cursor: pointer; font-weight: 600; margin: 4px 0; }
.jp-cellpipe-git-cell { margin: 12px 0; }
.jp-cellpipe-git-cell h4 { margin: 0 0 4px; }
.jp-cellpipe-git-sides { display: grid; grid-template-columns: 1fr 1fr;
  color: var(--jp-ui-font-color2); font-size: var(--jp-ui-font-size0); }
.jp-cellpipe-git-merge { border: 1px solid var(--jp-border-color2); }
.jp-cellpipe-git-merge .cm-mergeView { max-height: 28em; overflow: auto; }
.jp-cellpipe-git-lines { font-family: var(--jp-code-font-family); font-size: var(--jp-code-font-size);
  white-space: pre-wrap; margin: 0; }
.jp-cellpipe-git-lines .green { color: var(--jp-success-color0, #1a7f37); }
.jp-cellpipe-git-lines .red { color: var(--jp-error-color0, #cf222e); }
.jp-cellpipe-git-lines .yellow { color: var(--jp-warn-color0, #9a6700); }
.jp-cellpipe-git-lines .cyan { color: var(--jp-info-color0, #0969da); }
.jp-cellpipe-git-lines .bold { font-weight: 600; }
.jp-cellpipe-git-message { color: var(--jp-ui-font-color2); padding: 10px; }
.jp-cellpipe-conflict { outline: 2px solid var(--jp-warn-color1); outline-offset: -2px; }
.jp-cellpipe-conflict-bar { margin: 4px 8px 4px 72px; padding: 6px 8px;
  border: 1px solid var(--jp-warn-color1); border-left-width: 4px;
  background: var(--jp-layout-color2);
  font-size: var(--jp-ui-font-size1); color: var(--jp-ui-font-color1); }
.jp-cellpipe-conflict-sides { display: flex; gap: 8px; margin: 6px 0; }
.jp-cellpipe-conflict-side { flex: 1; min-width: 0; }
.jp-cellpipe-conflict-side pre { margin: 2px 0 0; padding: 4px; overflow: auto; max-height: 16em;
  background: var(--jp-layout-color0); border: 1px solid var(--jp-border-color2);
  font-family: var(--jp-code-font-family); font-size: var(--jp-code-font-size); }
.jp-cellpipe-conflict-buttons { display: flex; gap: 6px; }
`;

let added = false;

export function addGitStyle(): void {
  if (added || typeof document === 'undefined') {
    return;
  }
  const style = document.createElement('style');
  style.id = 'jp-cellpipe-git-style';
  style.textContent = CSS;
  document.head.appendChild(style);
  added = true;
}
