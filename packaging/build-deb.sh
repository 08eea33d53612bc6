#!/usr/bin/env bash
# Builds sipips_<version>_amd64.deb from packaging/: the self-contained, trimmed, single-file ReadyToRun binary, the
# commented configuration and the rules as conffiles, the systemd unit, the fail-open helper, logrotate, the man
# page rendered from --help, the Grafana dashboard and the documentation.
# Usage: packaging/build-deb.sh [OUTDIR]    (default out/)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out}
VERSION=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props | head -1)
DEBVER="$VERSION-1"
NAME="sipips_${DEBVER}_amd64"
STAGE="$OUT/deb/$NAME"

dotnet publish src/SipIps.Host/SipIps.Host.csproj -c Release -r linux-x64 --self-contained \
  -p:PublishSingleFile=true -p:PublishTrimmed=true -p:PublishReadyToRun=true -p:DebugType=none \
  -o "$OUT/publish-deb" -nologo -v quiet

rm -rf "$STAGE"
inst() { install -D -m "$1" "$2" "$STAGE/$3"; }
inst 755 "$OUT/publish-deb/sipips" usr/bin/sipips
# Not stripped: the managed code and the runtime's data travel appended to the ELF file, which strip would cut off.
inst 644 packaging/sipips.yaml etc/sipips/sipips.yaml
for r in rules/*.yaml; do inst 644 "$r" "etc/sipips/rules.d/$(basename "$r")"; done
inst 644 packaging/debian/sipips.default etc/default/sipips
inst 644 packaging/sipips.logrotate etc/logrotate.d/sipips
inst 644 systemd/sipips.service lib/systemd/system/sipips.service
inst 755 packaging/sipips-failopen usr/lib/sipips/sipips-failopen
inst 644 packaging/grafana-dashboard.json usr/share/sipips/grafana-dashboard.json
inst 644 README.md usr/share/doc/sipips/README.md
inst 644 rules/README.md usr/share/doc/sipips/rules.md
inst 644 packaging/debian/copyright usr/share/doc/sipips/copyright
inst 644 packaging/debian/lintian-overrides usr/share/lintian/overrides/sipips
mkdir -p "$STAGE/usr/share/doc/sipips" "$STAGE/usr/share/man/man8"
printf 'sipips (%s) stable; urgency=medium\n\n  * Release %s.\n\n -- SipIps <sipips@example.org>  %s\n' \
  "$DEBVER" "$VERSION" "$(date -R -u -d @"${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")" |
  gzip -9n > "$STAGE/usr/share/doc/sipips/changelog.Debian.gz"
packaging/make-manpage.sh "$STAGE/usr/bin/sipips" "$VERSION" | gzip -9n > "$STAGE/usr/share/man/man8/sipips.8.gz"
chmod 644 "$STAGE/usr/share/doc/sipips/changelog.Debian.gz" "$STAGE/usr/share/man/man8/sipips.8.gz"

mkdir -p "$STAGE/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s/@VERSION@/$DEBVER/" -e "s/@SIZE@/$size/" packaging/debian/control.in > "$STAGE/DEBIAN/control"
for s in postinst prerm postrm; do install -m 755 "packaging/debian/$s" "$STAGE/DEBIAN/$s"; done
(cd "$STAGE" && find etc -type f | sed 's:^:/:' | sort) > "$STAGE/DEBIAN/conffiles"
(cd "$STAGE" && find . -path ./DEBIAN -prune -o -type f -print0 | sort -z | xargs -0 md5sum | sed 's: \./: :') > "$STAGE/DEBIAN/md5sums"
find "$STAGE" -type d -exec chmod 755 {} +
fakeroot dpkg-deb --build --root-owner-group -Zxz "$STAGE" "$OUT/$NAME.deb" >/dev/null
echo "$OUT/$NAME.deb"
