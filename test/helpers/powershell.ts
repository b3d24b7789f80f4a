// Parse PowerShell with a real grammar (tree-sitter-powershell, as WebAssembly) and list its syntax errors.
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
let parserPromise: Promise<{ parse(s: string): { rootNode: SyntaxNode } }> | undefined;

interface SyntaxNode {
  type: string;
  isMissing: boolean;
  hasError: boolean;
  startPosition: { row: number; column: number };
  children: SyntaxNode[];
  text: string;
}

async function parser() {
  parserPromise ??= (async () => {
    const { Parser, Language } = await import('web-tree-sitter');
    await Parser.init();
    const wasm = path.join(path.dirname(require.resolve('tree-sitter-powershell/package.json')), 'tree-sitter-powershell.wasm');
    const lang = await Language.load(wasm);
    const p = new Parser();
    p.setLanguage(lang);
    return p as never;
  })();
  return parserPromise;
}

/** Syntax errors in a PowerShell script: ERROR and MISSING nodes with their positions (empty = parses). */
export async function powershellErrors(script: string): Promise<string[]> {
  const tree = (await parser()).parse(script);
  const out: string[] = [];
  const walk = (n: SyntaxNode) => {
    if (n.type === 'ERROR' || n.isMissing) out.push(`${n.isMissing ? 'missing' : 'error'} at ${n.startPosition.row + 1}:${n.startPosition.column + 1}: ${n.text.slice(0, 40)}`);
    for (const c of n.children) walk(c);
  };
  walk(tree.rootNode);
  return out;
}
