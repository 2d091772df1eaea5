#!/usr/bin/env bash
# Installs (if missing) and starts what the browser and MySQL tests need:
#   - Debian's chromium, to render the static run report headless;
#   - MariaDB on 127.0.0.1:3306 with a user that may create `mlmd%` databases,
#     so ML Metadata can be tested against a shared MySQL-protocol store.
# Idempotent: when both are installed and MariaDB answers, it only checks (~1 s).
# Needs root (CI and the development machines run as root) and Debian's apt.
# The tests read MLMD_MYSQL_HOST/PORT/USER/PASSWORD, defaulting to the values below.
set -euo pipefail

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
  # No systemd in containers: Debian's init script starts mysqld_safe and waits for it.
  /etc/init.d/mariadb start >/dev/null
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
