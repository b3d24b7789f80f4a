#!/usr/bin/env bash
# Nightly qsadmin backup for an emulated (Linux) site, run by templates/qsadmin-backup.timer:
# create a set, append the JSON result to a log that monitoring can read, prune; non-zero on any failure.
# Passwords come from the environment (systemd EnvironmentFile=), never from arguments.
set -uo pipefail
target=${1:?usage: qsadmin-nightly-backup.sh TARGET LOGFILE}
log=${2:?usage: qsadmin-nightly-backup.sh TARGET LOGFILE}
qsadmin=${QSADMIN_BIN:-qsadmin}

result=$("$qsadmin" backup create --to "$target" --json --yes 2>/dev/null)
code=$?
if [ -n "$result" ]; then printf '%s\n' "$(printf '%s' "$result" | tr -d '\n')" >> "$log"; else
  printf '{"status":"error","exitCode":%d,"error":{"message":"qsadmin printed no result"}}\n' "$code" >> "$log"; fi
[ "$code" -eq 0 ] || exit "$code"

pruned=$("$qsadmin" backup prune --to "$target" --keep-daily "${KEEP_DAILY:-7}" --keep-weekly "${KEEP_WEEKLY:-4}" --keep-monthly "${KEEP_MONTHLY:-12}" --json 2>/dev/null)
code=$?
[ -n "$pruned" ] && printf '%s\n' "$(printf '%s' "$pruned" | tr -d '\n')" >> "$log"
exit "$code"
