// Stand-in for Windows DPAPI (machine scope) on an emulated node: Qlik keeps the repository connection strings
// in Repository.exe.config encrypted this way, so a copied config file is useless on another machine.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

// The first 20 bytes of every DPAPI blob (version 1 + the DPAPI provider GUID), so blobs look like Windows ones.
const DPAPI_HEADER = Buffer.from('01000000d08c9ddf0115d1118c7a00c04fc297eb', 'hex');

// Path of the node's machine key (the emulator's equivalent of the DPAPI machine master key).
export function machineKeyFile(nodeRoot: string): string {
  return path.join(nodeRoot, '.emulator', 'machine.key');
}

// Read the node's machine key, creating it (0600) on first use.
function machineKey(nodeRoot: string): Buffer {
  const file = machineKeyFile(nodeRoot);
  try {
    return fs.readFileSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const key = crypto.randomBytes(32);
  fs.writeFileSync(file, key, { mode: 0o600, flag: 'wx' });
  return key;
}

// Encrypt text with the node's machine key; returns base64 like a DPAPI CipherValue.
export function protect(nodeRoot: string, plaintext: string): string {
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', machineKey(nodeRoot), iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([DPAPI_HEADER, iv, cipher.getAuthTag(), body]).toString('base64');
}

// Decrypt a value made by protect() on the same node; fails (like DPAPI) on another node.
export function unprotect(nodeRoot: string, cipherValue: string): string {
  const blob = Buffer.from(cipherValue, 'base64');
  if (blob.length < DPAPI_HEADER.length + 28 || !blob.subarray(0, DPAPI_HEADER.length).equals(DPAPI_HEADER)) {
    throw new Error('not a DPAPI-protected value');
  }
  const iv = blob.subarray(20, 32);
  const tag = blob.subarray(32, 48);
  const decipher = crypto.createDecipheriv('aes-256-gcm', machineKey(nodeRoot), iv);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(blob.subarray(48)), decipher.final()]).toString('utf8');
  } catch {
    throw new Error('Key not valid for use in specified state. (the value was protected on another machine)');
  }
}
