#!/bin/sh
# Installs Debian's PostgreSQL server and client (initdb, postgres, pg_ctl, psql, pgbench) for
# the tests, which start throwaway clusters of their own (test/support/postgres-server.ts).
# Runs as root on Debian 12; does nothing when initdb is already there.
set -eu

if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "initdb found; PostgreSQL is already installed"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
# postgresql pulls in the versioned server package, which also ships pgbench on Debian 12.
apt-get install -y --no-install-recommends postgresql postgresql-client
