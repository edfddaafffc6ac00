//! Keyset conditions in SQL for the ERP lists; the cursors and page sizes are
//! `crate::paging`'s, re-exported here for the ERP queries.
use chrono::NaiveDate;

pub use crate::paging::{decode, encode, page_size, split_page};
use crate::{error::AppError, paging::bad_cursor, store::Sql};

/// For lists ordered newest first by (date, id): appends the condition that keeps
/// only rows after the cursor's row.
pub fn push_after_date_id(sql: &mut Sql, date_column: &str, cursor: &str) -> Result<(), AppError> {
    let parts = decode(cursor, 2)?;
    let date = NaiveDate::parse_from_str(&parts[0], "%Y-%m-%d").map_err(|_| bad_cursor())?;
    let id: i64 = parts[1].parse().map_err(|_| bad_cursor())?;
    sql.push(" AND (")
        .push(date_column)
        .push(" < ")
        .bind(date)
        .push(" OR (")
        .push(date_column)
        .push(" = ")
        .bind(date)
        .push(" AND id < ")
        .bind(id)
        .push("))");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_id_condition() {
        let mut sql = Sql::new(crate::store::Dialect::Oracle);
        sql.push("SELECT id FROM invoices WHERE company_id = ")
            .bind(1);
        push_after_date_id(&mut sql, "issue_date", &encode(&["2026-01-31", "42"])).unwrap();
        assert_eq!(
            sql.text(),
            "SELECT id FROM invoices WHERE company_id = :1 AND (issue_date < :2 OR (issue_date = :3 AND id < :4))"
        );
        assert!(push_after_date_id(&mut sql, "issue_date", &encode(&["yesterday", "42"])).is_err());
    }
}
