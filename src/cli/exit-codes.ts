// The documented exit codes, as --help shows them (README "Exit codes").
export const EXIT_CODES_HELP = `EXIT CODES
  0  ok
  1  a step failed (the run can be resumed: qsadmin runs resume <run-id>)
  2  bad input (flag, file, site state); nothing was changed
  3  the site is locked by another run
  4  verification failed (checksum, certificate, row counts)
  129, 130, 143  stopped by SIGHUP, SIGINT (Ctrl-C) or SIGTERM: the steps in hand finished, services were started
     again; resume with: qsadmin runs resume <run-id>`;
