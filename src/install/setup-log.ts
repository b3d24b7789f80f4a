// Reading a failed setup's log for the operator: the error lines and the package (component) that failed. Qlik's
// setup is a WiX Burn bundle: its log marks errors as "[pid:tid][time]e000: ..." and names a failing MSI package
// ("Failed to install package: X", "Failed to execute MSI package." with "Applying execute package: X" before it).

export interface SetupLogFindings {
  /** The packages named as failing, in log order. */
  packages: string[];
  /** The error lines (at most the last 10), without their prefix. */
  errors: string[];
}

export function scanSetupLog(text: string): SetupLogFindings {
  const packages: string[] = [];
  const errors: string[] = [];
  let applying: string | null = null;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\[[0-9A-Fa-f]+:[0-9A-Fa-f]+\]\[[^\]]+\]/, '');
    const apply = /Applying execute package: ([\w.-]+)/.exec(line);
    if (apply) applying = apply[1];
    const isError = /^e\d{3}:/.test(line) || /\bProduct: .* -- Installation failed/i.test(line);
    if (!isError) continue;
    const msg = line.replace(/^e\d{3}:\s*/, '').trim();
    errors.push(msg);
    const named = /Failed to (?:install|execute) (?:MSI )?package:? ([\w.-]+)/i.exec(msg);
    const pkg = named?.[1] ?? (/Failed to execute MSI package/i.test(msg) ? applying : null);
    if (pkg && !packages.includes(pkg)) packages.push(pkg);
  }
  return { packages, errors: errors.slice(-10) };
}
