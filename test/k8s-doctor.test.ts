// `qsadmin k8s doctor` through the CLI against a fake kubectl and a fake helm 3 (test/fixtures/k8s: they parse the
// real tools' flags, refuse unknown ones in the tools' words, serve only read verbs, and log their argv). Each case
// picks a fixture set: a healthy namespace, an unbound claim, too little cpu/memory, too many pods, a crash loop in a
// Running pod, the guide's non-persistent Elasticsearch values, kubectl missing, a missing context, an unreachable
// cluster. Needs the CLI built (npm run build).
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyToolError } from '../src/k8s/tools.js';
import { EXIT } from '../src/runbook/errors.js';
import type { DoctorResult } from '../src/k8s/doctor.js';
import { ROOT, qsadmin } from './helpers/cli.js';
import { cleanupTempDirs, tempDir } from './helpers/tmp.js';

const FAKES = path.join(ROOT, 'test', 'fixtures', 'k8s');
const KUBECTL = path.join(FAKES, 'kubectl.mjs');
const HELM = path.join(FAKES, 'helm.mjs');
const NS = ['--namespace', 'default'];

interface Call {
  tool: 'kubectl' | 'helm';
  argv: string[];
  env: string[];
}

let dir: string;
let bothBin: string; // kubectl, helm and node on PATH
let helmOnlyBin: string; // helm and node: kubectl is missing
let nodeOnlyBin: string; // node alone: the tools come from QSADMIN_KUBECTL / QSADMIN_HELM
let kubectlOnlyBin: string; // kubectl and node: helm is missing
const allCalls: Call[] = [];
let runs = 0;

// A folder for PATH holding the named links (the real kubectl of this machine must never be found).
function binDir(name: string, links: Record<string, string>): string {
  const d = path.join(dir, name);
  fs.mkdirSync(d);
  for (const [link, target] of Object.entries(links)) fs.symlinkSync(target, path.join(d, link));
  return d;
}

// Run `qsadmin k8s doctor` with a fixture set; returns the result and the fakes' calls.
async function doctor(set: string, args: string[] = [], opts: { path?: string; env?: Record<string, string> } = {}) {
  const log = path.join(dir, `calls-${++runs}.jsonl`);
  const r = await qsadmin(['k8s', 'doctor', ...args], {
    env: {
      PATH: opts.path ?? bothBin,
      QSADMIN_KUBECTL: '',
      QSADMIN_HELM: '',
      QSADMIN_EMULATOR_K8S_FIXTURE: set,
      QSADMIN_EMULATOR_K8S_LOG: log,
      KUBECONFIG: path.join(dir, 'kubeconfig.yaml'),
      // must not reach kubectl or helm (children.ts: explicit environment)
      PGPASSWORD: 'not-for-kubectl',
      QSADMIN_DB_PASSWORD: 'not-for-helm',
      // the cloud login a kubeconfig's exec plugin (aws eks get-token, kubelogin) needs: meant for kubectl
      AWS_PROFILE: 'qlik-eks',
      AZURE_CONFIG_DIR: path.join(dir, 'azure'),
      ...opts.env,
    },
  });
  const calls: Call[] = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Call) : [];
  allCalls.push(...calls);
  const argvOf = (tool: Call['tool']) => calls.filter((c) => c.tool === tool).map((c) => c.argv);
  return { ...r, calls, kubectl: argvOf('kubectl'), helm: argvOf('helm') };
}

const json = (stdout: string) => JSON.parse(stdout) as DoctorResult;

// The helm calls for the releases of a set: list, then get values of each, in the namespace.
const helmCalls = (releases: string[], scope: string[] = NS) => [['list', ...scope, '-o', 'json'], ...releases.map((r) => ['get', 'values', r, ...scope, '-o', 'json'])];

beforeAll(() => {
  dir = tempDir('qsadmin-k8s-');
  bothBin = binDir('both', { kubectl: KUBECTL, helm: HELM, node: process.execPath });
  helmOnlyBin = binDir('helm-only', { helm: HELM, node: process.execPath });
  nodeOnlyBin = binDir('node-only', { node: process.execPath });
  kubectlOnlyBin = binDir('kubectl-only', { kubectl: KUBECTL, node: process.execPath });
  expect(fs.existsSync(path.join(ROOT, 'dist', 'commands', 'k8s', 'doctor.js')), 'build first: npm run build').toBe(true);
});
afterAll(() => cleanupTempDirs());

