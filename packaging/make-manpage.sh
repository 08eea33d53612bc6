#!/usr/bin/env bash
# Renders the sipips --help tree into a man page (section 8), so that the page always says what the program says.
# Usage: make-manpage.sh SIPIPS VERSION > sipips.8
set -euo pipefail
bin=$1; version=$2
esc() { sed -e 's/\\/\\e/g' -e 's/^\./\\\&./' -e "s/^'/\\\\\\&'/"; }
section() { # TITLE COMMAND...
  echo ".SS \"$1\""
  echo ".nf"
  "${@:2}" --help 2>&1 | esc
  echo ".fi"
}
cat <<EOT
.TH SIPIPS 8 "$(date -u +%Y-%m-%d)" "sipips $version" "System Administration"
.SH NAME
sipips \- inline intrusion prevention for SIP (VoIP signalling)
.SH SYNOPSIS
.B sipips run
[\fB\-\-config\fR \fIFILE\fR]
.br
.B sipips status
[\fB\-\-json\fR]
.br
.B sipips
\fICOMMAND\fR [\fIOPTIONS\fR]
.SH DESCRIPTION
SipIps sits as a bump in the wire between two network interfaces, in bridge mode with no IP address. It parses
every SIP message on the fast path, follows sessions by Call-ID, URI and RTP SSRC, scores Call-IDs, URIs and
sources against YAML rules, and drops, rate-limits or bans flooding, scanning and brute-forcing sources, while it
forwards everything else unchanged. It writes SIP Common Log Format logs, exports NetFlow v9 records keyed by SIP
session and serves Prometheus metrics.
.SH COMMANDS
EOT
section "sipips" "$bin"
for c in run status ban unban check-config analyze parse version; do section "sipips $c" "$bin" $c; done
section "sipips rules check" "$bin" rules check
cat <<'EOT'
.SH FILES
.TP
.I /etc/sipips/sipips.yaml
The configuration; every key is documented in the file itself.
.TP
.I /etc/sipips/rules.d/*.yaml
Detection rules; the schema is in /usr/share/doc/sipips/rules.md.
.TP
.I /etc/default/sipips
FAILOPEN=yes|no: whether the ports are joined in a kernel bridge while the service is stopped.
.TP
.I /var/lib/sipips/bans.json
Active bans, restored at start.
.TP
.I /var/log/sipips/
Alerts (alerts.json), evidence pcaps, SIP CLF logs.
.TP
.I /run/sipips/control.sock
The control socket used by status, ban and unban (root and the sipips group).
.SH SIGNALS
.TP
.B SIGHUP
Reload the configuration, the rules and the blocklist; a bad file is refused and the running one stays.
.TP
.B SIGUSR1
Reopen the log files at their paths (logrotate).
.TP
.BR SIGTERM ", " SIGINT
Stop cleanly; open sessions are exported.
.SH EXIT STATUS
0 success; 1 invalid input (a SIP message, a configuration or rules with errors); 2 usage or I/O error, or the
bridge cannot start; 3 internal error.
.SH SEE ALSO
.BR systemd.service (5),
.BR logrotate (8),
.BR nfdump (1),
.BR prometheus (1)
EOT
