// pg_hba.conf edits: the method of active lines switched from one password method to another (comments kept).

export type PasswordMethod = 'md5' | 'scram-sha-256';

// The active (not comment, not blank) lines of a pg_hba.conf whose method is `method`.
export function linesWithMethod(text: string, method: PasswordMethod): string[] {
  return text.split('\n').filter((line) => !/^\s*(#|$)/.test(line) && line.trim().split(/\s+/).slice(3).includes(method));
}

// Rewrite the method of every active line from `from` to `to`; everything else stays byte for byte.
export function switchHbaMethod(text: string, from: PasswordMethod, to: PasswordMethod): string {
  return text
    .split('\n')
    .map((line) => {
      if (/^\s*(#|$)/.test(line) || !line.trim().split(/\s+/).slice(3).includes(from)) return line;
      return line.replace(new RegExp(`(\\s)${from.replace(/-/g, '\\-')}(?=\\s|$)`), `$1${to}`);
    })
    .join('\n');
}
