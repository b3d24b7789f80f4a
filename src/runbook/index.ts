// The runbook engine's public surface. It knows nothing of Qlik.
export * from './errors.js';
export * from './step.js';
export * from './runner.js';
export * from './journal.js';
export * from './lock.js';
export * from './redact.js';
export * from './state.js';
export * from './plan-printer.js';
