use super::format::*;
use super::kmeans::{assign_all, KMeans};
use super::pq::{split, PqTrainer};
use super::search::{Kind, QueryScorer};
use super::train::{encode_all, prepare, Training};
use super::*;
use crate::distance::Metric;

/// `n` rows of `dims` floats around `clusters` seeded centres.
fn data(n: usize, dims: usize, clusters: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let gauss = |rng: &mut Rng| {
        let (u, v) = (rng.uniform().max(1e-12), rng.uniform());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    };
    let centres: Vec<f32> = (0..clusters * dims)
        .map(|_| 4.0 * gauss(&mut rng))
        .collect();
    let mut out = Vec::with_capacity(n * dims);
    for _ in 0..n {
        let c = (rng.next_u64() % clusters as u64) as usize;
        for j in 0..dims {
            out.push(centres[c * dims + j] + gauss(&mut rng));
        }
    }
    out
}

#[test]
fn kmeans_finds_separated_clusters() {
    let dims = 8;
    let x = data(2000, dims, 5, 1);
    let km = KMeans::new(x.clone(), dims, 5, 7, 20);
    let c = km.run();
    assert_eq!(c.len(), 5 * dims);
    let a = assign_all(&x, dims, &c);
    let mut sizes = [0usize; 5];
    for l in &a {
        sizes[*l as usize] += 1;
    }
    // Five well separated clusters of ~400: k-means++ finds each.
    assert!(sizes.iter().all(|s| *s > 250), "{sizes:?}");
}

#[test]
fn kmeans_with_fewer_points_than_k_and_duplicates() {
    let x = vec![1.0, 1.0, 1.0, 1.0, 2.0, 2.0];
    let c = KMeans::new(x, 2, 5, 1, 5).run();
    assert_eq!(c.len(), 10);
    assert!(c.iter().all(|v| v.is_finite()));
}

#[test]
fn split_spreads_uneven_dimensions() {
    assert_eq!(split(10, 4), vec![0, 3, 6, 8, 10]);
    assert_eq!(split(8, 8), (0..=8).collect::<Vec<u32>>());
    assert_eq!(split(5, 1), vec![0, 5]);
}

#[test]
fn pq_reconstructs_and_adc_matches_decoded_distance() {
    for (dims, m, bits) in [(16, 4, 8), (10, 3, 8), (12, 6, 4), (7, 7, 4)] {
        let x = data(1500, dims, 10, 3);
        let pq = PqTrainer::new(x.clone(), dims, m, bits, 10, 5).finish();
        assert_eq!(pq.codebooks.len(), (1 << bits) * dims);
        let mut code = vec![0u8; pq.code_len()];
        let (mut err, mut norm) = (0f64, 0f64);
        let q: Vec<f32> = x[..dims].iter().map(|v| v + 0.5).collect();
        let mut table = Vec::new();
        pq.table_l2(&q, &mut table);
        let mut dtable = Vec::new();
        pq.table_dot(&q, 1.0, &mut dtable);
        for row in x.chunks_exact(dims).take(300) {
            pq.encode(row, &mut code);
            let back = pq.decode(&code);
            err += crate::distance::l2_squared(row, &back);
            norm += crate::distance::dot(row, row);
            let exact = crate::distance::l2_squared(&q, &back) as f32;
            let approx = pq.adc(&table, &code);
            assert!(
                (exact - approx).abs() <= 1e-3 * exact.max(1.0),
                "{exact} vs {approx}"
            );
            let ip = -(crate::distance::dot(&q, &back) as f32);
            assert!((ip - pq.adc(&dtable, &code)).abs() <= 1e-3 * ip.abs().max(1.0));
        }
        // Quantization keeps most of the signal.
        assert!(
            err < 0.25 * norm,
            "dims {dims} m {m} bits {bits}: error {err} of {norm}"
        );
    }
}

