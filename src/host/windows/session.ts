// One long-lived PowerShell process per node (node-powershell), so a runbook pays PowerShell's start-up once.
// A remote node is reached from that process through PowerShell remoting (a PSSession over WinRM); we run no agent.
//
// Every command we write is one line of ASCII: PowerShell's `-Command -` mode reads stdin line by line, and a
// multi-line block would run before its end arrives. The script body and its arguments travel as base64; the
// result comes back as base64 of UTF-8 JSON, because powershell.exe writes its stdout in the console code page.
import type { NodeReach, WinrmReach } from '../../site/model.js';
import type { PsScript } from './ps/script.js';
import { base64Json, base64Text } from './quote.js';

export type { NodeReach, WinrmReach } from '../../site/model.js';

export interface SessionOptions {
  /** powershell.exe 5.1 by default; "pwsh" for PowerShell 7; or a path (tests use a recording fake). */
  executable?: string;
  reach: NodeReach;
  /** The environment PowerShell starts with: the caller removes secrets it does not need. */
  env: NodeJS.ProcessEnv;
  /** Per command; a command that takes longer fails (the session is then closed). */
  timeoutMs?: number;
}

/** A script that PowerShell ran and that reported a failure of its own (an exception inside the script). */
export class PowerShellError extends Error {
  constructor(
    readonly script: string,
    message: string,
    readonly type?: string,
  ) {
    super(`PowerShell script ${script} failed: ${message}`);
    this.name = 'PowerShellError';
  }
}

const RESULT_TAG = 'QSADMIN-RESULT ';

// Decode base64 into text inside PowerShell.
const fromB64 = (b64: string) => `[System.Text.Encoding]::UTF8.GetString([System.Convert]::FromBase64String('${b64}'))`;

/**
 * The one line that runs `script` with `args`: decode, splat the arguments as named parameters, run (locally, or in
 * the node's PSSession), and print the tagged base64 JSON envelope {ok, value} or {ok: false, error, type}.
 */
export function commandLine(script: PsScript, args: Record<string, unknown>, remote: boolean): string {
  const missing = script.params.filter((p) => !(p in args));
  const extra = Object.keys(args).filter((k) => !script.params.includes(k));
  if (missing.length || extra.length) throw new Error(`script ${script.name}: missing ${missing.join(', ') || '-'}, unexpected ${extra.join(', ') || '-'}`);
  const run = remote
    ? "$v = Invoke-Command -Session $global:QsadminSession -ScriptBlock { param($t, $h) & ([scriptblock]::Create($t)) @h } -ArgumentList $t, $h"
    : '$v = & ([scriptblock]::Create($t)) @h';
  return [
    '& {',
    "$ErrorActionPreference = 'Stop';",
    'try {',
    `$t = ${fromB64(base64Text(script.text))};`,
    `$o = ConvertFrom-Json -InputObject (${fromB64(base64Json(args))});`,
    '$h = @{}; foreach ($p in $o.PSObject.Properties) { $h[$p.Name] = $p.Value };',
    `${run};`,
    '$r = @{ ok = $true; value = $v }',
    '} catch {',
    '$r = @{ ok = $false; error = $_.Exception.Message; type = $_.Exception.GetType().FullName }',
    '};',
    `[Console]::Out.WriteLine('${RESULT_TAG}' + [System.Convert]::ToBase64String([System.Text.Encoding]::UTF8.GetBytes((ConvertTo-Json -InputObject $r -Compress -Depth 8))))`,
    '}',
  ].join(' ');
}

