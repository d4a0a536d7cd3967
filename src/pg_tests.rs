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

    /// A scan's descent on the backend's copy of the upper layers finds exactly what the same
    /// descent on the pages finds. An insert bumps the meta page's `upper_version` exactly when
    /// its element reaches layer 1 (so it changes upper-layer lists), and a bump retires the
    /// copy: the next scans descend on the pages until a new copy is made.
    #[pg_test]
    fn hnsw_upper_copy_matches_pages_and_retires_on_change() {
        use crate::hnsw::build::{level_cap, level_key};
        use crate::hnsw::graph::PageGraph;
        use crate::hnsw::upper::for_scan;
        use vecx_core::hnsw::format::Tid;
        use vecx_core::hnsw::fxhash::FxHashSet;
        use vecx_core::hnsw::level_of;
        use vecx_core::hnsw::upper::descend_through;

        Spi::run(
            "SELECT setseed(0.3); CREATE TABLE up (id int, v vecx(8)); \
             INSERT INTO up SELECT i, (SELECT array_agg(random()::real) \
               FROM generate_series(1, 8) WHERE i > 0)::vecx FROM generate_series(1, 3000) i; \
             CREATE INDEX up_v ON up USING vecx_hnsw (v vecx_l2_ops) \
               WITH (m = 4, ef_construction = 16)",
        )
        .unwrap();
        let oid = one::<pg_sys::Oid>("SELECT 'up_v'::regclass::oid").unwrap();
        // SAFETY: the index exists; it stays open (and locked) to the end of the transaction.
        let rel = unsafe { pg_sys::index_open(oid, pg_sys::AccessShareLock as pg_sys::LOCKMODE) };
        let mut seed = 12345u64;
        let queries: Vec<Vec<f32>> = (0..40)
            .map(|_| {
                (0..8)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        (seed >> 40) as f32 / (1u64 << 24) as f32
                    })
                    .collect()
            })
            .collect();
        let same_descent = |g: &PageGraph, copy: &vecx_core::hnsw::upper::UpperLayers<Tid>| {
            let (entry, top) = (g.meta.entry, g.meta.entry_level as usize);
            for (qi, q) in queries.iter().enumerate() {
                for width in [1, 4] {
                    let mut v1 = FxHashSet::default();
                    let mut v2 = FxHashSet::default();
                    assert_eq!(
                        descend_through(Some(copy), g, q, entry, top, width, &mut v1),
                        descend_through(None, g, q, entry, top, width, &mut v2),
                        "query {qi}, width {width}"
                    );
                }
            }
        };
        // A copy is made on the fourth scan of an unchanged index.
        let g = PageGraph::open(rel);
        assert!(
            g.meta.entry_level >= 2,
            "entry level {}",
            g.meta.entry_level
        );
        for _ in 0..3 {
            assert!(for_scan(&g).is_none());
        }
        let first = for_scan(&g).expect("a copy on the fourth scan");
        assert!(first.len() > 300, "{} elements copied", first.len());
        assert!(std::rc::Rc::ptr_eq(&first, &for_scan(&g).unwrap()));
        same_descent(&g, &*first);
        // Inserts: the version moves exactly with the upper-level ones.
        let (mut upper, mut lower) = (0, 0);
        for i in 0..300 {
            let before = PageGraph::open(rel).meta.upper_version;
            let ctid = one::<String>(&format!(
                "INSERT INTO up SELECT {i}, (SELECT array_agg(random()::real) \
                 FROM generate_series(1, 8))::vecx RETURNING ctid::text"
            ))
            .unwrap();
            let (b, o) = ctid
                .trim_matches(|c| c == '(' || c == ')')
                .split_once(',')
                .unwrap();
            let heap = Tid {
                block: b.parse().unwrap(),
                offset: o.parse().unwrap(),
            };
            let after = PageGraph::open(rel);
            let level = level_of(&after.params, after.meta.seed, level_key(heap))
                .min(level_cap(after.params.m));
            if level >= 1 {
                upper += 1;
                assert_ne!(
                    after.meta.upper_version, before,
                    "insert {i} at level {level}"
                );
            } else {
                lower += 1;
                assert_eq!(after.meta.upper_version, before, "insert {i} at level 0");
            }
        }
        assert!(
            upper >= 20 && lower >= 150,
            "{upper} upper, {lower} level-0 inserts"
        );
        // The old copy is retired: pages for three scans, then a new copy, again exact.
        let g = PageGraph::open(rel);
        for _ in 0..3 {
            assert!(for_scan(&g).is_none());
        }
        let second = for_scan(&g).expect("a new copy");
        assert!(!std::rc::Rc::ptr_eq(&first, &second));
        assert!(second.len() > first.len());
        same_descent(&g, &*second);
        drop(g);
        // SAFETY: opened above.
        unsafe { pg_sys::index_close(rel, pg_sys::AccessShareLock as pg_sys::LOCKMODE) };
    }

    /// Vacuum's freeing and the inserts' reuse of freed storage on an element page (see
    /// `hnsw::slots`): freeing moves no byte of another tuple, a pair of the sizes freed goes
    /// back into the freed bytes under the freed line pointers (contiguous space untouched),
    /// adjacent freed pairs merge into a run that takes a larger tuple, and the layout check
    /// reports overlapping items.
    #[pg_test]
    fn hnsw_slots_free_in_place_and_reuse_freed_runs() {
        use crate::hnsw::slots;
        use crate::pages;
        let mut storage = vec![0u64; pg_sys::BLCKSZ as usize / 8];
        let page = storage.as_mut_ptr() as pg_sys::Page;
        pages::init_page(page, pages::PAGE_ELEMENTS);
        let lp = |off: u16| {
            // SAFETY: `off` is one of the page's line pointers.
            unsafe {
                let id = pg_sys::PageGetItemId(page, off);
                ((*id).lp_flags(), (*id).lp_off(), (*id).lp_len())
            }
        };
        // Three pairs (element 100 bytes, neighbour tuple 60), items 1..=6.
        for i in 0..3u8 {
            let got = slots::place(page, &[&[i; 100][..], &[i + 10; 60][..]]).unwrap();
            assert_eq!(got, vec![2 * i as u16 + 1, 2 * i as u16 + 2]);
        }
        assert_eq!(slots::layout_problem(page), None);
        let snapshot = |offs: &[u16]| -> Vec<(u32, u32, u32, Vec<u8>)> {
            offs.iter()
                .map(|&o| {
                    let (f, at, len) = lp(o);
                    (f, at, len, pages::item(page, o).unwrap().to_vec())
                })
                .collect()
        };
        let others = snapshot(&[1, 2, 5, 6]);
        let contiguous = pages::free_space(page);
        // Free the middle pair: nothing else moves, its bytes stay, its line pointers are dead.
        slots::free(page, 3);
        slots::free(page, 4);
        assert_eq!(snapshot(&[1, 2, 5, 6]), others);
        assert_eq!(pages::item(page, 3), None);
        assert_eq!(lp(3).0, pg_sys::LP_DEAD);
        assert_eq!(pages::free_space(page), contiguous);
        assert_eq!(slots::reusable(page), contiguous + 104 + 64);
        assert_eq!(slots::layout_problem(page), None);
        // A pair of the same sizes goes back into the freed bytes, under lines 3 and 4.
        let mut got = slots::place(page, &[&[7u8; 100][..], &[8u8; 60][..]]).unwrap();
        assert_eq!(pages::item(page, got[0]).unwrap(), &[7u8; 100][..]);
        assert_eq!(pages::item(page, got[1]).unwrap(), &[8u8; 60][..]);
        got.sort_unstable();
        assert_eq!(got, vec![3, 4]);
        assert_eq!(pages::free_space(page), contiguous);
        assert_eq!(snapshot(&[1, 2, 5, 6]), others);
        assert_eq!(slots::layout_problem(page), None);
        // Free the first two pairs (side by side): one run of 2 x 168 bytes takes a 300-byte
        // tuple, leaving 32 bytes described by one dead line pointer and two unused ones.
        for off in 1..=4 {
            slots::free(page, off);
        }
        let kept = snapshot(&[5, 6]);
        assert_eq!(slots::reusable(page), contiguous + 2 * (104 + 64));
        assert!(slots::fits(page, &[300]));
        let big = slots::place(page, &[&[9u8; 300][..]]).unwrap();
        assert_eq!(pages::item(page, big[0]).unwrap(), &[9u8; 300][..]);
        assert_eq!(pages::free_space(page), contiguous);
        assert_eq!(slots::reusable(page), contiguous + 32);
        assert_eq!(
            (1..=4).filter(|&o| lp(o).0 == pg_sys::LP_UNUSED).count(),
            2,
            "spare line pointers become unused"
        );
        assert_eq!(snapshot(&[5, 6]), kept);
        assert_eq!(slots::layout_problem(page), None);
        // A tuple larger than any run and than the contiguous space does not fit, and placing
        // it changes nothing.
        assert!(!slots::fits(page, &[contiguous + 8]));
        assert_eq!(slots::place(page, &[&vec![1u8; contiguous + 8][..]]), None);
        // The layout check reports an item moved onto another.
        let (_, at6, _) = lp(6);
        // SAFETY: item 5 is one of the page's line pointers.
        unsafe { (*pg_sys::PageGetItemId(page, 5)).set_lp_off(at6 + 8) };
        let problem = slots::layout_problem(page).expect("an overlap");
        assert!(problem.contains("overlap"), "{problem}");
    }
}
