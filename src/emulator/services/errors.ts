// The emulator raises the Host drivers' service-control errors (one behaviour for runbooks on every driver).
export * from '../../host/service-errors.js';
