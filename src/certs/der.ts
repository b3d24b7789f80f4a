// A small DER reader (X.690): enough to walk a certificate to one extension and to read a string value. Reading a
// certificate then needs no node-forge, which takes about 50 ms to load; forge stays for making certificates and PFX files.

/** One DER element: its class, constructed bit, tag number, and the bytes of its value. */
export interface DerElement {
  tagClass: 'universal' | 'application' | 'context' | 'private';
  constructed: boolean;
  tag: number;
  value: Buffer;
}

const CLASSES = ['universal', 'application', 'context', 'private'] as const;

/** Universal tag numbers of the string types read here. */
export const DER_TAG = { octetString: 4, utf8String: 12, bmpString: 30 } as const;

// Read the element at `offset`; returns it and where the next one starts. Throws on anything DER does not allow
// here: a value running past the end, an indefinite length, a multi-byte tag number.
function readElement(buf: Buffer, offset: number): { element: DerElement; next: number } {
  if (offset + 2 > buf.length) throw new Error('DER: truncated element header');
  const first = buf[offset];
  const tag = first & 0x1f;
  if (tag === 0x1f) throw new Error('DER: multi-byte tag numbers are not supported');
  let length = buf[offset + 1];
  let pos = offset + 2;
  if (length === 0x80) throw new Error('DER: indefinite length');
  if (length > 0x80) {
    const octets = length & 0x7f;
    if (octets > 4 || pos + octets > buf.length) throw new Error('DER: bad length');
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + buf[pos + i];
    pos += octets;
  }
  if (pos + length > buf.length) throw new Error('DER: value runs past the end');
  const element = { tagClass: CLASSES[first >> 6], constructed: (first & 0x20) !== 0, tag, value: buf.subarray(pos, pos + length) };
  return { element, next: pos + length };
}

// The one element a buffer holds; bytes left after it are an error, as they are for forge's strict parse.
export function parseDer(buf: Buffer): DerElement {
  const { element, next } = readElement(buf, 0);
  if (next !== buf.length) throw new Error('DER: bytes remain after the element');
  return element;
}

// The elements inside a constructed element, in order.
export function children(element: DerElement): DerElement[] {
  if (!element.constructed) throw new Error('DER: a primitive element has no children');
  const out: DerElement[] = [];
  for (let pos = 0; pos < element.value.length; ) {
    const r = readElement(element.value, pos);
    out.push(r.element);
    pos = r.next;
  }
  return out;
}

// The dotted form of an OBJECT IDENTIFIER value ("1.3.6.1.5.5.7.13.3").
export function oidString(value: Buffer): string {
  const arcs: number[] = [];
  let n = 0;
  for (const byte of value) {
    n = n * 128 + (byte & 0x7f);
    if (byte & 0x80) continue;
    if (arcs.length === 0) arcs.push(n < 80 ? Math.floor(n / 40) : 2, n < 80 ? n % 40 : n - 80);
    else arcs.push(n);
    n = 0;
  }
  return arcs.join('.');
}
