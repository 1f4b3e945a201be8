// The layers of src/, and the rules that keep imports pointing down.
// docs/architecture.md explains them; test/architecture.test.ts checks that
// the doc and this table name the same folders, and that the rules bite.
//
// Bottom to top. A folder of src/ may import the folders listed before it,
// never one after it (an upward import) and never itself through another
// folder, so the folders cannot form a cycle; `apart` names the few imports
// of a lower folder that are forbidden all the same. Adding a folder means
// adding it here (imports into or out of an unlisted folder fail) and to
// docs/architecture.md.

/** @type {{ layer: string, folders: string[] }[]} */
export const layers = [
  { layer: 'types', folders: ['types'] },
  { layer: 'shared leaves', folders: ['problems', 'json', 'limits', 'variables'] },
  { layer: 'definitions', folders: ['definitions'] },
  { layer: 'resolution', folders: ['remote', 'resolvers', 'pinning', 'resolution'] },
  { layer: 'expansion', folders: ['steps', 'groups', 'runs', 'pods'] },
  { layer: 'checks', folders: ['checks'] },
  { layer: 'policy', folders: ['policy'] },
  { layer: 'pipeline', folders: ['pipeline'] },
  { layer: 'edges', folders: ['admission', 'server', 'cli'] },
]

/** Imports forbidden although they point down, with the reason. */
export const apart = [
  { from: ['steps', 'groups', 'runs', 'pods'], to: 'resolution', why: 'expansion is given what was resolved; the pipeline joins the two' },
  { from: ['steps', 'groups', 'runs', 'pods'], to: 'resolvers', why: 'expansion is given what was resolved; the pipeline joins the two' },
  { from: ['steps', 'groups', 'runs', 'pods'], to: 'remote', why: 'expansion never fetches; what was fetched reaches it resolved' },
  { from: ['pods'], to: 'runs', why: 'Pods and Tekton runs expand independently; what both need lives in steps/' },
]

const order = layers.flatMap(({ folders }) => folders)
const layerOf = (folder) => layers.find((l) => l.folders.includes(folder))?.layer

/** The folders `folder` may import. */
export function mayImport(folder) {
  const below = order.slice(0, order.indexOf(folder))
  return below.filter((to) => !apart.some((a) => a.to === to && a.from.includes(folder)))
}

const folderRules = order.map((folder) => {
  const allowed = mayImport(folder)
  const excluded = apart.filter((a) => a.from.includes(folder)).map((a) => `; never ${a.to}: ${a.why}`)
  return {
    name: `layer-${folder}`,
    severity: 'error',
    comment:
      allowed.length === 0
        ? `src/${folder} (${layerOf(folder)}) imports no other folder of src/; see docs/architecture.md`
        : `src/${folder} (${layerOf(folder)}) imports only folders below it: ${allowed.join(', ')}${excluded.join('')}; see docs/architecture.md`,
    from: { path: `^src/${folder}/` },
    to: { path: '^src/', pathNot: `^src/(${[folder, ...allowed].join('|')})/` },
  }
})

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    ...folderRules,
    {
      name: 'unlisted-folder',
      severity: 'error',
      comment: 'every file of src/ lives in a folder named in the layer table of .dependency-cruiser.mjs and docs/architecture.md',
      from: { path: '^src/', pathNot: `^src/(${order.join('|')})/` },
      to: {},
    },
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'files import each other in a cycle; move what both need into a file below them',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-folder-cycle',
      severity: 'error',
      comment: 'folders import each other in a cycle',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'an import that resolves to no file',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'not-to-dev-dep',
      severity: 'error',
      comment: 'src/ runs in production, where devDependencies are not installed',
      from: { path: '^src/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-non-package-json',
      severity: 'error',
      comment: 'a package that package.json does not declare',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
  ],
  options: {
    // TypeScript 7 has no JS API for dependency-cruiser to parse with; swc
    // reads the sources, and keeps type-only imports as dependencies: a type
    // pointing up ties the layers together as much as a value does (the
    // architecture test checks that such an import is caught).
    parser: 'swc',
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^node_modules' },
  },
}
