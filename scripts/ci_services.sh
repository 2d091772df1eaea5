#!/usr/bin/env bash
# Installs (if missing) and starts what the browser and MySQL tests need:
#   - Debian's chromium, to render the static run report headless;
#   - MariaDB on 127.0.0.1:3306 with a user that may create `mlmd%` databases,
#     so ML Metadata can be tested against a shared MySQL-protocol store.
# Idempotent: when both are installed and MariaDB answers, it only checks.
# Needs root (CI and the development machines run as root) and Debian's apt.
# The tests read MLMD_MYSQL_HOST/PORT/USER/PASSWORD, defaulting to the values below.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

MYSQL_USER="${MLMD_MYSQL_USER:-mlmd}"
MYSQL_PASSWORD="${MLMD_MYSQL_PASSWORD:-mlmd}"

log() { echo "ci_services: $*"; }

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium fonts-dejavu-core)
command -v mariadbd >/dev/null 2>&1 || missing+=(mariadb-server)
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    log "need root to install ${missing[*]}; skipping (browser/mysql tests will be skipped)"
    exit 0
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! mariadb-admin --silent ping >/dev/null 2>&1; then
  log "starting MariaDB"
  # No systemd here. Debian's init script and mysqld_safe both refuse to start while a
  # killed server's stale pid file or unreaped process is around (CI ends every process
  # after a session), so run the server itself, detached.
  install -d -o mysql -g mysql /run/mysqld
  rm -f /run/mysqld/mysqld.pid /run/mysqld/mysqld.sock
  nohup setsid mariadbd --user=mysql --bind-address=127.0.0.1 --log-error=/var/lib/mysql/ci_services.err \
    >/dev/null 2>&1 &
  for _ in $(seq 60); do
    mariadb-admin --silent ping >/dev/null 2>&1 && break
    sleep 1
  done
  mariadb-admin --silent ping >/dev/null 2>&1 || { log "MariaDB did not start (see /var/lib/mysql/ci_services.err)"; exit 1; }
fi

# Root logs in through the unix socket (Debian's default); MLMD connects over TCP
# with a password, so it gets its own user. mysql_native_password is what ML Metadata's
# bundled client speaks.
mariadb --protocol=socket -u root <<SQL
CREATE USER IF NOT EXISTS '${MYSQL_USER}'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('${MYSQL_PASSWORD}');
CREATE USER IF NOT EXISTS '${MYSQL_USER}'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('${MYSQL_PASSWORD}');
GRANT ALL PRIVILEGES ON \`mlmd%\`.* TO '${MYSQL_USER}'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`mlmd%\`.* TO '${MYSQL_USER}'@'localhost';
CREATE DATABASE IF NOT EXISTS mlmd;
SQL
log "chromium: $(command -v chromium); MariaDB on 127.0.0.1:3306, user ${MYSQL_USER}, databases mlmd%"