/** The line that opens the PSSession to a remote node (credentials, when named, from the environment). */
export function openRemoteLine(reach: WinrmReach, hostname: string, credential?: { username: string; password: string }): string {
  const args: Record<string, unknown> = { ComputerName: reach.computerName ?? hostname };
  const parts = ['-ComputerName $h.ComputerName'];
  if (reach.port) (args.Port = reach.port), parts.push('-Port $h.Port');
  if (reach.useSsl) parts.push('-UseSSL');
  if (reach.authentication) (args.Authentication = reach.authentication), parts.push('-Authentication $h.Authentication');
  if (credential) {
    args.Username = credential.username;
    args.Password = credential.password;
    parts.push('-Credential (New-Object -TypeName System.Management.Automation.PSCredential -ArgumentList $h.Username, (ConvertTo-SecureString -String $h.Password -AsPlainText -Force))');
  }
  return [
    '& {',
    "$ErrorActionPreference = 'Stop';",
    `$h = ConvertFrom-Json -InputObject (${fromB64(base64Json(args))});`,
    `$global:QsadminSession = New-PSSession ${parts.join(' ')};`,
    `[Console]::Out.WriteLine('${RESULT_TAG}' + [System.Convert]::ToBase64String([System.Text.Encoding]::UTF8.GetBytes((ConvertTo-Json -InputObject @{ ok = $true; value = $global:QsadminSession.ComputerName } -Compress))))`,
    '}',
  ].join(' ');
}

/** The tagged envelope in a command's stdout, decoded. */
export function parseResult(scriptName: string, stdout: string): unknown {
  const line = stdout.split(/\r?\n/).reverse().find((l) => l.startsWith(RESULT_TAG));
  if (!line) throw new PowerShellError(scriptName, `no result in its output${stdout.trim() ? `: ${stdout.trim().slice(0, 300)}` : ''}`);
  const env = JSON.parse(Buffer.from(line.slice(RESULT_TAG.length).trim(), 'base64').toString('utf8')) as { ok: boolean; value?: unknown; error?: string; type?: string };
  if (!env.ok) throw new PowerShellError(scriptName, env.error ?? 'unknown error', env.type);
  return env.value;
}

interface ShellLike {
  invoke(command: string): Promise<{ raw: string }>;
  dispose(): Promise<unknown>;
}

/** A PowerShell session for one node. Commands run one at a time (node-powershell queues them). */
export class PsSession {
  private shell?: Promise<ShellLike>;

  constructor(
    private readonly hostname: string,
    private readonly opts: SessionOptions,
  ) {}

  private async open(): Promise<ShellLike> {
    const { PowerShell } = await import('node-powershell');
    const shell = new PowerShell({
      executable: this.opts.executable ?? 'powershell',
      executableOptions: { '-NoProfile': true, '-NonInteractive': true, '-ExecutionPolicy': 'Bypass' },
      spawnOptions: { env: this.opts.env },
      invocationTimeout: this.opts.timeoutMs ?? 0,
      throwOnInvocationError: true,
    }) as unknown as ShellLike;
    const reach = this.opts.reach;
    if (reach.via === 'winrm') {
      const credential = winrmCredential(reach);
      const r = await shell.invoke(openRemoteLine(reach, this.hostname, credential));
      parseResult('session.open', r.raw);
    }
    return shell;
  }

  /** Run a script with its named arguments and return its value. */
  async run<T>(script: PsScript, args: Record<string, unknown> = {}): Promise<T> {
    this.shell ??= this.open();
    const shell = await this.shell;
    const r = await shell.invoke(commandLine(script, args, this.opts.reach.via === 'winrm'));
    return parseResult(script.name, r.raw) as T;
  }

  async close(): Promise<void> {
    const s = this.shell;
    this.shell = undefined;
    if (s) await (await s.catch(() => undefined))?.dispose().catch(() => undefined);
  }
}

function winrmCredential(reach: WinrmReach): { username: string; password: string } | undefined {
  if (!reach.usernameEnv && !reach.passwordEnv) return undefined;
  const username = reach.usernameEnv ? process.env[reach.usernameEnv] : undefined;
  const password = reach.passwordEnv ? process.env[reach.passwordEnv] : undefined;
  if (!username || !password) {
    const unset = [reach.usernameEnv && !username ? reach.usernameEnv : '', reach.passwordEnv && !password ? reach.passwordEnv : ''].filter(Boolean);
    throw new Error(`the WinRM credential is incomplete: set ${unset.join(' and ')} (the site config names these variables)`);
  }
  return { username, password };
}
