// The security-rule condition language as the Qlik seeds use it (seeds 002 and 004; reference/security-rules.md):
// parentheses, double-quoted strings, `and` / `or` / `!`, `=` and `like` (and `!=`), AND binding tighter than OR,
// case-insensitive keywords and names, paths such as `resource.app.stream.@AdminGroup`, custom properties `@name`,
// and functions on paths (`resource.App.stream.Empty()`, `resource.App.HasPrivilege("read")`, `user.IsAnonymous()`).
// A small recursive-descent parser: every node keeps its offset in the text, so findings can name line and column.

export interface Pos {
  /** 0-based offset in the condition text. */
  offset: number;
}

export interface Segment {
  /** As written (case kept, for printing); compare with `.toLowerCase()`. */
  name: string;
  /** `@name`: a custom property. */
  cp: boolean;
  /** Arguments when the segment is a call, e.g. HasPrivilege("read"). */
  args?: Operand[];
}

export type Operand =
  | ({ kind: 'str'; value: string } & Pos)
  | ({ kind: 'path'; segs: Segment[] } & Pos);

export type Cond =
  | ({ kind: 'or' | 'and'; items: Cond[] } & Pos)
  | ({ kind: 'not'; item: Cond } & Pos)
  | ({ kind: 'cmp'; op: '=' | '!=' | 'like'; left: Operand; right: Operand } & Pos)
  /** A path used as a condition on its own: a function call such as user.IsAnonymous(). */
  | ({ kind: 'test'; operand: Operand & { kind: 'path' } } & Pos);

export class ConditionSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

type TokKind = '(' | ')' | ',' | '.' | '@' | '!' | 'op' | 'str' | 'word' | 'and' | 'or' | 'eof';
interface Tok {
  kind: TokKind;
  text: string;
  offset: number;
}

/** The path roots the language knows; any other bare word is a literal value (e.g. Chrome* after like). */
export const ROOTS = ['user', 'resource', 'environment'];

// Split the text into tokens; a character that starts no token is a syntax error at its offset.
function tokenize(text: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const start = i;
    if ('(),.@'.includes(ch)) {
      out.push({ kind: ch as TokKind, text: ch, offset: i++ });
    } else if (ch === '!' && text[i + 1] === '=') {
      out.push({ kind: 'op', text: '!=', offset: i });
      i += 2;
    } else if (ch === '!') {
      out.push({ kind: '!', text: ch, offset: i++ });
    } else if (ch === '=') {
      out.push({ kind: 'op', text: '=', offset: i++ });
    } else if (ch === '"') {
      i++;
      let value = '';
      while (i < text.length && text[i] !== '"') value += text[i++];
      if (i >= text.length) throw new ConditionSyntaxError('unterminated string: a closing " is missing', start);
      i++;
      out.push({ kind: 'str', text: value, offset: start });
    } else if (/[A-Za-z0-9_*\-]/.test(ch)) {
      while (i < text.length && /[A-Za-z0-9_*\-]/.test(text[i])) i++;
      const word = text.slice(start, i);
      const lower = word.toLowerCase();
      if (lower === 'and' || lower === 'or') out.push({ kind: lower, text: word, offset: start });
      else if (lower === 'like') out.push({ kind: 'op', text: 'like', offset: start });
      else out.push({ kind: 'word', text: word, offset: start });
    } else {
      throw new ConditionSyntaxError(`unexpected character '${ch}'`, i);
    }
  }
  out.push({ kind: 'eof', text: '', offset: text.length });
  return out;
}

class Parser {
  private i = 0;
  constructor(private readonly toks: Tok[]) {}

  // The current token (a method, so that TypeScript does not narrow it across this.i++).
  private get tok(): Tok {
    return this.toks[this.i] as Tok;
  }
  private peekKind(): TokKind {
    return this.toks[this.i].kind;
  }

  private take(kind: TokKind, what: string): Tok {
    const t = this.tok;
    if (t.kind !== kind) throw new ConditionSyntaxError(`expected ${what}, found ${describe(t)}`, t.offset);
    this.i++;
    return t;
  }

  parseAll(): Cond {
    const c = this.or();
    if (this.tok.kind !== 'eof') throw new ConditionSyntaxError(`expected and, or or the end, found ${describe(this.tok)}`, this.tok.offset);
    return c;
  }

  // or := and ('or' and)*
  private or(): Cond {
    const first = this.and();
    const items = [first];
    while (this.tok.kind === 'or') {
      this.i++;
      items.push(this.and());
    }
    return items.length === 1 ? first : { kind: 'or', items, offset: first.offset };
  }

  // and := unary ('and' unary)*   (AND binds tighter than OR, seed 002)
  private and(): Cond {
    const first = this.unary();
    const items = [first];
    while (this.tok.kind === 'and') {
      this.i++;
      items.push(this.unary());
    }
    return items.length === 1 ? first : { kind: 'and', items, offset: first.offset };
  }