describe('k8s doctor', () => {
  it('a healthy namespace: every Qlik Sense pod healthy, exit 0, only get pods and the helm reads', async () => {
    const r = await doctor('healthy');
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(EXIT.ok);
    expect(r.stdout).toMatch(/^qliksense-engine-6c7d9f8b5-k2x8p\s+Running\s+1\/1\s+0\s+healthy$/m);
    expect(r.stdout).toMatch(/^qliksense-mongodb-0\s+Running\s+1\/1\s+1\s+healthy$/m);
    expect(r.stdout).toMatch(/^qliksense-reporting-init-job-x7k2q\s+Succeeded\s+0\/1\s+0\s+completed$/m);
    expect(r.stdout).not.toContain('ingress-nginx'); // crash-looping, but not a Qlik Sense pod
    expect(r.stdout).toContain('4 pod(s): 4 healthy, 0 need(s) attention; 0 warning(s)');
    expect(r.stdout).not.toContain('WARNING'); // persistence on; fluentd's elasticsearch.host is not a persistence key
    // healthy pods need no events: one kubectl call
    expect(r.kubectl).toEqual([['get', 'pods', ...NS, '-o', 'json']]);
    expect(r.helm).toEqual(helmCalls(['qliksense', 'elasticsearch', 'fluentd', 'kibana']));
    // the children got the kubeconfig's location and none of our secrets
    for (const c of r.calls) {
      expect(c.env).toContain('KUBECONFIG');
      expect(c.env).toEqual(expect.arrayContaining(['AWS_PROFILE', 'AZURE_CONFIG_DIR']));
      expect(c.env).not.toContain('PGPASSWORD');
      expect(c.env).not.toContain('QSADMIN_DB_PASSWORD');
    }
  });

  it('--selector, --context and --json; the tools from QSADMIN_KUBECTL / QSADMIN_HELM', async () => {
    const r = await doctor('healthy', ['--context', 'qse-prod', '--selector', 'release=qliksense', '--json'], {
      path: nodeOnlyBin,
      env: { QSADMIN_KUBECTL: KUBECTL, QSADMIN_HELM: HELM },
    });
    expect(r.exitCode).toBe(EXIT.ok);
    const out = json(r.stdout);
    expect(out).toMatchObject({ ok: true, namespace: 'default', context: 'qse-prod', selection: { selector: 'release=qliksense' }, unhealthy: 0, warnings: [] });
    expect(out.pods.map((p) => [p.name, p.verdict])).toEqual([
      ['qliksense-engine-6c7d9f8b5-k2x8p', 'healthy'],
      ['qliksense-hub-7f9c6d4b8-q4w2m', 'healthy'],
      ['qliksense-mongodb-0', 'healthy'],
      ['qliksense-reporting-init-job-x7k2q', 'completed'],
    ]);
    expect(out.releases.map((h) => h.name)).toEqual(['qliksense', 'elasticsearch', 'fluentd', 'kibana']);
    expect(r.kubectl).toEqual([['get', 'pods', ...NS, '--context', 'qse-prod', '-o', 'json', '-l', 'release=qliksense']]);
    expect(r.helm).toEqual(helmCalls(['qliksense', 'elasticsearch', 'fluentd', 'kibana'], [...NS, '--kube-context', 'qse-prod']));
  });

  it('a pending pod whose claim is unbound: storage, exit 4, its events field-selected', async () => {
    const r = await doctor('pending-storage');
    expect(r.exitCode).toBe(EXIT.verificationFailed);
    expect(r.stdout).toMatch(/^qliksense-mongodb-0\s+Pending\s+0\/1\s+0\s+storage$/m);
    expect(r.stdout).toContain('storage: its volume claims are not available');
    expect(r.stdout).toContain('FailedScheduling (x14): 0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.');
    expect(r.stdout).toContain('hint: see the claims with: kubectl get pvc -n default');
    expect(r.stdout).not.toContain('no persistent volumes available for this claim'); // the claim's own event is not the pod's
    expect(r.kubectl).toEqual([
      ['get', 'pods', ...NS, '-o', 'json'],
      ['get', 'events', ...NS, '-o', 'json', '--field-selector', 'involvedObject.name=qliksense-mongodb-0'],
    ]);
    const out = json((await doctor('pending-storage', ['--json'])).stdout);
    const mongo = out.pods.find((p) => p.name === 'qliksense-mongodb-0')!;
    expect(mongo.diagnoses.map((d) => d.kind)).toEqual(['storage']);
    expect(out.unhealthy).toBe(1);
  });

  it('an unschedulable pod for want of cpu and memory', async () => {
    const r = await doctor('unschedulable-resources', ['--json']);
    expect(r.exitCode).toBe(EXIT.verificationFailed);
    const pod = json(r.stdout).pods.find((p) => p.name === 'qliksense-engine-6c7d9f8b5-zt9wn')!;
    expect(pod).toMatchObject({ phase: 'Pending', verdict: 'unschedulable' });
    expect(pod.diagnoses).toHaveLength(1);
    expect(pod.diagnoses[0]).toMatchObject({ kind: 'unschedulable', causes: ['resources'], insufficient: ['cpu', 'memory'] });
    expect(pod.diagnoses[0].evidence.join('\n')).toContain('1 Insufficient cpu, 3 Insufficient memory');
    const human = await doctor('unschedulable-resources');
    expect(human.stdout).toContain('unschedulable: no node has enough cpu, memory free for its requests');
    expect(human.stdout).toContain('lower the pod\'s requests');
    expect(human.kubectl[1]).toEqual(['get', 'events', ...NS, '-o', 'json', '--field-selector', 'involvedObject.name=qliksense-engine-6c7d9f8b5-zt9wn']);
  });

  it('an unschedulable pod because the nodes run as many pods as they may', async () => {
    const r = await doctor('unschedulable-pods', ['--json']);
    expect(r.exitCode).toBe(EXIT.verificationFailed);
    const pod = json(r.stdout).pods.find((p) => p.name === 'qliksense-hub-7f9c6d4b8-m8v5c')!;
    expect(pod.verdict).toBe('unschedulable');
    expect(pod.diagnoses[0]).toMatchObject({ kind: 'unschedulable', causes: ['pod-count'] });
    expect(pod.diagnoses[0].insufficient).toBeUndefined();
    const human = await doctor('unschedulable-pods');
    expect(human.stdout).toMatch(/^qliksense-hub-7f9c6d4b8-m8v5c\s+Pending\s+0\/1\s+0\s+unschedulable$/m);
    expect(human.stdout).toContain('the nodes already run as many pods as they may (Too many pods)');
    expect(human.stdout).toContain("the kubelet's maxPods");
  });

  it('a crash loop inside a Running pod, with the previous container\'s last 20 lines', async () => {
    const r = await doctor('crashloop');
    expect(r.exitCode).toBe(EXIT.verificationFailed);
    expect(r.stdout).toMatch(/^qliksense-engine-6c7d9f8b5-k2x8p\s+Running\s+0\/1\s+7\s+crash-loop$/m);
    expect(r.stdout).toContain('crash-loop: container engine keeps exiting and is restarted (CrashLoopBackOff, 7 restarts; last exit: Error, code 1 at 2026-11-30T10:39:52Z)');
    expect(r.stdout).toContain('last 20 line(s) of the previous engine container:');
    expect(r.stdout).toContain('| {"logseverity":"FATAL","message":"Engine exiting with code 1"');
    expect(r.stdout).toContain('engine startup step 6"');
    expect(r.stdout).not.toContain('engine startup step 5"'); // line 5 of 25 is outside the tail
    const pod = 'qliksense-engine-6c7d9f8b5-k2x8p';
    expect(r.kubectl).toEqual([
      ['get', 'pods', ...NS, '-o', 'json'],
      ['get', 'events', ...NS, '-o', 'json', '--field-selector', `involvedObject.name=${pod}`],
      ['logs', pod, ...NS, '-c', 'engine', '--previous', '--tail', '20'],
    ]);
    const d = json((await doctor('crashloop', ['--json'])).stdout).pods.find((p) => p.name === pod)!.diagnoses[0];
    expect(d).toMatchObject({ kind: 'crash-loop', container: 'engine', lastTermination: { reason: 'Error', exitCode: 1 } });
    expect(d.previousLog).toHaveLength(20);
    expect(d.previousLog!.at(-2)).toContain('Could not connect to MongoDB');
  });

  it('none of the seed\'s cases (an image that cannot be pulled): other, with the pod\'s events as they are', async () => {
    const r = await doctor('image-pull');
    expect(r.exitCode).toBe(EXIT.verificationFailed);
    expect(r.stdout).toMatch(/^qliksense-hub-5c8d7e6f9-r7t4k\s+Pending\s+0\/1\s+0\s+other$/m);
    expect(r.stdout).toContain('other: container hub waiting: ImagePullBackOff (Back-off pulling image "qlik-docker-qsefe.bintray.io/hub:1.1.99")');
    expect(r.stdout).toContain('events (newest first):');
    expect(r.stdout).toContain('2026-11-30T09:14:32Z  Warning  Failed (x4): Failed to pull image "qlik-docker-qsefe.bintray.io/hub:1.1.99": rpc error: code = NotFound');
    const lines = r.stdout.split('\n');
    expect(lines.findIndex((l) => l.includes('BackOff (x37)'))).toBeLessThan(lines.findIndex((l) => l.includes('Pulling (x4)'))); // newest first
    expect(r.stdout).not.toContain('Started container engine'); // another pod's event
    const pod = json((await doctor('image-pull', ['--json'])).stdout).pods.find((p) => p.name === 'qliksense-hub-5c8d7e6f9-r7t4k')!;
    expect(pod.diagnoses.map((d) => [d.kind, d.events?.map((e) => e.reason)])).toEqual([['other', ['BackOff', 'Failed', 'Pulling']]]);
  });

  it('the guide\'s non-persistent Elasticsearch values: a warning, exit 4 (top level, and nested under elasticsearch)', async () => {
    const r = await doctor('logging-nonpersistent', ['--json']);
    expect(r.exitCode).toBe(EXIT.verificationFailed);
    const out = json(r.stdout);
    expect(out.unhealthy).toBe(0);
    expect(out.ok).toBe(false);
    expect(out.warnings.map((w) => [w.release, w.keys])).toEqual([
      ['elasticsearch', ['master.persistence.enabled', 'data.persistence.enabled']],
      ['qse-logging', ['elasticsearch.data.persistence.enabled']],
    ]);
    const human = await doctor('logging-nonpersistent');
    expect(human.stdout).toContain('WARNING release elasticsearch (elasticsearch-1.32.5) runs Elasticsearch without persistence (master.persistence.enabled: false, data.persistence.enabled: false)');
    expect(human.stdout).toContain('log data is lost when those pods are deleted or rescheduled');
    expect(human.helm).toEqual(helmCalls(['qliksense', 'elasticsearch', 'fluentd', 'qse-logging']));
  });

  it('kubectl missing from PATH: exit 2, naming QSADMIN_KUBECTL; nothing else is run', async () => {
    const r = await doctor('healthy', [], { path: helmOnlyBin });
    expect(r.exitCode).toBe(EXIT.badInput);
    expect(r.stderr).toContain('Error: kubectl not found (looked for "kubectl")');
    expect(r.stderr).toContain('set QSADMIN_KUBECTL to its full path');
    expect(r.calls).toEqual([]);
    const j = await doctor('healthy', ['--json'], { path: helmOnlyBin });
    expect(JSON.parse(j.stdout)).toMatchObject({ status: 'error', exitCode: 2 });
  });

  it('helm missing: exit 2, naming QSADMIN_HELM', async () => {
    const r = await doctor('healthy', [], { path: kubectlOnlyBin });
    expect(r.exitCode).toBe(EXIT.badInput);
    expect(r.stderr).toContain('Error: helm not found (looked for "helm")');
    expect(r.stderr).toContain('set QSADMIN_HELM to its full path');
    expect(r.kubectl).toEqual([['get', 'pods', ...NS, '-o', 'json']]);
  });

  it('a context that does not exist: exit 2', async () => {
    const r = await doctor('healthy', ['--context', 'nope']);
    expect(r.exitCode).toBe(EXIT.badInput);
    expect(r.stderr).toContain('kubectl: context "nope" does not exist in the kubeconfig');
    expect(r.kubectl).toEqual([['get', 'pods', ...NS, '--context', 'nope', '-o', 'json']]);
    expect(r.helm).toEqual([]);
  });

  it('a cluster that cannot be reached: exit 1', async () => {
    const r = await doctor('unreachable');
    expect(r.exitCode).toBe(EXIT.stepFailed);
    expect(r.stderr).toContain('kubectl cannot reach the cluster: The connection to the server 127.0.0.1:6443 was refused');
    expect(r.helm).toEqual([]);
    const j = await doctor('unreachable', ['--json']);
    expect(JSON.parse(j.stdout)).toMatchObject({ status: 'error', exitCode: 1 });
  });

  it('no pod selected needs attention (exit 4); --selector with --name-prefix is bad input (exit 2)', async () => {
    const none = await doctor('healthy', ['--name-prefix', 'qlik-nothing-']);
    expect(none.exitCode).toBe(EXIT.verificationFailed);
    expect(none.stdout).toContain('no pods named qlik-nothing-* in namespace default');
    const both = await doctor('healthy', ['--selector', 'release=qliksense', '--name-prefix', 'qliksense-']);
    expect(both.exitCode).toBe(EXIT.badInput);
    expect(both.calls).toEqual([]);
  });

  it('--help documents the exit codes of the doctor', async () => {
    const r = await qsadmin(['k8s', 'doctor', '--help']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('EXIT CODES');
    expect(r.stdout).toMatch(/^ {2}1 {2}the cluster cannot be reached/m);
    expect(r.stdout).toMatch(/^ {2}2 {2}kubectl, helm or the context is missing/m);
    expect(r.stdout).toMatch(/^ {2}4 {2}something needs attention/m);
    expect(r.stdout).not.toContain('the site is locked'); // not the runbooks' table
  });

  it('the tools are only read: every call was kubectl get/logs or helm list/get values', () => {
    expect(allCalls.length).toBeGreaterThan(20);
    for (const c of allCalls) {
      if (c.tool === 'kubectl') expect(['get', 'logs']).toContain(c.argv[0]);
      else expect(c.argv[0] === 'list' || (c.argv[0] === 'get' && c.argv[1] === 'values')).toBe(true);
    }
  });
});

describe('the fakes speak like the tools', () => {
  const env = { PATH: path.dirname(process.execPath), QSADMIN_EMULATOR_K8S_FIXTURE: 'healthy' };
  it('kubectl refuses an unknown flag and an unknown shorthand as kubectl does', async () => {
    const a = await execa(KUBECTL, ['get', 'pods', '--bogus'], { env, extendEnv: false, reject: false });
    expect([a.exitCode, a.stderr]).toEqual([1, "error: unknown flag: --bogus\nSee 'kubectl get --help' for usage."]);
    const b = await execa(KUBECTL, ['logs', 'x', '-x'], { env, extendEnv: false, reject: false });
    expect(b.stderr).toContain("error: unknown shorthand flag: 'x' in -x");
    const c = await execa(KUBECTL, ['delete', 'pod', 'qliksense-mongodb-0'], { env, extendEnv: false, reject: false });
    expect(c.exitCode).toBe(1);
  });
  it('helm refuses an unknown flag as helm does', async () => {
    const a = await execa(HELM, ['list', '--bogus'], { env, extendEnv: false, reject: false });
    expect([a.exitCode, a.stderr]).toEqual([1, 'Error: unknown flag: --bogus']);
  });
});

describe('tool errors sorted into exit codes', () => {
  it.each([
    ['Unable to connect to the server: dial tcp 10.0.0.1:443: i/o timeout', EXIT.stepFailed],
    ['E1202 01:00:40.250688 memcache.go:265] couldn\'t get current server API group list\nThe connection to the server localhost:8080 was refused - did you specify the right host or port?', EXIT.stepFailed],
    ['Error: Kubernetes cluster unreachable: Get "https://10.0.0.1:6443/version": dial tcp 10.0.0.1:6443: connect: connection refused', EXIT.stepFailed],
    ['error: context "qse-test" does not exist', EXIT.badInput],
    ['Error in configuration: context was not found for specified context: qse-test', EXIT.badInput],
  ])('%s', (stderr, code) => {
    const e = classifyToolError('kubectl', stderr, 'qse-test');
    expect(e?.exitCode).toBe(code);
    if (code === EXIT.stepFailed) expect(e!.message).not.toMatch(/^kubectl cannot reach the cluster[^:]*: E\d{4}/);
  });
  it('anything else is left to the caller', () => {
    expect(classifyToolError('kubectl', 'Error from server (Forbidden): pods is forbidden: User "x" cannot list resource "pods"', undefined)).toBeNull();
  });
});
