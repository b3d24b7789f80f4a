// The documented exit codes, as --help shows them (README "Exit codes").
export const EXIT_CODES_HELP = `EXIT CODES
  0  ok
  1  a step failed (the run can be resumed: qsadmin runs resume <run-id>)
  2  bad input (flag, file, site state); nothing was changed
  3  the site is locked by another run
  4  verification failed (checksum, certificate, row counts)
  129, 130, 143  stopped by SIGHUP, SIGINT (Ctrl-C) or SIGTERM: the steps in hand finished, services were started
     again; resume with: qsadmin runs resume <run-id>`;

// `k8s doctor` reads a cluster and changes nothing, so its codes mean something of their own.
export const K8S_DOCTOR_EXIT_CODES_HELP = `EXIT CODES
  0  every selected pod is healthy and no warning
  1  the cluster cannot be reached (Unable to connect to the server, connection refused, timeout), or kubectl or
     helm failed otherwise (Forbidden: the user may not list pods, for one)
  2  kubectl, helm or the context is missing (not on PATH / QSADMIN_KUBECTL / QSADMIN_HELM; context "x" does not
     exist), or a bad flag
  4  something needs attention: a pod that is not healthy, non-persistent Elasticsearch logging values, or no pod
     selected`;
