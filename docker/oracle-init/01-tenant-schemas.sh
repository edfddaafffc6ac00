#!/bin/bash
# Runs once, when the `oracle` service creates its database: two tenant schemas,
# ERP_NORTH and ERP_SOUTH, each with tenantql's ERP tables and change log
# (sql/oracle/, mounted at /opt/tenantql/sql/oracle). Passwords come from the
# environment and are sent inside sqlplus's input, never on a command line.
set -euo pipefail

for schema in ERP_NORTH ERP_SOUTH; do
  sqlplus -s /nolog <<SQL
WHENEVER SQLERROR EXIT SQL.SQLCODE
CONNECT sys/"${ORACLE_PASSWORD}"@//localhost/FREEPDB1 AS SYSDBA
CREATE USER ${schema} IDENTIFIED BY "${ORACLE_TENANT_PASSWORD}" QUOTA UNLIMITED ON USERS;
GRANT CREATE SESSION, CREATE TABLE, CREATE SEQUENCE, CREATE TRIGGER TO ${schema};
EXIT
SQL
  sqlplus -s /nolog <<SQL
WHENEVER SQLERROR EXIT SQL.SQLCODE
CONNECT ${schema}/"${ORACLE_TENANT_PASSWORD}"@//localhost/FREEPDB1
@/opt/tenantql/sql/oracle/erp_schema.sql
@/opt/tenantql/sql/oracle/change_log.sql
EXIT
SQL
  echo "tenant schema ${schema} created"
done
