// The log lines the guide names as known problems, each with the guide's fix and the section it is in. Matching is on
// the guide's own words (case-insensitive), so a line from any service, an installer log or a trace log counts.

export interface KnownSignature {
  id: string;
  /** What is searched for in each line (the guide's words). */
  pattern: RegExp;
  /** The text as the guide writes it. */
  text: string;
  section: string;
  fix: string;
}

export const KNOWN_SIGNATURES: KnownSignature[] = [
  {
    id: 'pg-hba-no-entry',
    pattern: /no pg_hba\.conf entry/i,
    text: 'no pg_hba.conf entry for host',
    section: '§8.15 Troubleshooting - database not configured for IP address or range',
    fix: 'the database is not configured to allow connections from that IP address or range: add the address or range in the shared persistence configuration file (IpRange) or the installation UI, or as a line in pg_hba.conf',
  },
  {
    id: 'postgres-password-failed',
    pattern: /password authentication failed for user "postgres"/i,
    text: 'Fatal exception password authentication failed for user "postgres"',
    section: '§3.9 Troubleshooting your upgrade ("Repository service and PostgreSQL database")',
    fix: 'the repository service passes incorrect database credentials: check the connection string with QlikSenseUtil\'s Connection String Editor (§8.6); the superuser password cannot be read back, reset it as §8.5 says',
  },
  {
    id: 'se-security-privilege',
    pattern: /SeSecurityPrivilege/,
    text: 'SeSecurityPrivilege',
    section: '§3.9 Troubleshooting your upgrade ("Qlik Sense repository service fails to start due to error SeSecurityPrivilege")',
    fix: 'the account that runs the services lacks a privilege: make it a member of the Local Administrators group (§8.9 step 2; with a domain administrator, check UAC) and start the services again',
  },
  {
    id: 'error-1053',
    pattern: /Error 1053|error 1053/,
    text: 'Error 1053: The service did not respond to the start control request in a timely fashion',
    section: '§3.9 Troubleshooting your upgrade; §8.9 One or more Qlik Sense services did not start',
    fix: 'set ServicesPipeTimeout to 120000 ms in the registry (QRS needs the time to start), set the Start Type to Automatic (Delayed Start), and start the services in order (§8.9)',
  },
  {
    id: 'too-many-roots',
    pattern: /too many root certificates/i,
    text: 'There are too many root certificates for the service to trust.',
    section: '§6.1 Certificates ("Maximum number of trusted root certificates")',
    fix: 'more than 300 trusted root certificates: Windows truncates the list in the TLS handshake and may drop <host>-CA; remove roots the machine does not need from LocalMachine\\Trusted Root Certification Authorities',
  },
  {
    id: 'patch-uninstalled',
    pattern: /Patch was uninstalled with exit code: -1/i,
    text: 'Patch was uninstalled with exit code: -1',
    section: '§3.9 Troubleshooting your upgrade ("Failed upgrade or patch")',
    fix: 'the patch rolled back (-1 is "General fatal error", §8.11): read the setup log for the failing step, check that the required databases exist (SenseServices, QSMQ, Licenses) and run the patch again',
  },
];