/// The L2 score (list constant + stored term + one inner-product table per query) is the
/// squared distance from the query to the decoded vector, like a per-list residual table.
#[test]
fn l2_term_score_is_distance_to_decoded_vector() {
    for bits in [8u8, 4] {
        let (n, dims) = (2000, 12);
        let x = data(n, dims, 8, 21);
        let quant = Training::new(x.clone(), dims, 8, 5, bits, 3).finish();
        let len = quant.pq.code_len() + Kind::L2.term_len();
        let (lists, codes) = encode_all(&quant, &x, Kind::L2);
        let q: Vec<f32> = x[dims..2 * dims].iter().map(|v| v * 0.9 + 0.3).collect();
        let mut s = QueryScorer::new(Kind::L2, false, &q, &quant);
        let mut table = Vec::new();
        for (i, code) in codes.chunks_exact(len).enumerate().take(400) {
            let l = lists[i] as usize;
            s.enter_list(&quant, l as u32);
            let c = &quant.centroids[l * dims..(l + 1) * dims];
            let back: Vec<f32> = quant
                .pq
                .decode(&code[..quant.pq.code_len()])
                .iter()
                .zip(c)
                .map(|(r, c)| r + c)
                .collect();
            let exact = crate::distance::l2_squared(&q, &back) as f32;
            let got = s.score(&quant, code);
            // The term is a bf16: within 1/256 of the f32 term.
            let term = quant.pq.l2_term(c, &code[..quant.pq.code_len()]);
            let tol = 1e-3 * exact.max(1.0) + term.abs() / 256.0;
            assert!((exact - got).abs() <= tol, "bits {bits}: {exact} vs {got}");
            // The per-list residual table gives the same.
            let r: Vec<f32> = q.iter().zip(c).map(|(a, b)| a - b).collect();
            quant.pq.table_l2(&r, &mut table);
            let per_list = quant.pq.adc(&table, &code[..quant.pq.code_len()]);
            assert!((per_list - got).abs() <= tol);
        }
    }
}

fn recall(metric: Metric, bits: u8) -> f64 {
    let (n, dims, k) = (4000, 32, 10);
    let x = data(n, dims, 20, 11);
    let (kind, normalize) = Kind::of(metric).unwrap();
    let prepared: Vec<f32> = x
        .chunks_exact(dims)
        .flat_map(|r| prepare(normalize, r))
        .collect();
    let quant = Training::new(prepared.clone(), dims, 40, default_pq_m(dims), bits, 9).finish();
    let (lists, codes) = encode_all(&quant, &prepared, kind);
    let len = quant.pq.code_len() + kind.term_len();
    let queries = data(50, dims, 20, 12);
    let mut hits = 0;
    for q in queries.chunks_exact(dims) {
        let mut truth: Vec<(f64, usize)> = x
            .chunks_exact(dims)
            .enumerate()
            .map(|(i, r)| (metric.distance(q, r), i))
            .collect();
        truth.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut s = QueryScorer::new(kind, normalize, q, &quant);
        let order = s.rank_lists(&quant);
        let probes = quant.lists / 4;
        let mut cands = Vec::new();
        for &l in &order[..probes] {
            s.enter_list(&quant, l);
            for (i, _) in lists.iter().enumerate().filter(|(_, li)| **li == l) {
                cands.push((s.score(&quant, &codes[i * len..(i + 1) * len]), i));
            }
        }
        cands.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut reranked: Vec<(f64, usize)> = cands
            .iter()
            .take(4 * k)
            .map(|(_, i)| (metric.distance(q, &x[i * dims..(i + 1) * dims]), *i))
            .collect();
        reranked.sort_by(|a, b| a.0.total_cmp(&b.0));
        let top: std::collections::HashSet<usize> = truth[..k].iter().map(|t| t.1).collect();
        hits += reranked
            .iter()
            .take(k)
            .filter(|r| top.contains(&r.1))
            .count();
    }
    hits as f64 / (50 * k) as f64
}

#[test]
fn ivfpq_recall_with_rerank() {
    for (metric, bits, floor) in [
        (Metric::L2, 8, 0.9),
        (Metric::Cosine, 8, 0.9),
        (Metric::InnerProduct, 8, 0.85),
        (Metric::L2, 4, 0.8),
    ] {
        let r = recall(metric, bits);
        assert!(r >= floor, "{metric:?} {bits} bits: recall {r}");
    }
}

