// A PowerShell script qsadmin sends: a tag (so recordings and the test fake know which one it is), its named
// parameters, and its body. Every script returns one value, which the session turns into JSON.

export interface PsScript {
  /** Short stable name, e.g. "service.start"; the first line of the script is "# qsadmin:<name>". */
  name: string;
  /** The parameters the body declares in param(); the caller must supply exactly these. */
  params: string[];
  text: string;
}

/** Declare a script; its text gets the tag line and a param() block built from `params`. */
export function psScript(name: string, params: string[], body: string): PsScript {
  const param = params.length ? `param(${params.map((p) => `$${p}`).join(', ')})\n` : '';
  return { name, params, text: `# qsadmin:${name}\n${param}${body.trim()}\n` };
}
