#!/bin/sh
# Installs what the suite needs from Debian beyond Node: PostgreSQL's server and client (initdb,
# postgres, pg_ctl, psql, pgbench) for the throwaway clusters the tests start
# (test/support/postgres-server.ts), the openssl CLI the TLS tests make certificates with, and curl
# for the docs' shell snippets (test/docs/).
# Runs as root on Debian 12; installs nothing that is already there.
set -eu

packages=""
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  # postgresql pulls in the versioned server package, which also ships pgbench on Debian 12.
  packages="postgresql postgresql-client"
fi
command -v openssl >/dev/null 2>&1 || packages="$packages openssl"
command -v curl >/dev/null 2>&1 || packages="$packages curl ca-certificates"

if [ -z "$packages" ]; then
  echo "PostgreSQL, openssl and curl found; nothing to install"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
# shellcheck disable=SC2086
apt-get install -y --no-install-recommends $packages