  // unary := '!' unary | '(' or ')' | comparison
  private unary(): Cond {
    const t = this.tok;
    if (t.kind === '!') {
      this.i++;
      return { kind: 'not', item: this.unary(), offset: t.offset };
    }
    if (t.kind === '(') {
      this.i++;
      const inner = this.or();
      this.take(')', "')'");
      return inner;
    }
    return this.comparison();
  }

  // comparison := operand (op operand)?  — without an operator the operand must be a function call
  private comparison(): Cond {
    const left = this.operand();
    if (this.tok.kind === 'op') {
      const op = this.tok.text.toLowerCase() as '=' | '!=' | 'like';
      this.i++;
      return { kind: 'cmp', op, left, right: this.operand(), offset: left.offset };
    }
    if (left.kind === 'path' && left.segs[left.segs.length - 1].args) return { kind: 'test', operand: left, offset: left.offset };
    throw new ConditionSyntaxError(`expected =, like or != after ${operandText(left)}, found ${describe(this.tok)}`, this.tok.offset);
  }

  // operand := string | path ; path := segment ('.' segment)* ; segment := '@' word | word ['(' args ')']
  private operand(): Operand {
    const t = this.tok;
    if (t.kind === 'str') {
      this.i++;
      return { kind: 'str', value: t.text, offset: t.offset };
    }
    if (t.kind !== 'word' && t.kind !== '@') throw new ConditionSyntaxError(`expected a value, a string or a name, found ${describe(t)}`, t.offset);
    const segs: Segment[] = [this.segment()];
    while (this.tok.kind === '.') {
      this.i++;
      segs.push(this.segment());
    }
    return { kind: 'path', segs, offset: t.offset };
  }

  private segment(): Segment {
    const cp = this.tok.kind === '@';
    if (cp) this.i++;
    const name = this.take('word', cp ? 'a custom property name after @' : 'a name').text;
    if (!cp && this.tok.kind === '(') {
      this.i++;
      const args: Operand[] = [];
      if (this.peekKind() !== ')') {
        args.push(this.operand());
        while (this.peekKind() === ',') {
          this.i++;
          args.push(this.operand());
        }
      }
      this.take(')', "')' to close the call");
      return { name, cp, args };
    }
    return { name, cp };
  }
}

function describe(t: Tok): string {
  if (t.kind === 'eof') return 'the end of the condition';
  if (t.kind === 'str') return `"${t.text}"`;
  return `'${t.text}'`;
}

/** Parse a condition; throws ConditionSyntaxError with the offset. An empty condition is undefined (always true). */
export function parseCondition(text: string): Cond | undefined {
  const toks = tokenize(text);
  if (toks.length === 1) return undefined;
  return new Parser(toks).parseAll();
}

/** Line and column (1-based) of an offset. */
export function lineCol(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, col: before[before.length - 1].length + 1 };
}

/** A path's text, e.g. resource.app.stream.@AdminGroup or user.IsAnonymous(). */
export function operandText(o: Operand): string {
  if (o.kind === 'str') return `"${o.value}"`;
  return o.segs.map((s) => `${s.cp ? '@' : ''}${s.name}${s.args ? `(${s.args.map(operandText).join(', ')})` : ''}`).join('.');
}

/** A path as lower-case names without call arguments (for matching): resource.app.stream.@admingroup. */
export function pathKey(o: Operand): string | undefined {
  if (o.kind !== 'path') return undefined;
  return o.segs.map((s) => `${s.cp ? '@' : ''}${s.name.toLowerCase()}`).join('.');
}

/** True when the operand is a literal: a string, or a bare word that is not a path under user/resource/environment. */
export function isLiteral(o: Operand): boolean {
  if (o.kind === 'str') return true;
  return o.segs.length === 1 && !o.segs[0].cp && !o.segs[0].args && !ROOTS.includes(o.segs[0].name.toLowerCase());
}

/** The value of a literal operand. */
export function literalValue(o: Operand): string {
  return o.kind === 'str' ? o.value : o.segs[0].name;
}

// Print with the parentheses the precedence needs (and no more).
function inline(c: Cond, parent: 'or' | 'and' | 'not' | 'top'): string {
  switch (c.kind) {
    case 'or': {
      const s = c.items.map((x) => inline(x, 'or')).join(' or ');
      return parent === 'top' || parent === 'or' ? s : `(${s})`;
    }
    case 'and': {
      const s = c.items.map((x) => inline(x, 'and')).join(' and ');
      return parent === 'not' ? `(${s})` : s;
    }
    case 'not':
      return `!${inline(c.item, 'not')}`;
    case 'cmp': {
      const s = `${operandText(c.left)} ${c.op} ${operandText(c.right)}`;
      return parent === 'not' ? `(${s})` : s;
    }
    case 'test':
      return operandText(c.operand);
  }
}

/** The condition pretty-printed: one line per top-level `or` branch (the next ones start with "or "). */
export function prettyLines(c: Cond | undefined): string[] {
  if (!c) return [];
  if (c.kind !== 'or') return [inline(c, 'top')];
  return c.items.map((x, i) => `${i ? 'or ' : ''}${x.kind === 'and' ? `(${inline(x, 'top')})` : inline(x, 'or')}`);
}