#[test]
fn formats_round_trip_and_reject_garbage() {
    let m = Meta {
        dims: 128,
        metric: 0,
        lists: 100,
        pq_m: 32,
        pq_bits: 8,
        trained: 1,
        quantizer_first: 1,
        quantizer_pages: 10,
        quantizer_len: 70000,
        dir_first: 11,
        dir_pages: 1,
        build_id: 5,
        group: 4,
    };
    let b = m.encode();
    assert_eq!(b.len(), META_LEN);
    assert_eq!(Meta::decode(&b), Ok(m));
    assert!(Meta::decode(&b[..10]).is_err());
    let mut bad = b.clone();
    bad[0] ^= 1;
    assert!(Meta::decode(&bad).is_err());
    let mut bad = b.clone();
    bad[4] = 9;
    assert!(Meta::decode(&bad).is_err());
    let d = DirEntry {
        first: 3,
        last: 9,
        chain_first: 20,
        chain_last: 31,
        hint: 4,
        count: 77,
    };
    let mut buf = [0u8; DIR_ENTRY_LEN];
    d.encode(&mut buf);
    assert_eq!(DirEntry::decode(&buf), Ok(d));
    // A range or chain with one end missing, or a range backwards, is rejected.
    for bad in [
        DirEntry {
            last: NO_BLOCK,
            ..d
        },
        DirEntry { first: 10, ..d },
        DirEntry {
            chain_last: NO_BLOCK,
            ..d
        },
    ] {
        bad.encode(&mut buf);
        assert!(DirEntry::decode(&buf).is_err(), "{bad:?}");
    }
    let x = data(300, 8, 3, 2);
    let q = Training::new(x, 8, 4, 2, 8, 1).finish();
    let bytes = q.to_bytes();
    assert_eq!(Quantizer::from_bytes(&bytes), Ok(q.clone()));
    // Random and truncated bytes never panic.
    let mut rng = Rng::new(4);
    for len in [0usize, 1, 7, 100, bytes.len() - 1] {
        assert!(Quantizer::from_bytes(&bytes[..len]).is_err());
    }
    for _ in 0..2000 {
        let mut b = bytes.clone();
        for _ in 0..4 {
            let i = (rng.next_u64() % b.len() as u64) as usize;
            b[i] = rng.next_u64() as u8;
        }
        let _ = Quantizer::from_bytes(&b);
        let mut mb = m.encode();
        let i = (rng.next_u64() % mb.len() as u64) as usize;
        mb[i] = rng.next_u64() as u8;
        let _ = Meta::decode(&mb);
    }
}

/// The page order of a list: its packed range, then its growth chain, following `next` links.
#[test]
fn list_walk_order() {
    let walk = |d: &DirEntry, links: &[(u32, u32)]| {
        let next = |b: u32| links.iter().find(|l| l.0 == b).map_or(NO_BLOCK, |l| l.1);
        let mut out = Vec::new();
        let mut b = d.start(d.chain_first);
        while b != NO_BLOCK && out.len() < 20 {
            out.push(b);
            b = d.after(b, next(b), d.chain_first);
        }
        out
    };
    let both = DirEntry {
        first: 5,
        last: 7,
        chain_first: 12,
        chain_last: 15,
        hint: 6,
        count: 9,
    };
    assert_eq!(walk(&both, &[(12, 15)]), vec![5, 6, 7, 12, 15]);
    // Range pages ignore their `next` field: a shared page's link is nobody's.
    assert_eq!(walk(&both, &[(5, 99), (12, 15)]), vec![5, 6, 7, 12, 15]);
    let range_only = DirEntry {
        chain_first: NO_BLOCK,
        chain_last: NO_BLOCK,
        ..both
    };
    assert_eq!(walk(&range_only, &[]), vec![5, 6, 7]);
    let grown_from_empty = DirEntry {
        first: NO_BLOCK,
        last: NO_BLOCK,
        ..both
    };
    assert_eq!(walk(&grown_from_empty, &[(12, 15)]), vec![12, 15]);
    assert_eq!(walk(&DirEntry::default(), &[]), Vec::<u32>::new());
    assert!(both.in_range(7) && !both.in_range(12) && !both.in_range(4));
    let mut e = [0u8; HEADER_LEN + 2];
    encode_header(
        Tid {
            block: 7,
            offset: 3,
        },
        32_767,
        &mut e,
    );
    assert_eq!(decode_tag(&e), 32_767);
    assert_eq!(
        decode_tid(&e),
        Tid {
            block: 7,
            offset: 3
        }
    );
}

