#!/usr/bin/env bash
# The SQL connector tests need PostgreSQL (127.0.0.1:5432, trust authentication on loopback,
# a `test` database) and MariaDB (127.0.0.1:3306, root without a password, a `test` database).
# Starts them when they are installed but not running; fails, saying how to install them, when
# they are missing (installing them first when run as root on Debian). SQLite needs nothing (the tests use a temporary file). Called by
# scripts/test.sh; safe to run again.
set -euo pipefail

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
  local port=$1 name=$2
  for _ in $(seq 1 60); do
    listening "$port" && return 0
    sleep 0.5
  done
  echo "error: $name did not start listening on 127.0.0.1:$port within 30 s" >&2
  exit 1
}

missing() {
  echo "error: $1 is not installed, and the SQL connector tests need it. On Debian:" >&2
  echo "  apt-get update && apt-get install -y $2" >&2
  echo "then run scripts/ensure-databases.sh again." >&2
  exit 1
}

# Installs the Debian packages that are missing, when we are root on Debian (CI, a fresh
# machine); anywhere else the checks below say what to install.
apt_updated=""
install() {
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || return 0
  if [ -z "$apt_updated" ]; then
    echo "==> apt-get update (to install $*)" >&2
    apt-get update -qq >&2
    apt_updated=1
  fi
  echo "==> apt-get install -y $*" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}
listening 5432 || command -v pg_ctlcluster >/dev/null 2>&1 || install postgresql
listening 3306 || command -v mariadbd-safe >/dev/null 2>&1 || command -v mysqld_safe >/dev/null 2>&1 \
  || install mariadb-server

# PostgreSQL
if ! listening 5432; then
  command -v pg_ctlcluster >/dev/null 2>&1 || missing PostgreSQL "postgresql"
  cluster=$(pg_lsclusters -h 2>/dev/null | awk 'NR==1 {print $1, $2}')
  [ -n "$cluster" ] || missing "a PostgreSQL cluster" "postgresql (it creates one)"
  # shellcheck disable=SC2086
  pg_ctlcluster $cluster start
  wait_for 5432 PostgreSQL
fi
if command -v psql >/dev/null 2>&1; then
  if ! psql -h 127.0.0.1 -U postgres -d test -Atc 'SELECT 1' >/dev/null 2>&1; then
    if command -v runuser >/dev/null 2>&1 && id postgres >/dev/null 2>&1; then
      # Trust on loopback for the tests, and the `test` database.
      hba=$(runuser -u postgres -- psql -Atc 'SHOW hba_file')
      if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
        sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
        runuser -u postgres -- psql -Atc 'SELECT pg_reload_conf()' >/dev/null
      fi
      runuser -u postgres -- psql -Atc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1 \
        || runuser -u postgres -- createdb test
    fi
    psql -h 127.0.0.1 -U postgres -d test -Atc 'SELECT 1' >/dev/null \
      || { echo "error: PostgreSQL runs but refuses postgres@127.0.0.1/test without a password" >&2; exit 1; }
  fi
fi

# MariaDB (or MySQL)
if ! listening 3306; then
  if command -v mariadbd-safe >/dev/null 2>&1 || command -v mysqld_safe >/dev/null 2>&1; then
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    if command -v service >/dev/null 2>&1 && service mariadb start >/dev/null 2>&1; then
      :
    else
      (setsid "$(command -v mariadbd-safe || command -v mysqld_safe)" >/dev/null 2>&1 &)
    fi
    wait_for 3306 MariaDB
  else
    missing MariaDB "mariadb-server"
  fi
fi
client=$(command -v mariadb || command -v mysql || true)
if [ -n "$client" ]; then
  if ! "$client" -h 127.0.0.1 -u root -e 'SELECT 1' test >/dev/null 2>&1; then
    # Root over TCP without a password, and the `test` database (local socket auth as root).
    "$client" -u root -e "CREATE DATABASE IF NOT EXISTS test; \
      CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; \
      GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; FLUSH PRIVILEGES;" \
      || { echo "error: MariaDB runs but refuses root@127.0.0.1 without a password" >&2; exit 1; }
  fi
fi
echo "databases: PostgreSQL on 127.0.0.1:5432 and MariaDB on 127.0.0.1:3306 are ready" >&2
