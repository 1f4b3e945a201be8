// The layers of src/, and the rules that keep imports pointing down.
// docs/architecture.md explains them; test/architecture.test.ts checks that
// the doc and this table name the same folders, and that the rules bite.
//
// Bottom to top. Each folder of src/ may import only the folders listed with
// it, and every one of those comes earlier in this table, so no two folders
// can form a cycle. Adding a folder means adding it here (an import into or
// out of an unlisted folder fails) and to docs/architecture.md.

/** @type {{ layer: string, folders: Record<string, string[]> }[]} */
export const layers = [
  { layer: 'types', folders: { types: [] } },
  {
    layer: 'shared leaves',
    folders: {
      problems: ['types'],
      json: [],
      variables: ['types'],
    },
  },
  { layer: 'definitions', folders: { definitions: ['types', 'problems', 'json', 'variables'] } },
  // Resolution and expansion both stand on definitions and never import each
  // other: expansion is given what was resolved, the pipeline joins the two.
  { layer: 'resolution', folders: { resolution: ['types', 'problems', 'json', 'definitions'] } },
  {
    layer: 'expansion',
    folders: {
      steps: ['types', 'problems', 'json', 'variables', 'definitions'],
      runs: ['types', 'problems', 'json', 'variables', 'definitions', 'steps'],
      pods: ['types', 'problems', 'json', 'variables', 'definitions', 'steps'],
    },
  },
  { layer: 'pipeline', folders: { pipeline: ['types', 'definitions', 'resolution', 'steps', 'runs', 'pods'] } },
  {
    layer: 'edges',
    folders: {
      admission: ['types', 'problems', 'json', 'definitions', 'resolution', 'steps', 'pipeline'],
      server: ['types', 'resolution', 'admission'],
      cli: ['types', 'problems', 'json', 'definitions', 'resolution', 'steps', 'pods', 'pipeline', 'admission', 'server'],
    },
  },
]

const folderRules = layers.flatMap(({ layer, folders }) =>
  Object.entries(folders).map(([folder, allowed]) => ({
    name: `layer-${folder}`,
    severity: 'error',
    comment: `src/${folder} (${layer}) may import only ${allowed.length === 0 ? 'no other folder of src/' : allowed.map((f) => `src/${f}`).join(', ')}: see docs/architecture.md`,
    from: { path: `^src/${folder}/` },
    to: { path: '^src/', pathNot: `^src/(${[folder, ...allowed].join('|')})/` },
  })),
)

const known = layers.flatMap(({ folders }) => Object.keys(folders))

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    ...folderRules,
    {
      name: 'unlisted-folder',
      severity: 'error',
      comment: 'every file of src/ lives in a folder named in the layer table of .dependency-cruiser.mjs and docs/architecture.md',
      from: { path: '^src/', pathNot: `^src/(${known.join('|')})/` },
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
