#!/bin/bash
# The `register` service of docker-compose.yml: registers the Oracle tenants
# `north` and `south` (schemas ERP_NORTH and ERP_SOUTH, created by the oracle
# service's init script), seeds their demo data through Oracle Instant Client, and
# creates the first platform admin, admin of both. Safe to run again: what exists
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
  local slug=$1 schema=$2 name=$3
  if tenantql tenant show "$slug" >/dev/null 2>&1; then
    echo "tenant $slug is registered"
    return
  fi
  STDIN_FILE=$(secret_file db-password "$ORACLE_TENANT_PASSWORD") idempotent \
    tenantql tenant add "$slug" --name "$name" --backend oracle \
    --connect "$ORACLE_CONNECT" --db-user "$schema" --db-password-stdin
  tenantql tenant test-connection "$slug"
  tenantql demo seed --tenant "$slug" --invoices 2000
}

add_tenant north ERP_NORTH "North Ltd"
add_tenant south ERP_SOUTH "South GmbH"

STDIN_FILE=$(secret_file admin-password "$TENANTQL_ADMIN_PASSWORD") idempotent \
  tenantql user add "$TENANTQL_ADMIN_EMAIL" --platform-admin
for slug in north south; do
  idempotent tenantql grant "$TENANTQL_ADMIN_EMAIL" "$slug" admin
done
echo "registered: tenants north and south; platform admin $TENANTQL_ADMIN_EMAIL"
