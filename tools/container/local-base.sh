#!/usr/bin/env bash
# Make the Dockerfile's base image (docker.io/library/debian:bookworm-slim) without a registry:
# debootstrap a minimal Debian bookworm from the mirror apt on this machine already uses, import it
# into podman's image store and give it the standard name, so that `podman build --pull=never` finds it.
# Used by `make image` only when the base can be neither found locally nor pulled. Needs root, debootstrap, podman.
set -euo pipefail

BASE=${BASE:-docker.io/library/debian:bookworm-slim}
SUITE=${SUITE:-bookworm}
PODMAN=${PODMAN:-podman}

# The mirror: first from apt's own index targets (what `apt-get update` fetched), else from its source lists.
mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Identifier: Packages' 2>/dev/null \
         | awk -v s="$SUITE" '$2 == s { print $1; exit }')
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
           | awk -v s="$SUITE" '$1 == "deb" { for (i = 2; i < NF; i++) if ($i !~ /^\[/ && $(i+1) == s) { print $i; exit } }')
fi
if [ -z "$mirror" ]; then  # deb822 .sources files: the URIs of the stanza whose Suites name the suite
  mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
           | awk -v s="$SUITE" 'BEGIN { RS = ""; FS = "\n" }
               { uri = ""; ok = 0
                 for (i = 1; i <= NF; i++) {
                   if ($i ~ /^URIs:/) { split($i, u, " "); uri = u[2] }
                   if ($i ~ /^Suites:/) { n = split($i, w, " "); for (j = 2; j <= n; j++) if (w[j] == s) ok = 1 }
                 }
                 if (ok && uri != "") { print uri; exit } }')
fi
[ -n "$mirror" ] || { echo "local-base: no Debian $SUITE mirror in apt's configuration" >&2; exit 1; }

started=$(date +%s)
root=$(mktemp -d /tmp/flashtts-base.XXXXXX)
# in memory where possible: dpkg syncs every file it writes, which takes minutes on a busy disk (45 s vs 130 s here)
mounted=
if mount -t tmpfs -o size=1g,mode=755 flashtts-base "$root" 2>/dev/null; then mounted=1; fi
trap '[ -z "$mounted" ] || umount "$root"; rm -rf "$root"' EXIT
echo "local-base: debootstrap --variant=minbase $SUITE from $mirror" >&2
debootstrap --variant=minbase "$SUITE" "$root" "$mirror" >/dev/null
# What the official slim image sets up: later apt installs skip docs, man pages and translations, keep no
# package caches or translated indexes, and dpkg does not sync each file (a container layer is written once).
echo force-unsafe-io > "$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
cat > "$root/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
echo 'Acquire::Languages "none";' > "$root/etc/apt/apt.conf.d/docker-no-languages"
echo 'Acquire::GzipIndexes "true";' > "$root/etc/apt/apt.conf.d/docker-gzip-indexes"
cat > "$root/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
CFG
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
       "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
tar --numeric-owner -C "$root" -c . | $PODMAN import - localhost/debian:"$SUITE"-slim >/dev/null
$PODMAN tag localhost/debian:"$SUITE"-slim "$BASE"
echo "local-base: $BASE made locally from $mirror in $(( $(date +%s) - started )) s" >&2
