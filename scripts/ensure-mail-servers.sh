#!/usr/bin/env bash
# The mailbox connector's tests (`kind: imap`) start their own Dovecot on a free loopback port,
# with a throwaway config, user and Maildir (tests/src/imap.rs); they need Debian's
# dovecot-imapd installed, not running. Installs it when it is missing and we are root on
# Debian (CI, a fresh machine); anywhere else says how. (The SMTP tests' aiosmtpd comes from
# PyPI through scripts/setup-venv.sh.) Called by scripts/test.sh; safe to run again.
set -euo pipefail

have_dovecot() {
  command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ] || [ -n "${SWITCHYARD_DOVECOT:-}" ]
}

if ! have_dovecot && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "==> apt-get update && apt-get install -y dovecot-imapd (for the IMAP connector's tests)" >&2
  apt-get update -qq >&2
  # The package's own service is not wanted (the tests start theirs): where no init system
  # runs, its start is refused and that is fine.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >&2
fi
if ! have_dovecot; then
  echo "error: Dovecot is not installed, and the IMAP connector tests need it. On Debian:" >&2
  echo "  apt-get update && apt-get install -y dovecot-imapd" >&2
  echo "or set SWITCHYARD_DOVECOT to a dovecot binary; then run scripts/ensure-mail-servers.sh again." >&2
  exit 1
fi
echo "mail servers: Dovecot $( (dovecot --version 2>/dev/null || /usr/sbin/dovecot --version) | head -1) is installed" >&2
