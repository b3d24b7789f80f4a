// PostgreSQL version strings: parsing and comparing the numbers tools and servers report.

export interface PgVersion {
  /** As reported, without distribution suffix: "15.14", "12.5", "9.6.24". */
  version: string;
  /** Major version: 15, 14, 12; 9.6 for the 9.x line, whose major has two parts. */
  major: number;
}

// Parse the first version number found in a string such as "pg_dump (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)".
export function parsePgVersion(text: string): PgVersion {
  const m = /(\d+)\.(\d+)(?:\.(\d+))?|(\d+)(?:devel|beta\d*|rc\d*)/.exec(text);
  if (!m) throw new Error(`no PostgreSQL version number in "${text.trim()}"`);
  if (m[4] !== undefined) return { version: m[0], major: Number(m[4]) };
  const first = Number(m[1]);
  const version = m[0];
  return { version, major: first >= 10 ? first : Number(`${m[1]}.${m[2]}`) };
}

// Turn server_version_num (150014, 90624) into a version and major.
export function fromVersionNum(num: number): PgVersion {
  if (num >= 100000) {
    const major = Math.floor(num / 10000);
    return { version: `${major}.${num % 10000}`, major };
  }
  const a = Math.floor(num / 10000);
  const b = Math.floor(num / 100) % 100;
  return { version: `${a}.${b}.${num % 100}`, major: Number(`${a}.${b}`) };
}
