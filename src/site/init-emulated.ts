// The emulated site's superuser password for `site init --emulated-node`: the emulator writes it to
// <site>/secrets/db-password (0600), as demo tells the operator; a real site has no such file.
import fs from 'node:fs';
import path from 'node:path';

export function emulatedPasswordFile(nodeRoot: string): string | null {
  const file = path.join(path.dirname(path.dirname(path.resolve(nodeRoot))), 'secrets', 'db-password');
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}
