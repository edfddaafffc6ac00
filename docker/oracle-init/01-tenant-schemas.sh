#!/bin/bash
# Runs once, when the `oracle` service creates its database: two client ERP
# databases as tenantql meets them in production, NORTH and SOUTH, each made of
#   <T>_ERP       the ERP vendor's schema (sql/oracle/examples/01_vendor_erp.sql),
#                 filled with the demo data (erp_seed.sql, moved into the
#                 vendor's tables by 05_load_demo_data.sql);
#   <T>_CONTRACT  the DBA's schema implementing tenantql's contract as views
#                 and write procedures over it (02, 03), granted to <T>_READER;
#   <T>_TQ        tenantql's account: <T>_READER, and a schema of its own
#                 where `tenantql tenant migrate` creates its change log;
# and the vendor's trigger that notes changed invoices in that log (04).
# The vendor and contract schemas are schema-only accounts (no password, no
# sign-in). Scripts come from sql/oracle (mounted at /opt/tenantql/sql/oracle);
# passwords come from the environment inside sqlplus's input, never on a
# command line. docker/register-tenants.sh then registers, migrates and checks.
set -euo pipefail

for tenant in NORTH SOUTH; do
  sqlplus -s /nolog <<SQL
WHENEVER SQLERROR EXIT SQL.SQLCODE
CONNECT sys/"${ORACLE_PASSWORD}"@//localhost/FREEPDB1 AS SYSDBA
CREATE USER ${tenant}_ERP NO AUTHENTICATION QUOTA UNLIMITED ON USERS;
CREATE USER ${tenant}_CONTRACT NO AUTHENTICATION;
CREATE USER ${tenant}_TQ IDENTIFIED BY "${ORACLE_TENANT_PASSWORD}" QUOTA UNLIMITED ON USERS;
GRANT CREATE SESSION, CREATE TABLE, CREATE SEQUENCE, CREATE PROCEDURE, CREATE TRIGGER TO ${tenant}_TQ;
CREATE ROLE ${tenant}_READER;
GRANT ${tenant}_READER TO ${tenant}_TQ;

ALTER SESSION SET CURRENT_SCHEMA = ${tenant}_ERP;
@/opt/tenantql/sql/oracle/erp_schema.sql
@/opt/tenantql/sql/oracle/erp_seed.sql
@/opt/tenantql/sql/oracle/examples/01_vendor_erp.sql
@/opt/tenantql/sql/oracle/examples/05_load_demo_data.sql
@/opt/tenantql/sql/oracle/examples/04_change_triggers.sql ${tenant}_TQ
BEGIN
  FOR t IN (SELECT table_name FROM all_tables WHERE owner = '${tenant}_ERP') LOOP
    EXECUTE IMMEDIATE 'GRANT SELECT, INSERT, UPDATE ON ${tenant}_ERP.' || t.table_name
      || ' TO ${tenant}_CONTRACT WITH GRANT OPTION';
  END LOOP;
END;
/
GRANT SELECT ON ${tenant}_ERP.document_no_seq TO ${tenant}_CONTRACT;

ALTER SESSION SET CURRENT_SCHEMA = ${tenant}_CONTRACT;
@/opt/tenantql/sql/oracle/examples/02_contract_views.sql ${tenant}_ERP ${tenant}_READER
@/opt/tenantql/sql/oracle/examples/03_contract_procedures.sql ${tenant}_ERP ${tenant}_READER
EXIT
SQL
  echo "client database ${tenant} created (vendor ${tenant}_ERP, contract ${tenant}_CONTRACT, tenantql ${tenant}_TQ)"
done
