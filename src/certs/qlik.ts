// Qlik's certificate facts: the extension OID, the value each store expects, and where each certificate of the set lives (guide §5.1, §6.1).
import type { StoreRef } from '../host/types.js';

/** The Qlik Sense certificate extension; its value must reflect the certificate's store (guide §6.1, "Invalid certificate"). */
export const QLIK_EXTENSION_OID = '1.3.6.1.5.5.7.13.3';

export type QlikCertRole = 'root' | 'server' | 'client' | 'serviceCluster';
export type QlikExtensionValue = 'Client' | 'Server' | 'Root';

/** Subject CN of the client certificate. */
export const CLIENT_SUBJECT = 'QlikClient';
/** Subject CN of the service cluster certificate (the guide is silent on its extension: find it by subject). */
export const SERVICE_CLUSTER_SUBJECT = 'QlikServiceCluster';

export interface QlikCertLocation {
  role: QlikCertRole;
  store: StoreRef;
  /** Subject CN in this location, from the hostname of the node whose CA issued the set. */
  subject(hostname: string): string;
  /** Whether the private key belongs in this location (the CA key sits only in LocalMachine\Root). */
  withKey: boolean;
  /** The value of the Qlik extension this location expects. */
  extension: QlikExtensionValue;
}

// The extension value the guide requires for a store: CurrentUser\My = Client, LocalMachine\My = Server, any Root = Root.
export function expectedExtension(store: StoreRef): QlikExtensionValue {
  if (store.name === 'Root') return 'Root';
  return store.location === 'CurrentUser' ? 'Client' : 'Server';
}

// The CN of the site CA for a central node's hostname.
export function caSubject(hostname: string): string {
  return `${hostname}-CA`;
}

// The store as Windows admins write it, e.g. "LocalMachine\My" or "CurrentUser\My".
export function storeLabel(store: StoreRef): string {
  return `${store.location}\\${store.name}`;
}

// The store with the account it belongs to, for messages: "CurrentUser(DOMAIN\qlik)\My".
export function storeLabelWithUser(store: StoreRef): string {
  return store.location === 'CurrentUser' && store.user ? `CurrentUser(${store.user})\\${store.name}` : storeLabel(store);
}

// True when two store references name the same store (CurrentUser accounts compared case-insensitively, as Windows does).
export function sameStore(a: StoreRef, b: StoreRef): boolean {
  if (a.location !== b.location || a.name !== b.name) return false;
  if (a.location === 'LocalMachine') return true;
  return (a.user ?? '').toLowerCase() === (b.user ?? '').toLowerCase();
}

// The canonical locations of the Qlik certificate set on a node (guide §5.1 table): five entries, the CA twice.
export function qlikCertLocations(serviceAccount: string): QlikCertLocation[] {
  const lm = (name: StoreRef['name']): StoreRef => ({ location: 'LocalMachine', name });
  const cu = (name: StoreRef['name']): StoreRef => ({ location: 'CurrentUser', name, user: serviceAccount });
  return [
    { role: 'root', store: lm('Root'), subject: caSubject, withKey: true, extension: 'Root' },
    { role: 'root', store: cu('Root'), subject: caSubject, withKey: false, extension: 'Root' },
    { role: 'server', store: lm('My'), subject: (h) => h, withKey: true, extension: 'Server' },
    { role: 'serviceCluster', store: lm('My'), subject: () => SERVICE_CLUSTER_SUBJECT, withKey: true, extension: 'Server' },
    { role: 'client', store: cu('My'), subject: () => CLIENT_SUBJECT, withKey: true, extension: 'Client' },
  ];
}
