/**
 * Import boundaries of src/ (DESIGN.md, "Folders"): dependencies point down the table, the parts
 * never import an adapter, the API, the CLI or the server that wires them. `npm run lint:deps`
 * checks them, and `npm test` runs that, so a boundary broken in a pull request fails CI.
 * Rules see direct imports, type-only ones included: a type import still ties one folder's code
 * to another's shape.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'adapters-not-audit-or-store',
      comment:
        'An adapter speaks its wire protocol and hands the pipeline a draft; recording and storage happen in the pipeline, ' +
        'so no adapter can skip or duplicate a record.',
      severity: 'error',
      from: { path: '^src/adapters/' },
      to: { path: '^src/(audit|store)/' },
    },
    {
      name: 'policy-not-store',
      comment:
        'Policy decides from the request alone and stays testable without a database; shared limit counters reach ' +
        'PostgreSQL through their own client (policy/postgres-counters.ts), not through the store.',
      severity: 'error',
      from: { path: '^src/policy/' },
      to: { path: '^src/store/' },
    },
    {
      name: 'config-holds-no-runtime-state',
      comment:
        'config/ parses and validates gatehouse.yaml: it may use the schemas of other parts (policy/schema.ts, ' +
        'masking/config.ts), src/util and src/errors.ts, never the engines, stores or servers that hold runtime state.',
      severity: 'error',
      from: { path: '^src/config/' },
      to: {
        path: '^src/',
        pathNot: ['^src/config/', '^src/util/', '^src/errors\\.ts$', '^src/policy/schema\\.ts$', '^src/masking/config\\.ts$'],
      },
    },
    {
      name: 'parts-not-edges',
      comment:
        'The pipeline parts are used by adapters, the admin API, the CLI and server.ts, never the other way round ' +
        '(adapters implement interfaces the core declares).',
      severity: 'error',
      from: { path: '^src/(policy|masking|approvals|audit|identity|store|classify|config|connections)/' },
      to: { path: '^src/(adapters|api|cli)/|^src/server\\.ts$' },
    },
    {
      name: 'util-is-a-leaf',
      comment: 'src/util holds helpers every folder may use (ids, durations, store failures), so it imports none of them.',
      severity: 'error',
      from: { path: '^src/util/' },
      to: { path: '^src/', pathNot: ['^src/util/', '^src/errors\\.ts$'] },
    },
    {
      name: 'no-circular',
      comment: 'A cycle makes load order matter and the parts impossible to read or test one at a time.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that does not resolve would hide a dependency from every rule above.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // The sources import with `.ts` extensions (allowImportingTsExtensions); resolving through
    // tsconfig.json makes depcruise read them as TypeScript does.
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json', '.d.ts'],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