#[test]
fn compaction_keeps_live_entries_in_order() {
    let entry = TID_LEN + 3;
    let mut bytes = Vec::new();
    for i in 0..10u32 {
        let mut e = vec![0u8; entry];
        encode_tid(
            Tid {
                block: i,
                offset: 1,
            },
            &mut e,
        );
        e[TID_LEN] = i as u8;
        bytes.extend_from_slice(&e);
    }
    let len = compact_entries(&mut bytes, entry, |_, t| t.block % 3 == 0);
    assert_eq!(len, 6 * entry);
    let kept: Vec<u32> = bytes[..len]
        .chunks_exact(entry)
        .map(|e| decode_tid(e).block)
        .collect();
    assert_eq!(kept, vec![1, 2, 4, 5, 7, 8]);
    assert!(bytes[..len]
        .chunks_exact(entry)
        .all(|e| e[TID_LEN] as u32 == decode_tid(e).block));
    assert_eq!(check_list_contents(len, entry), Ok(6));
    assert!(check_list_contents(len + 1, entry).is_err());
}

#[test]
fn defaults() {
    assert_eq!(default_lists(0), 1);
    assert_eq!(default_lists(10_000), 200);
    assert_eq!(default_lists(1_000), 20);
    assert_eq!(default_lists(160_000), 800);
    assert_eq!(default_lists(1_000_000), 2000);
    assert_eq!(default_lists(usize::MAX / 4), 32_768);
    assert_eq!(probes(0, 200), 28);
    assert_eq!(probes(0, 2000), 89);
    assert_eq!(probes(0, 1), 1);
    assert_eq!(probes(0, 3), 3);
    assert_eq!(probes(7, 200), 7);
    assert_eq!(probes(500, 200), 200);
    assert_eq!(default_pq_m(128), 32);
    assert_eq!(default_pq_m(25), 7);
    assert_eq!(default_pq_m(1), 1);
}

#[test]
fn transposed_nearest_matches_plain_nearest() {
    use super::kmeans::{nearest, nearest_transposed, norms, transpose};
    let mut rng = Rng::new(3);
    for (dim, k) in [(1, 16), (3, 256), (4, 256), (5, 16), (8, 256), (17, 100)] {
        let c: Vec<f32> = (0..dim * k)
            .map(|_| rng.uniform() as f32 * 10.0 - 5.0)
            .collect();
        let t = transpose(&c, dim);
        for _ in 0..200 {
            let x: Vec<f32> = (0..dim)
                .map(|_| rng.uniform() as f32 * 10.0 - 5.0)
                .collect();
            let a = nearest_transposed(&t, &norms(&c, dim), k, &x);
            let (b, db) = nearest(&c, dim, &x);
            let da = crate::distance::l2_squared(&x, &c[a * dim..(a + 1) * dim]);
            assert!(
                a == b || (da - db).abs() <= 1e-4 * db.max(1.0),
                "dim {dim} k {k}: {a} ({da}) vs {b} ({db})"
            );
        }
    }
}

#[test]
fn transposed_nearest_takes_the_first_of_equal_centroids() {
    use super::kmeans::{nearest_transposed, norms, transpose};
    let mut rng = Rng::new(5);
    for (dim, k) in [(1, 16), (4, 256), (3, 40), (5, 37)] {
        let mut c: Vec<f32> = (0..dim * k)
            .map(|_| rng.uniform() as f32 * 10.0 - 5.0)
            .collect();
        // Centroid `first` repeated at every later position `first + 7 * i` (other lanes,
        // later blocks, the tail): a query at it must get `first`.
        for first in [0, 3, k / 2] {
            for j in (first + 7..k).step_by(7) {
                let (src, dst) = (first * dim, j * dim);
                c.copy_within(src..src + dim, dst);
            }
            let t = transpose(&c, dim);
            let x = c[first * dim..(first + 1) * dim].to_vec();
            assert_eq!(
                nearest_transposed(&t, &norms(&c, dim), k, &x),
                first,
                "dim {dim} k {k}"
            );
        }
        // NaN distances are never chosen while a number is available; all NaN gives 0.
        let mut nan = c.clone();
        for v in nan.iter_mut().take((k - 1) * dim) {
            *v = f32::NAN;
        }
        let t = transpose(&nan, dim);
        let x = vec![1.0; dim];
        assert_eq!(nearest_transposed(&t, &norms(&nan, dim), k, &x), k - 1);
        let all = vec![f32::NAN; dim * k];
        let t = transpose(&all, dim);
        assert_eq!(nearest_transposed(&t, &norms(&all, dim), k, &x), 0);
    }
}

