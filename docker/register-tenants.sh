#!/bin/bash
# The `register` service of docker-compose.yml: registers the Oracle tenants
# `north` and `south` — client ERP databases the oracle service's init script
# created: the vendor's schema, the contract as views and procedures in
# <T>_CONTRACT, tenantql's account <T>_TQ — writing through the client's
# procedures; migrates tenantql's own objects into them, checks them against
# the contract, and creates the first platform admin, admin of both. Safe to run again: what exists
# is left alone. Secrets arrive in the environment and reach tenantql on standard
# input, never on a command line.
set -euo pipefail

# Runs a tenantql command whose "already exists" refusal means there is nothing to do.
idempotent() {
  local out
  if ! out=$("$@" 2>&1 <"${STDIN_FILE:-/dev/null}"); then
    case "$out" in
      *"already exists"* | *"already a member"*) echo "unchanged: $*" ;;
      *) echo "$out" >&2; return 1 ;;
    esac
  fi
}

SECRETS=$(mktemp -d)
trap 'rm -rf "$SECRETS"' EXIT
# Writes a secret to a private file (fed to tenantql's standard input); prints its path.
secret_file() {
  printf '%s\n' "$2" >"$SECRETS/$1"
  echo "$SECRETS/$1"
}

add_tenant() {
  local slug=$1 prefix=$2 name=$3
  if ! tenantql tenant show "$slug" >/dev/null 2>&1; then
    STDIN_FILE=$(secret_file db-password "$ORACLE_TENANT_PASSWORD") idempotent \
      tenantql tenant add "$slug" --name "$name" --backend oracle \
      --connect "$ORACLE_CONNECT" --db-user "${prefix}_TQ" --db-password-stdin \
      --contract-schema "${prefix}_CONTRACT" --write-mode procedures
  fi
  tenantql tenant test-connection "$slug"
  # Re-running is safe: a tenant at the target version is left alone.
  tenantql tenant migrate "$slug"
  tenantql tenant check "$slug"
}

add_tenant north NORTH "North Ltd"
add_tenant south SOUTH "South GmbH"

STDIN_FILE=$(secret_file admin-password "$TENANTQL_ADMIN_PASSWORD") idempotent \
  tenantql user add "$TENANTQL_ADMIN_EMAIL" --platform-admin
for slug in north south; do
  idempotent tenantql grant "$TENANTQL_ADMIN_EMAIL" "$slug" admin
done
echo "registered: tenants north and south; platform admin $TENANTQL_ADMIN_EMAIL"
