//! `#[pg_test]`s: run inside a live PostgreSQL by `cargo pgrx test`.
use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use pgrx::prelude::*;

    fn one<T: pgrx::IntoDatum + pgrx::FromDatum>(sql: &str) -> Option<T> {
        Spi::get_one::<T>(sql).expect(sql)
    }

    #[pg_test]
    fn text_round_trip() {
        assert_eq!(
            one::<String>("SELECT '[1, 2.5 ,-3e-2]'::vecx::text").as_deref(),
            Some("[1,2.5,-0.03]")
        );
    }

    #[pg_test]
    fn distances() {
        assert_eq!(
            one::<f64>("SELECT '[1,2,3]'::vecx <-> '[4,5,6]'"),
            Some(27f64.sqrt())
        );
        assert_eq!(
            one::<f64>("SELECT '[1,2,3]'::vecx <#> '[4,5,6]'"),
            Some(-32.0)
        );
        assert_eq!(
            one::<f64>("SELECT '[1,2,3]'::vecx <+> '[4,5,6]'"),
            Some(9.0)
        );
        let c = one::<f64>("SELECT '[1,0]'::vecx <=> '[0,1]'").unwrap();
        assert!((c - 1.0).abs() < 1e-12);
        assert!(one::<f64>("SELECT '[0,0]'::vecx <=> '[0,1]'")
            .unwrap()
            .is_nan());
    }

    #[pg_test]
    #[should_panic(expected = "different vecx dimensions 3 and 4")]
    fn dimension_mismatch() {
        one::<f64>("SELECT '[1,2,3]'::vecx <-> '[1,2,3,4]'");
    }

    #[pg_test]
    #[should_panic(expected = "expected 3 dimensions, not 2")]
    fn typmod_enforced() {
        Spi::run("CREATE TEMP TABLE t (v vecx(3)); INSERT INTO t VALUES ('[1,2]')").unwrap();
    }

    #[pg_test]
    fn binary_send_matches_layout() {
        let bytes = one::<Vec<u8>>("SELECT vecx_send('[1,-2]')").unwrap();
        assert_eq!(bytes, vec![0, 2, 0, 0, 0x3f, 0x80, 0, 0, 0xc0, 0, 0, 0]);
    }
}
