// Running kubectl and helm for the doctor: read-only verbs only (get, list, logs, get values), an explicit child
// environment (children.ts: nothing secret of ours is inherited), and their failures sorted into the documented exit
// codes: a missing tool or context is bad input (2), a cluster that does not answer is a failed run (1).
import { execa } from 'execa';
import { childEnv } from '../runbook/children.js';
import { EXIT, InputError, QsadminError } from '../runbook/errors.js';

export type ToolName = 'kubectl' | 'helm';

/** Where the tools are and which cluster they talk to. */
export interface K8sTarget {
  namespace: string;
  context?: string;
  /** Path or command name of kubectl (QSADMIN_KUBECTL, default `kubectl` on PATH). */
  kubectl: string;
  /** Path or command name of helm (QSADMIN_HELM, default `helm` on PATH). */
  helm: string;
  timeoutMs?: number;
}

/** The cluster (or the API server) did not answer: exit 1. */
export class ClusterUnreachableError extends QsadminError {
  constructor(message: string, hint?: string) {
    super(message, EXIT.stepFailed, hint);
  }
}

/** A tool ran and failed for a reason that is neither a missing context nor an unreachable cluster. */
export class ToolFailedError extends Error {
  constructor(
    readonly tool: ToolName,
    readonly args: string[],
    readonly stderr: string,
    message: string,
  ) {
    super(message);
    this.name = 'ToolFailedError';
  }
}

// Variables kubectl and helm read to find their config; paths, not secrets. Everything else is left behind.
const TOOL_CONFIG_VARS = ['KUBECONFIG', 'HELM_CONFIG_HOME', 'HELM_CACHE_HOME', 'HELM_DATA_HOME', 'XDG_CONFIG_HOME', 'XDG_CACHE_HOME', 'XDG_DATA_HOME'];

/**
 * What a kubeconfig's exec credential plugin reads to log in to a managed cluster (`aws eks get-token`, Azure's
 * kubelogin, `gke-gcloud-auth-plugin`): the operator's cloud identity, meant for kubectl. They reach kubectl and helm
 * through the environment only, never argv; qsadmin's own secrets still stay behind.
 */
const CLOUD_LOGIN_PREFIXES = ['AWS_', 'AZURE_', 'AAD_', 'CLOUDSDK_', 'ARM_'];
const CLOUD_LOGIN_VARS = ['GOOGLE_APPLICATION_CREDENTIALS', 'USE_GKE_GCLOUD_AUTH_PLUGIN', 'KUBECACHEDIR'];

/** The child environment for kubectl and helm: the essentials, where their config lives, and the cloud login. */
export function k8sToolEnv(from: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const extra: Record<string, string> = {};
  for (const [k, v] of Object.entries(from)) {
    if (v === undefined) continue;
    const up = k.toUpperCase();
    if (TOOL_CONFIG_VARS.includes(k) || CLOUD_LOGIN_VARS.includes(up) || CLOUD_LOGIN_PREFIXES.some((p) => up.startsWith(p))) extra[k] = v;
  }
  return childEnv(extra, from);
}

/** The flags that point kubectl at the namespace and context. */
export function kubectlScope(t: K8sTarget): string[] {
  return ['--namespace', t.namespace, ...(t.context ? ['--context', t.context] : [])];
}

/** The same for helm, which calls the context --kube-context. */
export function helmScope(t: K8sTarget): string[] {
  return ['--namespace', t.namespace, ...(t.context ? ['--kube-context', t.context] : [])];
}

const UNREACHABLE = [
  /Unable to connect to the server/i,
  /The connection to the server .* was refused/i,
  /Kubernetes cluster unreachable/i,
  /dial tcp .*(connection refused|i\/o timeout|no such host|network is unreachable)/i,
  /context deadline exceeded|Client\.Timeout exceeded|TLS handshake timeout/i,
];

/** Sort a tool's stderr: a missing context (2), an unreachable cluster (1), or anything else (null). */
export function classifyToolError(tool: ToolName, stderr: string, context: string | undefined): QsadminError | null {
  const line = lastMeaningfulLine(stderr);
  const missingContext = stderr.match(/context "([^"]*)" does not exist/) ?? stderr.match(/context was not found for specified context: (\S+)/);
  if (missingContext) {
    return new InputError(
      `${tool}: context "${missingContext[1] ?? context}" does not exist in the kubeconfig`,
      'list the contexts with `kubectl config get-contexts` and pass one with --context (or set KUBECONFIG to the file that has it)',
    );
  }
  if (UNREACHABLE.some((re) => re.test(stderr))) {
    return new ClusterUnreachableError(
      `${tool} cannot reach the cluster${context ? ` of context "${context}"` : ''}: ${line}`,
      'check that the API server is up and reachable from here (VPN, proxy, firewall), and that --context names the right cluster',
    );
  }
  return null;
}

// kubectl prints client-go's E-lines before the one line that says what went wrong; that line is the one to show.
function lastMeaningfulLine(stderr: string): string {
  const lines = stderr.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !/^[EWI]\d{4} /.test(l));
  return lines.at(-1) ?? stderr.trim();
}

/** Run a tool with arguments; returns stdout, or throws a QsadminError (2 or 1) or a ToolFailedError. */
export async function runTool(tool: ToolName, args: string[], t: K8sTarget): Promise<string> {
  const file = tool === 'kubectl' ? t.kubectl : t.helm;
  const r = await execa(file, args, {
    env: k8sToolEnv(),
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    timeout: t.timeoutMs ?? 60_000,
    windowsHide: true,
  });
  if ((r as { code?: string }).code === 'ENOENT' || (r.failed && r.exitCode === undefined && /ENOENT/.test(r.message ?? ''))) {
    const variable = tool === 'kubectl' ? 'QSADMIN_KUBECTL' : 'QSADMIN_HELM';
    throw new InputError(`${tool} not found (looked for "${file}")`, `install ${tool === 'helm' ? 'helm 3' : 'kubectl'} and put it on PATH, or set ${variable} to its full path`);
  }
  if (r.timedOut) {
    throw new ClusterUnreachableError(`${tool} ${args.slice(0, 2).join(' ')} gave no answer within ${(t.timeoutMs ?? 60_000) / 1000} s`, 'check that the API server is up and reachable from here');
  }
  if (r.exitCode !== 0) {
    const stderr = String(r.stderr ?? '');
    const known = classifyToolError(tool, stderr, t.context);
    if (known) throw known;
    throw new ToolFailedError(tool, args, stderr, `${tool} ${args.join(' ')} failed (exit ${r.exitCode ?? '?'}): ${lastMeaningfulLine(stderr) || 'no message'}`);
  }
  return String(r.stdout);
}

/** Run a tool and parse its JSON output; a non-JSON answer is an error naming the command. */
export async function runToolJson<T>(tool: ToolName, args: string[], t: K8sTarget): Promise<T> {
  const out = await runTool(tool, args, t);
  try {
    return JSON.parse(out) as T;
  } catch {
    throw new ToolFailedError(tool, args, '', `${tool} ${args.join(' ')} did not print JSON: ${out.slice(0, 200)}`);
  }
}