/// The matrix-product assignment (long vectors) picks a nearest centroid: its distance equals
/// the brute-force minimum up to rounding, on blocks of every size (n not a multiple of the
/// block) and for k not a multiple of anything.
#[test]
fn assign_all_by_matrix_product_finds_nearest() {
    for (n, dims, k) in [(1, 32, 1), (300, 40, 37), (1000, 128, 200), (129, 64, 3)] {
        let x = data(n, dims, 10, 31);
        let centroids = data(k, dims, 10, 32);
        let got = super::kmeans::assign_all(&x, dims, &centroids);
        assert_eq!(got.len(), n);
        for (i, row) in x.chunks_exact(dims).enumerate() {
            let (_, best) = super::kmeans::nearest(&centroids, dims, row);
            let c = got[i] as usize;
            let d = crate::distance::l2_squared(row, &centroids[c * dims..(c + 1) * dims]);
            assert!(d <= best + 1e-4 * best.max(1.0), "row {i}: {d} vs {best}");
        }
    }
}

#[test]
fn hamerly_bounds_give_the_plain_assignment() {
    use super::hamerly::Bounds;
    use super::kmeans::assign_all;
    let mut rng = Rng::new(11);
    let (n, dim, k) = (3_000, 40, 30);
    let data: Vec<f32> = (0..n * dim)
        .map(|i| ((i / dim) % 7) as f32 + rng.uniform() as f32)
        .collect();
    let mut centroids: Vec<f32> = (0..k * dim).map(|_| rng.uniform() as f32 * 7.0).collect();
    let (mut bounds, mut assign) = Bounds::new(&data, dim, &centroids);
    assert_eq!(assign, assign_all(&data, dim, &centroids));
    for round in 0..12 {
        // Shrinking moves (as Lloyd's), one centroid jumping far every third round.
        let old = centroids.clone();
        let step = 0.5 / (round + 1) as f32;
        for v in centroids.iter_mut() {
            *v += (rng.uniform() as f32 - 0.5) * step;
        }
        if round % 3 == 0 {
            let j = round % k;
            for v in &mut centroids[j * dim..(j + 1) * dim] {
                *v = rng.uniform() as f32 * 7.0;
            }
        }
        let before = assign.clone();
        let moved = bounds.reassign(&data, dim, &old, &centroids, &mut assign);
        let plain = assign_all(&data, dim, &centroids);
        assert_eq!(assign, plain, "round {round}");
        let changed = before.iter().zip(&plain).filter(|(a, b)| a != b).count();
        assert_eq!(moved, changed, "round {round}");
    }
}

#[test]
fn wide_and_narrow_subspaces_train_the_same_codebooks_as_their_kmeans() {
    use super::kmeans::KMeans;
    use super::pq::{PqStep, PqTrainer};
    let mut rng = Rng::new(21);
    for (dims, m) in [(64, 2), (24, 6)] {
        let n = 600;
        let data: Vec<f32> = (0..n * dims).map(|_| rng.uniform() as f32).collect();
        let mut t = PqTrainer::new(data.clone(), dims, m, 8, 4, 9);
        let mut steps = 0;
        while t.step() != PqStep::Done {
            steps += 1;
        }
        // Wide sub-spaces step their k-means one iteration per call; narrow ones go in batches.
        if dims / m >= super::pq::WIDE {
            assert!(steps > m, "{steps} steps");
        } else {
            assert!(steps < m, "{steps} steps");
        }
        let pq = t.finish();
        let w = dims / m;
        for s in 0..m {
            let sub: Vec<f32> = data
                .chunks_exact(dims)
                .flat_map(|x| x[s * w..(s + 1) * w].iter().copied())
                .collect();
            let mut c = KMeans::new(sub, w, 256, 9 ^ ((s as u64 + 1) * 0x9e37), 4)
                .random_init()
                .run();
            super::bf16::round_all(&mut c);
            assert_eq!(
                &pq.codebooks[256 * s * w..256 * (s + 1) * w],
                &c[..],
                "sub-space {s}"
            );
        }
    }
}
