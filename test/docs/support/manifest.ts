/**
 * How each fenced block in the docs that is not a YAML config is exercised. YAML blocks are all
 * loaded by test/docs/config-snippets.test.ts. test/docs/coverage.test.ts fails on a block missing
 * here (so nobody adds an untested snippet silently) and on an entry whose block is gone.
 */

export type Handling =
  /** Run for real by the named test file; `notRun` lists commands of it that cannot run there, and why. */
  | { readonly runBy: string; readonly notRun?: Readonly<Record<string, string>> }
  /** The allow-list: not run by any test, and why. */
  | { readonly allow: string }
  /** Output shown to the reader (```text), compared with real output by the named test file. */
  | { readonly sampleCheckedBy: string };

export const BLOCKS: Readonly<Record<string, Handling>> = {
  'README.md › Quick start (one command) › 1': {
    runBy: 'readme-quickstart.test.ts',
    notRun: {
      'npm ci': 'reinstalls every dependency of the repository (and builds dist/); the suite already runs in an installed checkout',
    },
  },
  'README.md › Quick start (one command) › 2': { runBy: 'readme-quickstart.test.ts' },
  'README.md › Quick start (one command) › 3': { runBy: 'readme-quickstart.test.ts' },
  'README.md › Quick start (one command) › 4': { runBy: 'readme-quickstart.test.ts' },
  'README.md › Run the tests (one command) › 1': {
    allow: 'reinstalls every dependency and runs the whole suite, this file included; CI runs exactly this (.ci/run)',
  },
  'README.md › Running it for real › 1': { runBy: 'readme-start.test.ts' },
  'README.md › Running it for real › 3': { sampleCheckedBy: 'readme-cli.test.ts' },
  'README.md › Running it for real › 5': { runBy: 'readme-start.test.ts' },
  'README.md › Connections › 1': { runBy: 'readme-cli.test.ts' },
  'README.md › Tokens and service accounts › 1': { runBy: 'readme-cli.test.ts' },
  'README.md › Recordings › 1': { runBy: 'readme-cli.test.ts' },
  // A gateway before a real PostgreSQL, a session with a denial and a database error; the commands run with bash, the sample compared (times and ids normalised).
  'README.md › Recordings › 2': { runBy: '../audit/replay-doc.test.ts' },
  'docs/audit.md › Replaying a session › 1': { runBy: '../audit/replay-doc.test.ts' },
  'docs/audit.md › Replaying a session › 2': { sampleCheckedBy: '../audit/replay-doc.test.ts' },
  'docs/audit.md › Searching the record › 1': { runBy: '../audit/replay-doc.test.ts' },
  'README.md › Signing in with `gatehouse login` › 2': { runBy: 'readme-login.test.ts' },
  'README.md › PostgreSQL › 2': { runBy: 'postgres-doc.test.ts' },
  'README.md › Policy › 2': { runBy: 'local-cli.test.ts' },
  'README.md › Masking › 1': { runBy: 'local-cli.test.ts' },
  'README.md › Benchmarks › 1': {
    allow: 'runs for minutes on purpose and measures performance, which tests never time (see bench/README.md); a benchmark run is not a test',
  },
  'docs/masking.md › Trying a profile › 1': { runBy: 'local-cli.test.ts' },
  'docs/providers.md › Anthropic › 2': { runBy: 'providers-doc.test.ts' },
  'docs/s3.md › Credentials for agents › 1': { runBy: '../e2e/s3-doc.test.ts' },
  'docs/s3.md › Credentials for agents › 2': { runBy: '../e2e/s3-doc.test.ts' },
  'docs/s3.md › Credentials for agents › 3': {
    allow: 'the aws CLI is not installed where the tests run (apt has awscli 2.9.19; whether CI installs it is the lead\'s call); the same requests are made by the AWS SDK snippet above, run by ../e2e/s3-doc.test.ts',
  },
  'docs/providers.md › Gemini › 2': { runBy: 'providers-doc.test.ts' },
  'docs/providers.md › Azure OpenAI › 3': { runBy: 'providers-doc.test.ts' },
  'docs/providers.md › Bedrock › 2': { runBy: '../providers/bedrock/doc.test.ts' },
  'docs/troubleshooting.md › Lost admin token › 1': { runBy: 'troubleshooting-doc.test.ts' },
  'docs/agents.md › Commands › 1': {
    allow: 'needs a gateway with agents of every state; the same commands run through the CLI module against a real gateway in ../e2e/agents.test.ts (list --state, revoke --stale dry run and the API --yes uses)',
  },
  'docs/troubleshooting.md › Wrong master key › 1': { sampleCheckedBy: 'troubleshooting-doc.test.ts' },
  'docs/troubleshooting.md › Rotating the master key › 1': { runBy: 'troubleshooting-doc.test.ts' },
  'docs/troubleshooting.md › Port in use › 1': { sampleCheckedBy: 'troubleshooting-doc.test.ts' },
  // The key is made, a gateway runs with the page's YAML, and verify runs online and offline (the README's is the page's offline command).
  'docs/audit.md › Checkpoints and keys › 1': { runBy: '../e2e/audit-doc.test.ts' },
  // The example event is validated against docs/schema/audit-event-v1.json.
  'docs/audit-export.md › The event: gatehouse.audit.v1 › 1': { runBy: '../audit/sinks/schema.test.ts' },
  'docs/audit.md › Verifying › 1': { runBy: '../e2e/audit-doc.test.ts' },
  'docs/audit.md › Verifying › 2': { runBy: '../e2e/audit-doc.test.ts' },
  'README.md › Tamper-evident audit trail › 1': { runBy: '../e2e/audit-doc.test.ts' },
  // The SDK snippet run with tsx against a gateway before an SDK-built tool server; README shows the same text.
  'docs/mcp.md › Connecting an agent › 1': { runBy: '../adapters/mcp/doc.test.ts' },
  'docs/mcp.md › Connecting an agent › 2': { runBy: '../adapters/mcp/doc.test.ts' },
  'README.md › MCP › 2': { runBy: '../adapters/mcp/doc.test.ts' },
  'README.md › MCP › 3': { runBy: '../adapters/mcp/doc.test.ts' },
  // The SDK agent and the approver's commands run together against a gateway configured with the page's own YAML.
  'docs/approvals.md › The flow with the OpenAI SDK › 1': { runBy: '../e2e/approvals-doc.test.ts' },
  'docs/approvals.md › The flow with the OpenAI SDK › 2': { runBy: '../e2e/approvals-doc.test.ts' },
  'docs/approvals.md › The flow with the OpenAI SDK › 3': { runBy: '../e2e/approvals-doc.test.ts' },
  // README's approval flow: each block is the same text as a block of docs/approvals.md that the named file runs (it checks they match).
  'README.md › Human approval › 2': { runBy: '../e2e/approvals-doc.test.ts' },
  'README.md › Human approval › 3': { runBy: '../e2e/approvals-postgres-doc.test.ts' },
  'README.md › Human approval › 4': { runBy: '../e2e/approvals-doc.test.ts' },
  // psql as the agent against a gateway configured with the page's rule and a real PostgreSQL; its output compared.
  'docs/approvals.md › The flow with psql › 2': { runBy: '../e2e/approvals-postgres-doc.test.ts' },
  'docs/approvals.md › The flow with psql › 3': { sampleCheckedBy: '../e2e/approvals-postgres-doc.test.ts' },
  'docs/approvals.md › Notifications › 2': { runBy: '../approvals/notify-doc.test.ts' },
  'docs/approvals.md › Trying a rule: `policy test` › 1': { runBy: '../approvals/policy-test-doc.test.ts' },
  'docs/approvals.md › Trying a rule: `policy test` › 2': { sampleCheckedBy: '../approvals/policy-test-doc.test.ts' },
  // Run against a gateway configured with the page's rule, after an SDK request held, approved with the CLI and run.
  'docs/approvals.md › The audit trail › 1': { runBy: '../e2e/approvals-trail-doc.test.ts' },
  // A gateway configured with the page's YAML before a real PostgreSQL; the pg driver as the agent; README shows block 2.
  'docs/approvals.md › Just-in-time access › 2': { runBy: '../e2e/access-doc.test.ts' },
  'docs/approvals.md › Just-in-time access › 3': { runBy: '../e2e/access-doc.test.ts' },
  'docs/approvals.md › Just-in-time access › 4': { runBy: '../e2e/access-doc.test.ts' },
  'docs/approvals.md › Just-in-time access › 5': { runBy: '../e2e/access-doc.test.ts' },
  'README.md › Just-in-time access › 1': { runBy: '../e2e/access-doc.test.ts' },
  'docs/policy.md › Prompts held for approval: high-risk-prompts › 2': { runBy: '../policy/high-risk-prompts-doc.test.ts' },
  'docs/policy.md › Prompts held for approval: high-risk-prompts › 3': { sampleCheckedBy: '../policy/high-risk-prompts-doc.test.ts' },
  // A gateway configured with the page's policy before a real PostgreSQL, traffic from pg and the SDK, the page's candidate as new.yaml.
  'docs/policy.md › Policy replay › 3': { runBy: '../e2e/policy-replay-doc.test.ts' },
  'docs/policy.md › Policy replay › 4': { sampleCheckedBy: '../e2e/policy-replay-doc.test.ts' },
  'README.md › Policy replay › 1': { runBy: '../e2e/policy-replay-doc.test.ts' },
  'docs/postgres.md › Connect › 1': { runBy: 'postgres-doc.test.ts' },
  'docs/postgres.md › Connect › 2': { runBy: 'postgres-doc.test.ts' },
  'docs/postgres.md › What a refusal looks like › 1': { sampleCheckedBy: 'postgres-doc.test.ts' },
  // PGOPTIONS through psql against a gateway before a real PostgreSQL; the refusal compared with psql's own output.
  'docs/postgres.md › Startup settings › 1': { runBy: '../e2e/postgres-fidelity-doc.test.ts' },
  'docs/postgres.md › Startup settings › 2': { sampleCheckedBy: '../e2e/postgres-fidelity-doc.test.ts' },
  'docs/identity.md › OIDC sign-in › 2': { runBy: 'identity-federation-doc.test.ts' },
  'docs/identity.md › GitHub Actions › 1': { runBy: 'identity-federation-doc.test.ts' },
  'docs/identity.md › GitHub Actions › 2': { runBy: 'identity-federation-doc.test.ts' },
  'README.md › Offboarding › 1': { runBy: 'offboarding-doc.test.ts' },
  'docs/identity.md › Disabling a person › 1': { runBy: 'offboarding-doc.test.ts' },
  'docs/identity.md › Disabling a person › 2': { sampleCheckedBy: 'offboarding-doc.test.ts' },
  'docs/identity.md › SCIM provisioning › 1': { runBy: 'offboarding-doc.test.ts' },
  'docs/identity.md › SCIM provisioning › 2': { sampleCheckedBy: 'offboarding-doc.test.ts' },
  'docs/identity.md › Microsoft Entra ID › 1': { runBy: 'offboarding-doc.test.ts' },
  'docs/identity.md › Microsoft Entra ID › 2': { sampleCheckedBy: 'offboarding-doc.test.ts' },
  // docs/deployment.md: Docker, kubectl and helm do not run on the test machines. What those blocks
  // name (services, files, Secret names and keys, chart paths, CLI commands) is checked against the
  // repository by test/deploy/deployment-doc.test.ts, which also runs the .env block for real.
  'docs/deployment.md › Docker Compose › 1': { runBy: '../deploy/deployment-doc.test.ts' },
  'docs/deployment.md › Docker Compose › 2': {
    allow: 'needs Docker, which the test machines do not run; test/deploy/deployment-doc.test.ts checks what it names (services, the readiness URL, the CLI command) and test/deploy/compose.test.ts the compose setup it starts',
  },
  'docs/deployment.md › Docker Compose › 3': {
    allow: 'needs Docker, which the test machines do not run; test/deploy/deployment-doc.test.ts checks that the service it starts is the single-gateway profile',
  },
  'docs/deployment.md › Kubernetes (Helm) › 1': {
    allow: 'builds and pushes an image with Docker, which the test machines do not run; test/deploy/deployment-doc.test.ts checks the tag is the chart\'s appVersion',
  },
  'docs/deployment.md › Secrets › 1': {
    allow: 'needs a Kubernetes cluster; test/deploy/deployment-doc.test.ts checks that the Secrets and keys it creates are exactly the ones the chart reads',
  },
  'docs/deployment.md › Install › 2': {
    allow: 'needs a Kubernetes cluster and helm; test/deploy/deployment-doc.test.ts checks the chart path, the values file (rendered and checked) and the TLS Secret name against it',
  },
  'docs/deployment.md › Upgrade › 1': {
    allow: 'needs a Kubernetes cluster and helm; test/deploy/deployment-doc.test.ts checks the chart path and values file it names',
  },
};

/** Ids of the blocks a runner file must exercise (it asserts it has a case for each and no other). */
export function assignedTo(testFile: string): string[] {
  return Object.entries(BLOCKS)
    .filter(([, h]) => ('runBy' in h && h.runBy === testFile) || ('sampleCheckedBy' in h && h.sampleCheckedBy === testFile))
    .map(([id]) => id)
    .sort();
}
