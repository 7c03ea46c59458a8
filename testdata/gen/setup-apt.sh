#!/bin/bash
# Adds Debian's other suites (bullseye, trixie, sid) beside the machine's own,
# pinned below the default release so that nothing installed moves to them, and
# the arm64 architecture; the dump generator only `apt-get download`s kernel
# packages (and busybox-static:arm64) from them.
# Idempotent; needs root. Usage: setup-apt.sh [--no-update]
set -euo pipefail

src=/etc/apt/sources.list.d/kwalk-extra.sources
pref=/etc/apt/preferences.d/kwalk-extra
base=/etc/apt/sources.list.d/debian.sources

# Reuse the URI of the machine's Debian archive (not the security one).
uri=""
if [[ -r $base ]]; then
	uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$base")
fi
if [[ -z $uri && -r /etc/apt/sources.list ]]; then
	uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' /etc/apt/sources.list)
fi
uri=${uri:-http://deb.debian.org/debian}

want=$(cat <<EOT
Types: deb
URIs: $uri
Suites: bullseye trixie sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOT
)
wantpref=$(cat <<'EOT'
Package: *
Pin: release n=bullseye
Pin-Priority: 100

Package: *
Pin: release n=trixie
Pin-Priority: 100

Package: *
Pin: release n=sid
Pin-Priority: 100
EOT
)

changed=0
if [[ ! -f $src || "$(cat "$src")" != "$want" ]]; then
	printf '%s\n' "$want" >"$src"
	changed=1
fi
if [[ ! -f $pref || "$(cat "$pref")" != "$wantpref" ]]; then
	printf '%s\n' "$wantpref" >"$pref"
	changed=1
fi
# The aarch64 guests' packages (kernels, busybox-static:arm64) are arm64 ones.
if command -v dpkg >/dev/null && ! dpkg --print-foreign-architectures | grep -qx arm64; then
	dpkg --add-architecture arm64
	changed=1
fi
if [[ ${1:-} != --no-update ]]; then
	# Update when we changed the sources or the lists of an extra suite are missing.
	if [[ $changed == 1 ]] || ! ls /var/lib/apt/lists/*_dists_sid_* >/dev/null 2>&1; then
		apt-get update -q
	fi
fi
